import { chooseEncoder, H264Encoder, TileCodec } from '@waydesk/native-codec';
import type { Picture } from '@waydesk/native-compositor';
import { Codec, type CodecId, type VideoBox } from '@waydesk/protocol/frame-format';
import type { Logger } from './log.js';

export interface Encoded {
  codec: CodecId;
  keyframe: boolean;
  rects: Int32Array;
  /** H.264: the part of the picture the video encoder covers. */
  video?: VideoBox;
  payload: Uint8Array;
  width: number;
  height: number;
}

export interface EncoderSettings {
  fps: number;
  crf: number;
  maxKbps: number;
  preset: 'ultrafast' | 'superfast';
  intraRefresh: boolean;
}

export const DEFAULT_ENCODER: EncoderSettings = { fps: 60, crf: 23, maxKbps: 20_000, preset: 'ultrafast', intraRefresh: false };

/** Lossy bookkeeping granularity, like the core's damage tiles; also a macroblock. */
const TILE = 16;
/** At or below this many changed pixels a frame goes lossless (a few typed characters, a cursor). */
const SMALL_DAMAGE_PX = 8_000;
/** A region that keeps changing faster than this is animation: H.264. */
const MOTION_WINDOW_MS = 300;
const MOTION_FRAMES = 3;
/** Above this fraction of the picture, H.264 at once (a scroll, a new window). */
const LARGE_DAMAGE = 0.2;
/** Without video for this long, the video encoder's memory goes back (reopening costs ~5 ms and a keyframe). */
export const RELEASE_VIDEO_AFTER_MS = 10_000;
/** After the video encoder fails, exact updates only for this long before it is tried again. */
const VIDEO_RETRY_MS = 10_000;

