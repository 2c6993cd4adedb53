// The browser terminal: the same wire protocol as every terminal, decoded with WebCodecs
// (H.264) and fzstd (lossless tiles), drawn on a canvas; keyboard and mouse go back.
import { Codec, type FrameMsg, type VideoBox } from '@waydesk/protocol/frame-format';
import { CloseCode, WIRE_VERSION, decodeServerMessage, encodeTerminalMessage, type CursorBody, type TerminalMessage } from '@waydesk/protocol/wire';
import { BUTTONS, EVDEV } from './keycodes.js';
import { COLUMN_MAX_H, TileStream } from './tile-stream.js';

const canvas = document.getElementById('screen') as HTMLCanvasElement;
const status = document.getElementById('status') as HTMLDivElement;
const ctx = canvas.getContext('2d', { alpha: false, willReadFrequently: false })!;

/** What tests and curious users can read in the console. */
const state = { connected: false, framesDrawn: 0, h264Frames: 0, bytesReceived: 0, lastError: '', width: 0, height: 0 };
(window as unknown as { waydesk: typeof state }).waydesk = state;

function displaySize(): { width: number; height: number } {
  const q = /^(\d+)x(\d+)$/.exec(new URLSearchParams(location.search).get('size') ?? '');
  if (q) return { width: Number(q[1]), height: Number(q[2]) };
  const dpr = window.devicePixelRatio || 1;
  const clamp = (v: number, hi: number): number => Math.max(64, Math.min(hi, Math.floor(v * dpr) & ~1));
  return { width: clamp(window.innerWidth, 7680), height: clamp(window.innerHeight, 4320) };
}

function show(text: string): void {
  status.textContent = text;
  status.hidden = text === '';
}

let ws: WebSocket | null = null;
function send(m: TerminalMessage): void {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(encodeTerminalMessage(m));
}

// ---------- the picture ----------

let tiles = new TileStream();
/** A whole picture was asked for and has not come yet. */
let awaitingWhole = false;
let decoder: VideoDecoder | null = null;
let decodable = false;
/** H.264 pictures in decode order, waiting for the decoder's output. */
const pending: Array<{ rects: Int32Array; box: VideoBox; done: () => void }> = [];

function resize(width: number, height: number): void {
  if (width === state.width && height === state.height) return;
  state.width = width;
  state.height = height;
  canvas.width = width;
  canvas.height = height;
  resetDecoder();
}

function avcCodec(width: number, height: number): string {
  // constrained baseline; level 3.1 / 4.0 / 5.1 by picture size
  const level = width * height <= 1280 * 720 ? '1F' : width * height <= 1920 * 1088 ? '28' : '33';
  return `avc1.42E0${level}`;
}

function resetDecoder(): void {
  if (decoder && decoder.state !== 'closed') decoder.close();
  decoder = null;
  decodable = false;
  for (const p of pending.splice(0)) p.done();
}

/** The decoder's picture covers `box` of the canvas (a window's video, or the whole desktop). */
function ensureDecoder(box: VideoBox): VideoDecoder {
  if (decoder) return decoder;
  const d = new VideoDecoder({
    output: (frame) => {
      const p = pending.shift();
      state.h264Frames++;
      if (p) {
        for (let i = 0; i < p.rects.length; i += 4) {
          const x = p.rects[i]!, y = p.rects[i + 1]!, w = p.rects[i + 2]!, h = p.rects[i + 3]!;
          ctx.drawImage(frame, x - p.box.x, y - p.box.y, w, h, x, y, w, h);
        }
        p.done();
      }
      frame.close();
    },
    error: (e) => {
      state.lastError = `video decoder: ${e.message}`;
      resetDecoder();
      send({ type: 'keyframe-request' });
    },
  });
  d.configure({ codec: avcCodec(box.width, box.height), codedWidth: box.width, codedHeight: box.height, optimizeForLatency: true, hardwareAcceleration: 'no-preference' });
  decoder = d;
  return d;
}

function drawTiles(f: FrameMsg): void {
  let total = 0;
  for (let i = 0; i < f.rects.length; i += 4) total += f.rects[i + 2]! * f.rects[i + 3]! * 3;
  const data = tiles.next(f.payload, total);
  let s = 0;
  for (let i = 0; i < f.rects.length; i += 4) {
    const x = f.rects[i]!, y = f.rects[i + 1]!, w = f.rects[i + 2]!, h = f.rects[i + 3]!;
    const img = ctx.createImageData(w, h);
    const rgba = img.data;
    const columns = h <= COLUMN_MAX_H;
    for (let n = 0; n < w * h; n++, s += 3) {
      const o = (columns ? (n % h) * w + Math.floor(n / h) : n) * 4;
      rgba[o] = data[s + 2]!;
      rgba[o + 1] = data[s + 1]!;
      rgba[o + 2] = data[s]!;
      rgba[o + 3] = 255;
    }
    ctx.putImageData(img, x, y);
  }
}

