import { describe, expect, it } from 'vitest';
import { Anchor, arrangeLayers, type LayerSpec } from '../../compositor/src/layer-layout.js';

const output = { x: 0, y: 0, width: 1920, height: 1080 };
const m0 = { top: 0, right: 0, bottom: 0, left: 0 };
const spec = (s: Partial<LayerSpec> & { id: number }): LayerSpec => ({
  layer: 2,
  anchor: 0,
  exclusiveZone: 0,
  margin: m0,
  desiredWidth: 0,
  desiredHeight: 0,
  ...s,
});

describe('layer-shell arrangement', () => {
  it('gives a top panel its strip and the windows the rest', () => {
    const { boxes, usable } = arrangeLayers(output, [
      spec({ id: 1, anchor: Anchor.Top | Anchor.Left | Anchor.Right, desiredHeight: 30, exclusiveZone: 30 }),
    ]);
    expect(boxes.get(1)).toEqual({ x: 0, y: 0, width: 1920, height: 30 });
    expect(usable).toEqual({ x: 0, y: 30, width: 1920, height: 1050 });
  });

  it('stacks a bottom and a left panel, honouring margins', () => {
    const { boxes, usable } = arrangeLayers(output, [
      spec({ id: 1, anchor: Anchor.Bottom | Anchor.Left | Anchor.Right, desiredHeight: 40, exclusiveZone: 40, margin: { ...m0, bottom: 5 } }),
      spec({ id: 2, anchor: Anchor.Left | Anchor.Top | Anchor.Bottom, desiredWidth: 60, exclusiveZone: 60 }),
    ]);
    expect(boxes.get(1)).toEqual({ x: 0, y: 1035, width: 1920, height: 40 });
    expect(boxes.get(2)).toEqual({ x: 0, y: 0, width: 60, height: 1035 });
    expect(usable).toEqual({ x: 60, y: 0, width: 1860, height: 1035 });
  });

  it('covers the whole output with a wallpaper (zone -1) and centres an unanchored surface', () => {
    const { boxes } = arrangeLayers(output, [
      spec({ id: 1, layer: 0, anchor: 15, exclusiveZone: -1 }),
      spec({ id: 2, anchor: Anchor.Top | Anchor.Left | Anchor.Right, desiredHeight: 30, exclusiveZone: 30 }),
      spec({ id: 3, desiredWidth: 400, desiredHeight: 300 }),
    ]);
    expect(boxes.get(1)).toEqual(output);
    // the launcher is centred in what the panel left
    expect(boxes.get(3)).toEqual({ x: 760, y: 30 + 375, width: 400, height: 300 });
  });
});
