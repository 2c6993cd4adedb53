// The one typed wrapper over the codec bindings: waydesk_h264enc (the server's H.264 encoder,
// libavcodec) and waydesk_codec (zstd tiles and the openh264 decoder, what a terminal needs).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_OUTPUT } from '@waydesk/protocol/limits';
import { TILE_WINDOW_LOG } from '@waydesk/protocol/frame-format';

export interface EncoderOptions {
  width: number;
  height: number;
  fps: number;
  /** x264 constant-quality factor; 23 keeps text readable while it moves. */
  crf: number;
  /** VBV cap in kbit/s (0: none). */
  maxKbps: number;
  intraRefresh: boolean;
  preset: 'ultrafast' | 'superfast';
  /** A DRM render node to encode on with VAAPI; omit for x264. */
  vaapiDevice?: string;
}

interface RawEncoder {
  encode(
    frame: Buffer,
    rects: Int32Array | null,
    keyframe: boolean,
    atUs: number | undefined,
    x: number,
    y: number,
    frameWidth: number,
  ): { data: Buffer; keyframe: boolean };
  name(): string;
  close(): void;
}
interface RawDecoder {
  decode(packet: Uint8Array, dst: Buffer, width: number, height: number, rects: Int32Array | null, box?: Int32Array): void;
  close(): void;
}
interface RawTiler {
  shrink(cur: Buffer, prev: Buffer, fbWidth: number, fbHeight: number, rects: Int32Array): Int32Array;
  encode(cur: Buffer, fbWidth: number, fbHeight: number, rects: Int32Array, restart: boolean): Buffer;
  decode(data: Uint8Array, fb: Buffer, fbWidth: number, fbHeight: number, rects: Int32Array): boolean;
}
/** The server's addon: the H.264 encoder, linking libavcodec. */
interface EncoderBinding {
  Encoder: new (o: EncoderOptions & { maxWidth: number; maxHeight: number }) => RawEncoder;
}
/** Both sides' addon: tiles and the H.264 decoder (openh264), small enough for a netboot image. */
interface CodecBinding {
  Decoder: new () => RawDecoder;
  Tiler: new (windowLog: number) => RawTiler;
}

const bindings = new Map<string, unknown>();
function load<T>(name: 'waydesk_codec' | 'waydesk_h264enc'): T {
  const loaded = bindings.get(name);
  if (loaded) return loaded as T;
  // dist/../build/Release: the netboot image keeps that layout for its bundled program too
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', `${name}.node`);
  let b: T;
  try {
    b = createRequire(import.meta.url)(file) as T;
  } catch (err) {
    throw new Error(`cannot load the codec addon (${file}): ${(err as Error).message}. Build it with \`npm run build\`.`);
  }
  bindings.set(name, b);
  return b;
}

/** Loads the addon now (before dropping privileges). */
export function preloadCodecBinding(): void {
  load('waydesk_codec');
  load('waydesk_h264enc');
}

/** Where an encoder's picture sits in a bigger BGRX frame (a window's video on the desktop). */
export interface Placement {
  x: number;
  y: number;
  frameWidth: number;
}

/**
 * H.264 encoder over a BGRX picture of its size, or over its part of a bigger frame; only the
 * given rectangles are converted to YUV.
 */
export class H264Encoder {
  readonly #e: RawEncoder;
  readonly width: number;
  readonly height: number;
  constructor(o: EncoderOptions) {
    this.#e = new (load<EncoderBinding>('waydesk_h264enc').Encoder)({ ...o, maxWidth: MAX_OUTPUT.width, maxHeight: MAX_OUTPUT.height });
    this.width = o.width;
    this.height = o.height;
  }
  /** 'libx264' or 'h264_vaapi'. */
  get name(): string {
    return this.#e.name();
  }
  /**
   * `atMs`: when the picture was made (a monotonic clock), so the rate cap holds at the real
   * frame rate. Leave it out for a picture the network held back: that gap is the network's
   * pace, not the picture rate, and counting it would let frames grow as the link slows.
   */
  encode(frame: Buffer, rects: Int32Array | null, keyframe: boolean, atMs?: number, at?: Placement): { data: Buffer; keyframe: boolean } {
    // rects are in the frame's coordinates; the binding wants the encoder's
    let r = rects;
    if (r && at && (at.x || at.y)) {
      r = Int32Array.from(r);
      for (let i = 0; i < r.length; i += 4) {
        r[i]! -= at.x;
        r[i + 1]! -= at.y;
      }
    }
    const atUs = atMs === undefined ? undefined : Math.round(atMs * 1000);
    return this.#e.encode(frame, r, keyframe, atUs, at?.x ?? 0, at?.y ?? 0, at?.frameWidth ?? this.width);
  }
  close(): void {
    this.#e.close();
  }
}