/** Frames are applied strictly in order: a tile may not land under a picture still decoding. */
let chain: Promise<void> = Promise.resolve();

function onFrame(f: FrameMsg): void {
  chain = chain.then(
    () =>
      new Promise<void>((resolve) => {
        const finish = (): void => {
          state.framesDrawn++;
          send({ type: 'frame-ack', seq: f.seq });
          resolve();
        };
        if (f.full) awaitingWhole = false;
        try {
          resize(f.width, f.height);
          if (f.codec === Codec.Tiles) {
            drawTiles(f);
            finish();
            return;
          }
          if (f.keyframe) resetDecoder();
          if (!decodable && !f.keyframe) throw new Error('H.264 frame before a keyframe');
          const box = f.video ?? { x: 0, y: 0, width: f.width, height: f.height };
          const d = ensureDecoder(box);
          decodable = true;
          pending.push({ rects: f.rects, box, done: finish });
          d.decode(new EncodedVideoChunk({ type: f.keyframe ? 'key' : 'delta', timestamp: f.seq, data: f.payload }));
        } catch (err) {
          state.lastError = (err as Error).message;
          send({ type: 'frame-ack', seq: f.seq });
          // Frames already on their way fail the same way: one request is enough.
          if (!awaitingWhole) send({ type: 'keyframe-request' });
          awaitingWhole = true;
          resolve();
        }
      }),
  );
}

// ---------- cursor: drawn by the browser itself, no round trip ----------

function setCursor(c: CursorBody): void {
  if (c.mode === 2) {
    canvas.style.cursor = 'none';
    return;
  }
  if (c.mode === 0 || !c.pixels) {
    canvas.style.cursor = 'default';
    return;
  }
  const tmp = document.createElement('canvas');
  tmp.width = c.width;
  tmp.height = c.height;
  const t = tmp.getContext('2d')!;
  const img = t.createImageData(c.width, c.height);
  for (let i = 0; i < c.width * c.height * 4; i += 4) {
    const a = c.pixels[i + 3]!;
    // premultiplied BGRA -> straight RGBA
    img.data[i] = a ? Math.min(255, (c.pixels[i + 2]! * 255) / a) : 0;
    img.data[i + 1] = a ? Math.min(255, (c.pixels[i + 1]! * 255) / a) : 0;
    img.data[i + 2] = a ? Math.min(255, (c.pixels[i]! * 255) / a) : 0;
    img.data[i + 3] = a;
  }
  t.putImageData(img, 0, 0);
  canvas.style.cursor = `url(${tmp.toDataURL()}) ${c.hotspotX} ${c.hotspotY}, default`;
}

// ---------- connection ----------

/**
 * The server's secret comes in the address's fragment (`#token=…`), which the browser never
 * sends anywhere. It is kept for this tab only (a reload still works) and taken out of the
 * address bar, so a screenshot, a shared screen or the history does not show it.
 */
function takeToken(): string | null {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem('waydesk-token', fromHash);
    history.replaceState(null, '', location.pathname + location.search);
    return fromHash;
  }
  return sessionStorage.getItem('waydesk-token');
}
const token = takeToken();

