import type { Duplex } from 'node:stream';
import { CompositorLink } from '../../compositor/src/ipc-client.js';
import { FrameError, FramePainter } from '../../client-firmware/src/frame-painter.js';

/**
 * A compositor link that also keeps the picture, painted with the terminal's own painter: what
 * tests compare with grim and with what terminals show. The daemon's link never paints.
 */
export class PaintingLink extends CompositorLink {
  readonly painter = new FramePainter();
  /** Frames that could not be painted (a whole picture has been asked for each time). */
  readonly frameErrors: FrameError[] = [];

  constructor(stream: Duplex) {
    super(stream);
    // the first listener: the picture is up to date when anyone else hears of the frame
    this.on('frame', (f) => {
      try {
        this.painter.paint(f);
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        this.frameErrors.push(err);
        if (err.needsKeyframe) this.send({ type: 'request-full' });
      }
    });
    this.on('close', () => this.painter.close());
  }

  static connectPainting(path: string): Promise<PaintingLink> {
    return CompositorLink.connect(path, (s) => new PaintingLink(s));
  }

  /** The picture as this parent knows it: BGRX, stride width*4. */
  get framebuffer(): Buffer {
    return this.painter.framebuffer;
  }
  get width(): number {
    return this.painter.width;
  }
  get height(): number {
    return this.painter.height;
  }
}