/** H.264 decoder that writes only the given rectangles of each picture into a BGRX framebuffer. */
export class H264Decoder {
  readonly #d: RawDecoder;
  constructor() {
    this.#d = new (load<CodecBinding>('waydesk_codec').Decoder)();
  }
  /**
   * `box`: the part of dst the picture covers (x, y, width, height; default all of it); the
   * rectangles are in dst's coordinates and must lie inside it.
   */
  decode(packet: Uint8Array, dst: Buffer, width: number, height: number, rects: Int32Array | null, box?: { x: number; y: number; width: number; height: number }): void {
    this.#d.decode(packet, dst, width, height, rects, box ? Int32Array.of(box.x, box.y, box.width, box.height) : undefined);
  }
  close(): void {
    this.#d.close();
  }
}

/**
 * Lossless updates: the BGR bytes of the rectangles (short ones column by column) through one
 * zstd stream per link, flushed after each update, so what was sent lately (a glyph typed
 * again) costs a back-reference. Stateful on both sides: updates must be decoded in the order
 * they were encoded, and a receiver that missed the start must be sent a restarted stream.
 */
export class TileCodec {
  readonly #t: RawTiler;
  constructor() {
    this.#t = new (load<CodecBinding>('waydesk_codec').Tiler)(TILE_WINDOW_LOG);
  }
  /** The rectangles cut down to the pixels that differ between cur and prev (none: empty). */
  shrink(cur: Buffer, prev: Buffer, fbWidth: number, fbHeight: number, rects: Int32Array): Int32Array {
    return this.#t.shrink(cur, prev, fbWidth, fbHeight, rects);
  }
  /** restart: the receiver has none of this stream (attach, or it lost track). */
  encode(cur: Buffer, fbWidth: number, fbHeight: number, rects: Int32Array, restart: boolean): Buffer {
    return this.#t.encode(cur, fbWidth, fbHeight, rects, restart);
  }
  /** False when the data is corrupt, does not match the rectangles, or continues a stream this side never saw start. */
  decode(data: Uint8Array, fb: Buffer, fbWidth: number, fbHeight: number, rects: Int32Array): boolean {
    return this.#t.decode(data, fb, fbWidth, fbHeight, rects);
  }
}

export interface EncoderChoice {
  encoder: H264Encoder;
  /** Why this one: e.g. "no DRM render node" or "VAAPI on /dev/dri/renderD128". */
  reason: string;
}

/** Render nodes a VA driver could sit on. */
export function renderNodes(dir = '/dev/dri'): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((n) => n.startsWith('renderD'))
      .sort()
      .map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

/**
 * VAAPI where a render node with a working VA driver exists, x264 otherwise. Every failed
 * VAAPI attempt is reported in `reason`, so an admin can see why the GPU was not used.
 */
export function chooseEncoder(o: Omit<EncoderOptions, 'vaapiDevice'>, nodes = renderNodes()): EncoderChoice {
  const tried: string[] = [];
  for (const node of nodes) {
    try {
      return { encoder: new H264Encoder({ ...o, vaapiDevice: node }), reason: `VAAPI on ${node}` };
    } catch (err) {
      tried.push(`${node}: ${(err as Error).message}`);
    }
  }
  const reason = nodes.length === 0 ? 'no DRM render node, so x264' : `VAAPI failed (${tried.join('; ')}), so x264`;
  return { encoder: new H264Encoder(o), reason };
}
