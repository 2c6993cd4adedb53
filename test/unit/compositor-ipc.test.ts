import { describe, expect, it } from 'vitest';
import {
  IpcProtocolError,
  MAX_CONTROL_BYTES,
  MessageReader,
  MsgType,
  decodeCompositorMessage,
  decodeParentMessage,
  encodeCompositorMessage,
  encodeParentMessage,
  type ParentMessage,
} from '@waydesk/protocol/compositor-ipc';
import { Codec, decodeFrameBody, encodeFrameBody, type CodecId } from '@waydesk/protocol/frame-format';

function roundtripParent(m: ParentMessage): ParentMessage {
  const r = new MessageReader(MAX_CONTROL_BYTES);
  const [msg] = r.push(encodeParentMessage(m));
  return decodeParentMessage(msg!.type, msg!.payload);
}

describe('compositor link protocol', () => {
  it('round-trips every parent message', () => {
    const all: ParentMessage[] = [
      { type: 'frame-ack', seq: 65535 },
      { type: 'trace', on: true },
      { type: 'key', code: 30, pressed: true },
      { type: 'pointer-motion', x: 12.5, y: 1079 },
      { type: 'pointer-button', button: 0x110, pressed: false },
      { type: 'pointer-axis', horizontal: false, delta: -15, discrete: -1 },
      { type: 'detached' },
      { type: 'resize', width: 1280, height: 720, refreshMhz: 60000 },
      { type: 'keymap', keymap: { layout: 'de', variant: 'nodeadkeys' } },
      { type: 'request-full' },
      { type: 'request-stats' },
    ];
    for (const m of all) expect(roundtripParent(m)).toEqual(m);
  });

  it('round-trips a frame, payload and rectangles intact', () => {
    const payload = Buffer.alloc(300);
    for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
    const parts = encodeCompositorMessage({
      type: 'frame',
      body: {
        seq: 7,
        width: 100,
        height: 50,
        full: false,
        keyframe: true,
        codec: Codec.H264,
        rects: Int32Array.from([0, 0, 4, 2, 97, 49, 3, 1]),
        video: { x: 0, y: 0, width: 100, height: 50 },
        trace: { inputUs: 1000, deliveredUs: 1200, commitUs: 1500, composeUs: 1600, captureUs: 2500, sentUs: 2600 },
        payload,
      },
    });
    const r = new MessageReader(1 << 20);
    // delivered in awkward pieces, as a socket may
    const bytes = Buffer.concat(parts);
    const out = [...r.push(bytes.subarray(0, 3)), ...r.push(bytes.subarray(3, 50)), ...r.push(bytes.subarray(50))];
    expect(out).toHaveLength(1);
    const m = decodeCompositorMessage(out[0]!.type, out[0]!.payload);
    expect(m.type).toBe('frame');
    if (m.type !== 'frame') return;
    expect([...m.body.rects]).toEqual([0, 0, 4, 2, 97, 49, 3, 1]);
    expect(Buffer.compare(Buffer.from(m.body.payload), payload)).toBe(0);
    expect(m.body).toMatchObject({ seq: 7, width: 100, height: 50, full: false, keyframe: true, codec: Codec.H264 });
    expect(m.body.trace).toEqual({ inputUs: 1000, deliveredUs: 1200, commitUs: 1500, composeUs: 1600, captureUs: 2500, sentUs: 2600 });
    expect(m.body.video).toEqual({ x: 0, y: 0, width: 100, height: 50 });
  });

  it("refuses an H.264 frame whose video box is missing, misplaced, or does not hold its rectangles", () => {
    const frame = (video: { x: number; y: number; width: number; height: number }, rects: number[]): Uint8Array =>
      Buffer.concat(encodeFrameBody({ seq: 1, width: 640, height: 360, full: false, keyframe: false, codec: Codec.H264, rects: Int32Array.from(rects), video, payload: Buffer.alloc(4) }));
    const ok = decodeFrameBody(frame({ x: 160, y: 96, width: 320, height: 176 }, [170, 100, 50, 40]));
    expect(typeof ok === 'string' ? ok : ok.video).toEqual({ x: 160, y: 96, width: 320, height: 176 });
    expect(decodeFrameBody(frame({ x: 160, y: 96, width: 320, height: 176 }, [10, 100, 50, 40]))).toMatch(/outside the video box/);
    expect(decodeFrameBody(frame({ x: 400, y: 0, width: 320, height: 176 }, [410, 10, 5, 5]))).toMatch(/does not fit/);
    expect(decodeFrameBody(frame({ x: 1, y: 0, width: 320, height: 176 }, [10, 10, 5, 5]))).toMatch(/does not fit/);
    // an H.264 frame cut short where its box should be
    const whole = frame({ x: 0, y: 0, width: 640, height: 360 }, [0, 0, 640, 360]);
    expect(decodeFrameBody(whole.subarray(0, whole.length - 4 - 4))).toMatch(/truncated video box/);
    expect(() => encodeFrameBody({ seq: 1, width: 64, height: 64, full: false, keyframe: false, codec: Codec.H264, rects: Int32Array.of(0, 0, 8, 8), payload: Buffer.alloc(1) })).toThrow(/video box/);
  });

  it('rejects malformed input with a reason', () => {
    const bad: Array<[number, Buffer, RegExp]> = [
      [MsgType.Key, Buffer.alloc(3), /key: expected 5 bytes/],
      [MsgType.Key, Buffer.from([0, 0, 0, 0, 1]), /evdev code 0/],
      [MsgType.PointerMotion, Buffer.alloc(16, 0xff), /finite/],
      [MsgType.PointerButton, Buffer.from([1, 0, 0, 0, 1]), /not a button code/],
      [MsgType.Resize, Buffer.from(new Uint32Array([100000, 100, 60000]).buffer), /outside 64x64/],
      [MsgType.Keymap, Buffer.from('{"layout":'), /not valid JSON/],
      [MsgType.Keymap, Buffer.from('{"layout":5}'), /'layout' must be a string/],
      [99, Buffer.alloc(0), /unknown message type 99/],
    ];
    for (const [type, payload, re] of bad) expect(() => decodeParentMessage(type, payload)).toThrow(re);
  });

  it('refuses a length beyond the bound before buffering it', () => {
    const r = new MessageReader(MAX_CONTROL_BYTES);
    const huge = Buffer.alloc(5);
    huge.writeUInt32LE(0x7fffffff, 0);
    expect(() => r.push(huge)).toThrow(IpcProtocolError);
    expect(() => new MessageReader(10).push(Buffer.from([0, 0, 0, 0]))).toThrow(/outside 1\.\.10/);
  });

  it('rejects a frame whose rectangles leave the output or whose codec is unknown', () => {
    const frame = (rects: number[], codec: number): Buffer =>
      Buffer.concat(
        encodeCompositorMessage({
          type: 'frame',
          body: {
            seq: 1, width: 10, height: 10, full: false, keyframe: false,
            codec: codec as CodecId, rects: Int32Array.from(rects), payload: Buffer.alloc(8),
          },
        }),
      ).subarray(5);
    expect(() => decodeCompositorMessage(MsgType.Frame, frame([8, 8, 4, 4], Codec.Tiles))).toThrow(/outside the output/);
    expect(() => decodeCompositorMessage(MsgType.Frame, frame([0, 0, 2, 2], 9))).toThrow(/unknown codec 9/);
  });


  it('answers every truncated or random frame header with a reason, never a throw or a huge allocation', () => {
    const good = Buffer.concat(
      encodeFrameBody({
        seq: 65535, width: 1920, height: 1080, full: false, keyframe: false, codec: Codec.Tiles,
        rects: Int32Array.from([1900, 1000, 20, 80, 0, 0, 300, 200]), payload: Buffer.alloc(4, 1),
        trace: { inputUs: 1, deliveredUs: 2, commitUs: 3, composeUs: 4, captureUs: 10, sentUs: 11 },
      }),
    );
    expect(decodeFrameBody(good)).toMatchObject({ seq: 65535, width: 1920, height: 1080 });
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const b = i < good.length ? good.subarray(0, i) : Buffer.from(good);
      if (i >= good.length) for (let k = 0; k < 3; k++) b[rnd() % b.length] = rnd();
      const r = decodeFrameBody(i % 3 === 0 && i >= good.length ? Buffer.from(Array.from({ length: rnd() % 64 }, rnd)) : b);
      if (typeof r === 'string') refused++;
      else expect(r.rects.length).toBeLessThanOrEqual(b.length * 4);
    }
    expect(refused).toBeGreaterThan(5_000);
  });
});