/** A rectangle by its edges (x1, y1 exclusive). */
interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function join(a: Box, b: Box): Box {
  return { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
}

/** The box rounded out to 16-pixel macroblocks, inside the picture, at least one macroblock, at even x, y. */
function macroblocks(b: Box, width: number, height: number): Box {
  const span = (a: number, e: number, size: number): [number, number] => {
    let lo = Math.max(0, Math.floor(a / 16) * 16);
    const hi = Math.min(Math.ceil(e / 16) * 16, size);
    if (hi - lo < 16) lo = Math.max(0, (hi - 16) & ~1);
    return [lo, hi];
  };
  const [x0, x1] = span(b.x0, b.x1, width);
  const [y0, y1] = span(b.y0, b.y1, height);
  return { x0, y0, x1, y1 };
}

function area(b: Box): number {
  return (b.x1 - b.x0) * (b.y1 - b.y0);
}

function rectsArea(rects: Int32Array): number {
  let a = 0;
  for (let i = 0; i < rects.length; i += 4) a += rects[i + 2]! * rects[i + 3]!;
  return a;
}

/**
 * Per frame, chooses lossless tiles (typing, small changes: exact and tiny) or H.264 (large or
 * fast-changing damage), and remembers what went lossy so it can be sent again exactly once
 * the picture settles: a user reading text never keeps compression artefacts.
 */
export class StreamEncoder {
  width = 0;
  height = 0;
  /** The compositor's picture (BGRX): the core's own copy, read in place during each call. */
  #cur: Buffer = Buffer.alloc(0);
  /** What the receiver has, where it is exact: updates are cut down to where it differs. */
  #sent = Buffer.alloc(0);
  /** Tiles whose pixels at the receiver came from H.264. */
  #lossy = new Uint8Array(0);
  #lossyCount = 0;
  #tw = 0;
  readonly #tiles = new TileCodec();
  #h264: H264Encoder | null = null;
  /** The part of the picture the open video encoder covers. */
  #region: Box = { x0: 0, y0: 0, x1: 0, y1: 0 };
  /** Where video damage fell in this second and in the one before (see #videoRegion). */
  #videoDamageNow: Box | null = null;
  #videoDamageBefore: Box | null = null;
  #recentSince = -Infinity;
  #regionSince = -Infinity;
  /** When the video encoder last failed to open or encode (ms, the clock encode() is given). */
  #videoFailedAt = -Infinity;
  #releaseTimer: NodeJS.Timeout | null = null;
  #needKey = true;
  readonly #recent: Array<{ t: number; px: number }> = [];
  readonly #settings: EncoderSettings;
  readonly #log: Logger;
  /** The video encoder in use, or last used (it is closed when video stops for a while). */
  encoderName = 'none';

  get videoOpen(): boolean {
    return this.#h264 !== null;
  }

  constructor(width: number, height: number, settings: EncoderSettings, log: Logger) {
    this.#settings = settings;
    this.#log = log;
    this.#resize(width, height);
  }

  #resize(width: number, height: number): void {
    this.#h264?.close();
    this.#h264 = null;
    this.width = width;
    this.height = height;
    this.#tw = Math.ceil(width / TILE);
    this.#sent = Buffer.alloc(width * height * 4);
    this.#lossy = new Uint8Array(this.#tw * Math.ceil(height / TILE));
    this.#lossyCount = 0;
    this.#needKey = true;
    this.#videoDamageNow = this.#videoDamageBefore = null;
  }

  /** Takes the core's current picture (the one the rectangles of this call refer to). */
  #use(p: Picture): void {
    if (p.width !== this.width || p.height !== this.height) this.#resize(p.width, p.height);
    this.#cur = p.pixels;
  }

  /**
   * null when the receiver already has every pixel of the damage. `held`: the frame waited for
   * the receiver's credits, so the time since the last one says nothing about the picture rate.
   */
  encode(picture: Picture, rects: Int32Array, nowMs: number, held = false): Encoded | null {
    this.#use(picture);
    const px = rectsArea(rects);
    this.#recent.push({ t: nowMs, px });
    while (this.#recent.length && nowMs - this.#recent[0]!.t > MOTION_WINDOW_MS) this.#recent.shift();
    const busy = this.#recent.filter((r) => r.px > SMALL_DAMAGE_PX).length >= MOTION_FRAMES;
    const lossy = px > this.width * this.height * LARGE_DAMAGE || (px > SMALL_DAMAGE_PX && busy);
    return lossy ? this.#encodeH264(rects, nowMs, held) : this.#encodeTiles(rects, { shrink: true, restart: false });
  }

  /** The whole picture, exact: for a receiver that starts from nothing. */
  full(picture: Picture): Encoded {
    this.#use(picture);
    this.#needKey = true;
    this.#lossy.fill(0);
    this.#lossyCount = 0;
    return this.#encodeTiles(Int32Array.from([0, 0, this.width, this.height]), { shrink: false, restart: true })!;
  }

  /** Rectangles that went lossy, sent again exactly; null when everything is exact. */
  refinement(picture: Picture): Encoded | null {
    // A resize since the lossy frame clears the map: nothing left to refine.
    this.#use(picture);
    if (this.#lossyCount === 0) return null;
    const rects: number[] = [];
    const th = Math.ceil(this.height / TILE);
    // Runs of lossy tiles per tile row, merged downwards when the same run repeats.
    let open = new Map<string, number>();
    for (let ty = 0; ty < th; ty++) {
      const next = new Map<string, number>();
      for (let tx = 0; tx < this.#tw; ) {
        if (!this.#lossy[ty * this.#tw + tx]) {
          tx++;
          continue;
        }
        const start = tx;
        while (tx < this.#tw && this.#lossy[ty * this.#tw + tx]) tx++;
        const key = `${start}:${tx}`;
        const x = start * TILE;
        const w = Math.min(tx * TILE, this.width) - x;
        const y = ty * TILE;
        const h = Math.min(y + TILE, this.height) - y;
        const prev = open.get(key);
        if (prev !== undefined) {
          rects[prev + 3]! += h;
          next.set(key, prev);
        } else {
          next.set(key, rects.length);
          rects.push(x, y, w, h);
        }
      }
      open = next;
    }
    this.#lossy.fill(0);
    this.#lossyCount = 0;
    return this.#encodeTiles(Int32Array.from(rects), { shrink: false, restart: false });
  }

  /** True if any tile the rectangle touches holds H.264 pixels at the receiver. */
  #touchesLossy(x: number, y: number, w: number, h: number): boolean {
    for (let ty = Math.floor(y / TILE); ty * TILE < y + h; ty++)
      for (let tx = Math.floor(x / TILE); tx * TILE < x + w; tx++) if (this.#lossy[ty * this.#tw + tx]) return true;
    return false;
  }

  #setLossy(x: number, y: number, w: number, h: number): void {
    for (let ty = Math.floor(y / TILE); ty * TILE < y + h; ty++)
      for (let tx = Math.floor(x / TILE); tx * TILE < x + w; tx++) {
        const k = ty * this.#tw + tx;
        if (!this.#lossy[k]) this.#lossyCount++;
        this.#lossy[k] = 1;
      }
  }

  /** Only tiles the rectangle covers whole become exact; a partly covered one stays lossy. */
  #setExact(x: number, y: number, w: number, h: number): void {
    for (let ty = Math.floor(y / TILE); ty * TILE < y + h; ty++)
      for (let tx = Math.floor(x / TILE); tx * TILE < x + w; tx++) {
        const k = ty * this.#tw + tx;
        if (!this.#lossy[k]) continue;
        const x0 = tx * TILE, y0 = ty * TILE;
        const x1 = Math.min(x0 + TILE, this.width), y1 = Math.min(y0 + TILE, this.height);
        if (x <= x0 && y <= y0 && x + w >= x1 && y + h >= y1) {
          this.#lossy[k] = 0;
          this.#lossyCount--;
        }
      }
  }

  #encodeTiles(damage: Int32Array, o: { shrink: boolean; restart: boolean }): Encoded | null {
    let rects = damage;
    // Cutting down needs the receiver's exact pixels: not where H.264 left an approximation.
    let exact = o.shrink;
    for (let i = 0; i < rects.length && exact; i += 4) exact = !this.#touchesLossy(rects[i]!, rects[i + 1]!, rects[i + 2]!, rects[i + 3]!);
    if (exact) {
      rects = this.#tiles.shrink(this.#cur, this.#sent, this.width, this.height, rects);
      if (rects.length === 0) return null;
    }
    const payload = this.#tiles.encode(this.#cur, this.width, this.height, rects, o.restart);
    const stride = this.width * 4;
    for (let i = 0; i < rects.length; i += 4) {
      const x = rects[i]!, y = rects[i + 1]!, w = rects[i + 2]!, h = rects[i + 3]!;
      this.#setExact(x, y, w, h);
      for (let row = y; row < y + h; row++) this.#cur.copy(this.#sent, row * stride + x * 4, row * stride + x * 4, row * stride + (x + w) * 4);
    }
    return { codec: Codec.Tiles, keyframe: false, rects, payload, width: this.width, height: this.height };
  }

  #encodeH264(damage: Int32Array, nowMs: number, held: boolean): Encoded | null {
    // 4:2:0 chroma covers 2x2 pixels: the receiver copies (and we mark lossy) whole pairs.
    const rects = new Int32Array(damage.length);
    for (let i = 0; i < damage.length; i += 4) {
      const x = damage[i]! & ~1, y = damage[i + 1]! & ~1;
      const x2 = Math.min((damage[i]! + damage[i + 2]! + 1) & ~1, this.width);
      const y2 = Math.min((damage[i + 1]! + damage[i + 3]! + 1) & ~1, this.height);
      rects.set([x, y, x2 - x, y2 - y], i);
    }
    // Without a working video encoder the desktop still goes out, exact and bigger.
    if (nowMs - this.#videoFailedAt < VIDEO_RETRY_MS) return this.#encodeTiles(damage, { shrink: true, restart: false });
    let out: { data: Buffer; keyframe: boolean };
    let key = this.#needKey;
    try {
      const want = this.#videoRegion(rects, nowMs);
      const r = this.#region;
      if (this.#h264 && (want.x0 !== r.x0 || want.y0 !== r.y0 || want.x1 !== r.x1 || want.y1 !== r.y1)) {
        this.#h264.close();
        this.#h264 = null;
      }
      if (!this.#h264) {
        const choice = chooseEncoder({ ...this.#settings, width: want.x1 - want.x0, height: want.y1 - want.y0 });
        this.#h264 = choice.encoder;
        this.#region = want;
        this.#regionSince = nowMs;
        this.encoderName = choice.encoder.name;
        this.#log.info({ encoder: choice.encoder.name, why: choice.reason, ...want }, 'video encoder ready');
        key = this.#needKey = true;
      }
      // A keyframe must carry the whole picture: a new decoder has no reference to fill gaps.
      out = this.#h264.encode(this.#cur, key ? null : rects, key, held ? undefined : nowMs, { x: want.x0, y: want.y0, frameWidth: this.width });
    } catch (err) {
      this.#log.error({ err: (err as Error).message, retryInMs: VIDEO_RETRY_MS }, 'video encoder failed; sending exact updates instead');
      this.#videoFailedAt = nowMs;
      this.#h264?.close();
      this.#h264 = null;
      this.#needKey = true;
      return this.#encodeTiles(damage, { shrink: true, restart: false });
    }
    const { data, keyframe } = out;
    this.#needKey = false;
    if (this.#releaseTimer) this.#releaseTimer.refresh();
    else (this.#releaseTimer = setTimeout(() => this.#releaseVideo(), RELEASE_VIDEO_AFTER_MS)).unref();
    for (let i = 0; i < rects.length; i += 4) this.#setLossy(rects[i]!, rects[i + 1]!, rects[i + 2]!, rects[i + 3]!);
    const r = this.#region;
    const video = { x: r.x0, y: r.y0, width: (r.x1 - r.x0 + 1) & ~1, height: (r.y1 - r.y0 + 1) & ~1 };
    return { codec: Codec.H264, keyframe, rects, video, payload: data, width: this.width, height: this.height };
  }

  /**
   * The part of the picture to encode as video: where video damage fell in the last one to two
   * seconds, in whole macroblocks. A video window costs its own size, not the desktop's (x264
   * spends about 4 ms on a 1080p picture even when all but a window is still). Every change of
   * part is a new encoder and a keyframe, so: the part shrinks only once the recent damage fills
   * less than half of it; it grows with a margin, for damage that moves (a window dragged); and
   * when it would change again within half a second, or cover most of the screen anyway, it
   * becomes the whole screen.
   */
  #videoRegion(rects: Int32Array, nowMs: number): Box {
    let b: Box = { x0: Infinity, y0: Infinity, x1: 0, y1: 0 };
    for (let i = 0; i < rects.length; i += 4) b = join(b, { x0: rects[i]!, y0: rects[i + 1]!, x1: rects[i]! + rects[i + 2]!, y1: rects[i + 1]! + rects[i + 3]! });
    if (nowMs - this.#recentSince > 1000) {
      this.#videoDamageBefore = nowMs - this.#recentSince > 2000 ? null : this.#videoDamageNow;
      this.#videoDamageNow = null;
      this.#recentSince = nowMs;
    }
    this.#videoDamageNow = this.#videoDamageNow ? join(this.#videoDamageNow, b) : b;
    const recent = this.#videoDamageBefore ? join(this.#videoDamageBefore, this.#videoDamageNow) : this.#videoDamageNow;
    const r = this.#region;
    const open = this.#h264 !== null;
    const holds = open && r.x0 <= b.x0 && r.y0 <= b.y0 && r.x1 >= b.x1 && r.y1 >= b.y1;
    const whole: Box = { x0: 0, y0: 0, x1: this.width, y1: this.height };
    // Growing: a quarter of the size again on every side, for damage that keeps moving.
    const mx = holds ? 0 : (recent.x1 - recent.x0) / 4, my = holds ? 0 : (recent.y1 - recent.y0) / 4;
    const want = macroblocks({ x0: recent.x0 - mx, y0: recent.y0 - my, x1: recent.x1 + mx, y1: recent.y1 + my }, this.width, this.height);
    const settled = nowMs - this.#regionSince >= 500;
    if (holds) return area(want) * 2 > area(r) || !settled ? r : want;
    return area(want) * 2 > area(whole) || (open && !settled) ? whole : want;
  }

  /** Gives back the video encoder's memory (tens of MB at 1080p); the next video starts with a keyframe. */
  #releaseVideo(): void {
    this.#releaseTimer = null;
    if (!this.#h264) return;
    this.#h264.close();
    this.#h264 = null;
    this.#log.info({ ...this.#region }, 'video encoder released after a quiet spell');
  }

  /**
   * Nobody looks: what the receiver had (a picture's worth) and the video encoder go. The next
   * picture encoded is a whole one (full()), which sizes everything again.
   */
  releaseViewer(): void {
    if (this.#releaseTimer) clearTimeout(this.#releaseTimer);
    this.#releaseTimer = null;
    this.#h264?.close();
    this.#h264 = null;
    this.#cur = Buffer.alloc(0);
    this.#sent = Buffer.alloc(0);
    this.#lossy = new Uint8Array(0);
    this.#lossyCount = 0;
    // the next #use sizes everything for the picture it is given
    this.width = this.height = 0;
  }

  close(): void {
    if (this.#releaseTimer) clearTimeout(this.#releaseTimer);
    this.#releaseTimer = null;
    this.#h264?.close();
    this.#h264 = null;
  }
}
