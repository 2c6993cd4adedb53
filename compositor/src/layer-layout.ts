import type { Rect } from '@waydesk/native/compositor';

/** wlr-layer-shell anchor bits. */
export const Anchor = { Top: 1, Bottom: 2, Left: 4, Right: 8 } as const;

export interface LayerSpec {
  id: number;
  layer: number;
  anchor: number;
  exclusiveZone: number;
  margin: { top: number; right: number; bottom: number; left: number };
  desiredWidth: number;
  desiredHeight: number;
}

export interface LayerArrangement {
  boxes: Map<number, Rect>;
  /** What is left for windows once panels took their exclusive zones. */
  usable: Rect;
}

function place(spec: LayerSpec, bounds: Rect): Rect {
  const { anchor, margin } = spec;
  const both = (a: number, b: number): boolean => (anchor & a) !== 0 && (anchor & b) !== 0;
  let width = spec.desiredWidth;
  let height = spec.desiredHeight;
  let x: number;
  let y: number;
  if (both(Anchor.Left, Anchor.Right) && width === 0) {
    x = bounds.x + margin.left;
    width = bounds.width - margin.left - margin.right;
  } else if (anchor & Anchor.Left) {
    x = bounds.x + margin.left;
  } else if (anchor & Anchor.Right) {
    x = bounds.x + bounds.width - width - margin.right;
  } else {
    x = bounds.x + Math.floor((bounds.width - width) / 2);
  }
  if (both(Anchor.Top, Anchor.Bottom) && height === 0) {
    y = bounds.y + margin.top;
    height = bounds.height - margin.top - margin.bottom;
  } else if (anchor & Anchor.Top) {
    y = bounds.y + margin.top;
  } else if (anchor & Anchor.Bottom) {
    y = bounds.y + bounds.height - height - margin.bottom;
  } else {
    y = bounds.y + Math.floor((bounds.height - height) / 2);
  }
  return { x, y, width: Math.max(1, width), height: Math.max(1, height) };
}

/** Shrinks `usable` by a panel's exclusive zone on the one edge it is attached to. */
function exclude(spec: LayerSpec, usable: Rect): Rect {
  const a = spec.anchor;
  const z = spec.exclusiveZone;
  const u = { ...usable };
  const horizontalBar = (a & Anchor.Left) !== 0 && (a & Anchor.Right) !== 0;
  const verticalBar = (a & Anchor.Top) !== 0 && (a & Anchor.Bottom) !== 0;
  if (a & Anchor.Top && !(a & Anchor.Bottom) && (horizontalBar || a === Anchor.Top)) {
    const d = z + spec.margin.top;
    u.y += d;
    u.height -= d;
  } else if (a & Anchor.Bottom && !(a & Anchor.Top) && (horizontalBar || a === Anchor.Bottom)) {
    u.height -= z + spec.margin.bottom;
  } else if (a & Anchor.Left && !(a & Anchor.Right) && (verticalBar || a === Anchor.Left)) {
    const d = z + spec.margin.left;
    u.x += d;
    u.width -= d;
  } else if (a & Anchor.Right && !(a & Anchor.Left) && (verticalBar || a === Anchor.Right)) {
    u.width -= z + spec.margin.right;
  }
  return u;
}

/**
 * Places layer surfaces the way wlroots compositors do: panels with an exclusive zone
 * first (top layers before lower ones), each shrinking the area left; then the others
 * inside what is left, or over the whole output when their zone is -1.
 */
export function arrangeLayers(output: Rect, specs: LayerSpec[]): LayerArrangement {
  const boxes = new Map<number, Rect>();
  let usable: Rect = { ...output };
  const byLayerDesc = [...specs].sort((a, b) => b.layer - a.layer || a.id - b.id);
  for (const s of byLayerDesc) {
    if (s.exclusiveZone <= 0) continue;
    boxes.set(s.id, place(s, usable));
    usable = exclude(s, usable);
  }
  for (const s of byLayerDesc) {
    if (s.exclusiveZone > 0) continue;
    boxes.set(s.id, place(s, s.exclusiveZone === -1 ? output : usable));
  }
  if (usable.width < 1 || usable.height < 1) usable = { ...output };
  return { boxes, usable };
}
