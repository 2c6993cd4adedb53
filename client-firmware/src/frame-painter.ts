// Applies encoded frames (protocol/src/frame-format.ts) to a BGRX picture: what a terminal
// shows, and what tests compare with the compositor's own picture.
import { Codec, type CodecId, type VideoBox } from '@waydesk/protocol/frame-format';
import { H264Decoder, TileCodec } from '@waydesk/native-codec';

export interface EncodedFrame {
  width: number;
  height: number;
  codec: CodecId;
  keyframe: boolean;
  rects: Int32Array;
  /** H.264: the part of the picture the decoded one covers (default: all of it). */
  video?: VideoBox;
  payload: Uint8Array;
}

export class FrameError extends Error {
  override name = 'FrameError';
  /** True when the receiver should ask the sender for a keyframe / full picture. */
  constructor(message: string, readonly needsKeyframe: boolean) {
    super(message);
  }
}

export class FramePainter {
  width = 0;
  height = 0;
  /** BGRX, stride width*4. Replaced (not resized) when the picture changes size. */
  framebuffer: Buffer = Buffer.alloc(0);
  readonly #tiles = new TileCodec();
  #h264: H264Decoder | null = null;
  #decodable = false;

  paint(f: EncodedFrame): void {
    if (f.width !== this.width || f.height !== this.height) {
      this.width = f.width;
      this.height = f.height;
      this.framebuffer = Buffer.alloc(f.width * f.height * 4);
      this.#resetDecoder();
    }
    if (f.codec === Codec.Tiles) {
      if (!this.#tiles.decode(f.payload, this.framebuffer, this.width, this.height, f.rects)) {
        throw new FrameError(`tiles: ${f.payload.length} bytes do not decode into ${f.rects.length / 4} rectangles`, true);
      }
      return;
    }
    if (f.keyframe) this.#resetDecoder();
    if (!f.keyframe && !this.#decodable) throw new FrameError('H.264 frame before any keyframe', true);
    this.#h264 ??= new H264Decoder();
    try {
      this.#h264.decode(f.payload, this.framebuffer, this.width, this.height, f.rects, f.video);
      this.#decodable = true;
    } catch (err) {
      this.#resetDecoder();
      throw new FrameError((err as Error).message, true);
    }
  }

  #resetDecoder(): void {
    this.#h264?.close();
    this.#h264 = null;
    this.#decodable = false;
  }

  close(): void {
    this.#resetDecoder();
  }
}
