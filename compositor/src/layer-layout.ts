import type { Rect } from '@waydesk/native-compositor';

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

/** Position and size along one axis: stretched when anchored to both edges with no size, else against the anchored edge, else centred. */
function axis(anchor: number, lo: number, hi: number, start: number, extent: number, size: number, marginLo: number, marginHi: number): [number, number] {
  const toLo = (anchor & lo) !== 0;
  const toHi = (anchor & hi) !== 0;
  if (toLo && toHi && size === 0) return [start + marginLo, extent - marginLo - marginHi];
  if (toLo) return [start + marginLo, size];
  if (toHi) return [start + extent - size - marginHi, size];
  return [start + Math.floor((extent - size) / 2), size];
}

function place(spec: LayerSpec, bounds: Rect): Rect {
  const { anchor, margin } = spec;
  const [x, width] = axis(anchor, Anchor.Left, Anchor.Right, bounds.x, bounds.width, spec.desiredWidth, margin.left, margin.right);
  const [y, height] = axis(anchor, Anchor.Top, Anchor.Bottom, bounds.y, bounds.height, spec.desiredHeight, margin.top, margin.bottom);
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