let backoff = 250;
/** When the server was last lost (null: connected for a while). */
let offlineSince: number | null = null;
let stableTimer: ReturnType<typeof setTimeout> | undefined;
function connect(): void {
  show('connecting…');
  const sock = new WebSocket(`wss://${location.host}/terminal`);
  sock.binaryType = 'arraybuffer';
  ws = sock;
  sock.onopen = () => {
    // the back-off starts over only after the connection has lasted
    stableTimer = setTimeout(() => {
      backoff = 250;
      offlineSince = null;
    }, 10_000);
    tiles = new TileStream(); // a new connection starts a new stream
    state.connected = true;
    show('');
    const { width, height } = displaySize();
    send({
      type: 'hello',
      body: {
        version: WIRE_VERSION,
        terminalId: `browser-${Math.random().toString(36).slice(2, 10)}`,
        kind: 'browser',
        displays: [{ width, height, refreshMhz: 60000 }],
        codecs: ['tiles', 'h264'],
        input: ['keyboard', 'pointer'],
      },
    });
    // without a token, the server's greeter (streamed like the desktop) asks for the login
    if (token) send({ type: 'auth', body: { token } });
  };
  sock.onmessage = (e) => {
    const data = new Uint8Array(e.data as ArrayBuffer);
    state.bytesReceived += data.length;
    let m;
    try {
      m = decodeServerMessage(data);
    } catch (err) {
      state.lastError = (err as Error).message;
      sock.close(1008, 'malformed message');
      return;
    }
    if (m.type === 'frame') onFrame(m.body);
    else if (m.type === 'cursor') setCursor(m.body);
    else if (m.type === 'ping') send({ type: 'pong', id: m.id, timeUs: m.timeUs });
    else if (m.type === 'error') {
      state.lastError = m.message;
      show(m.message);
    }
  };
  sock.onclose = (e) => {
    if (ws !== sock) return;
    ws = null;
    state.connected = false;
    clearTimeout(stableTimer);
    releaseAll();
    if (!token && e.code === CloseCode.Unauthorized) {
      // a single-user server, opened without its address's token: retrying cannot help
      show(`${e.reason || 'the server refused this page'}. Open the address the server printed for this run.`);
      return;
    }
    if (token && (e.code === CloseCode.Unauthorized || e.code === CloseCode.SessionEnded)) {
      sessionStorage.removeItem('waydesk-token');
      show(`${e.reason || 'the server refused this token'}. Open the address the server printed for this run.`);
      return;
    }
    if (e.code === CloseCode.TakenOver) {
      // Reconnecting would take the desktop back from where its user just opened it.
      show(`${e.reason || 'taken over by another terminal'}. Reload this page to take it back.`);
      return;
    }
    // every half second for the first 15 s (a restarted server is back at once), then every 2 s
    offlineSince ??= Date.now();
    const delay = Date.now() - offlineSince < 15_000 ? Math.min(backoff, 500) : backoff;
    show(`the server is unreachable; retrying in ${Math.round(delay / 100) / 10} s`);
    setTimeout(connect, delay);
    backoff = Math.min(2000, backoff * 2);
  };
}

// ---------- input ----------

const held = new Set<number>();
function releaseAll(): void {
  for (const code of held) send({ type: 'key', code, pressed: false });
  held.clear();
}

window.addEventListener('keydown', (e) => {
  const code = EVDEV[e.code];
  if (code === undefined) return;
  e.preventDefault(); // Tab, F5, Ctrl+W belong to the remote desktop
  if (e.repeat || held.has(code)) return; // the desktop's own clients repeat keys
  held.add(code);
  send({ type: 'key', code, pressed: true });
});
window.addEventListener('keyup', (e) => {
  const code = EVDEV[e.code];
  if (code === undefined) return;
  e.preventDefault();
  if (!held.delete(code)) return;
  send({ type: 'key', code, pressed: false });
});
// Leaving the tab must not leave a key down on the desktop.
window.addEventListener('blur', releaseAll);

function pointerPos(e: MouseEvent): { x: number; y: number } {
  const r = canvas.getBoundingClientRect();
  return { x: ((e.clientX - r.left) / r.width) * canvas.width, y: ((e.clientY - r.top) / r.height) * canvas.height };
}
canvas.addEventListener('mousemove', (e) => send({ type: 'pointer-motion', ...pointerPos(e) }));
canvas.addEventListener('mousedown', (e) => {
  const b = BUTTONS[e.button];
  if (b !== undefined) send({ type: 'pointer-button', button: b, pressed: true });
});
canvas.addEventListener('mouseup', (e) => {
  const b = BUTTONS[e.button];
  if (b !== undefined) send({ type: 'pointer-button', button: b, pressed: false });
});
canvas.addEventListener('contextmenu', (e) => e.preventDefault());
canvas.addEventListener(
  'wheel',
  (e) => {
    e.preventDefault();
    const lines = e.deltaMode === 1 ? e.deltaY : e.deltaY / 40;
    if (lines !== 0) send({ type: 'pointer-axis', horizontal: false, delta: lines * 15, discrete: Math.sign(lines) });
  },
  { passive: false },
);

if (typeof VideoDecoder === 'undefined') {
  show('This browser has no WebCodecs (it needs https and a recent browser): only still pictures will show.');
}
connect();
