import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file of the browser terminal: where a server serves it, what it is, where it lies. */
export interface WebAsset {
  url: string;
  type: string;
  file: string;
}

const require = createRequire(import.meta.url);
const web = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'web');
const protocolDist = path.dirname(require.resolve('@waydesk/protocol/wire'));
const fzstd = require.resolve('fzstd').replace(/lib[/\\]index\.js$/, 'esm/index.mjs');

/**
 * The browser terminal, as files: the page, its scripts, the protocol it shares with every
 * terminal, and its zstd decoder. A server serves exactly these and nothing else of the terminal.
 */
export const WEB_ASSETS: readonly WebAsset[] = [
  { url: '/', type: 'text/html; charset=utf-8', file: path.join(web, 'index.html') },
  { url: '/web/browser-terminal.js', type: 'text/javascript', file: path.join(web, 'dist/browser-terminal.js') },
  { url: '/web/keycodes.js', type: 'text/javascript', file: path.join(web, 'dist/keycodes.js') },
  { url: '/web/tile-stream.js', type: 'text/javascript', file: path.join(web, 'dist/tile-stream.js') },
  { url: '/web/protocol/wire.js', type: 'text/javascript', file: path.join(protocolDist, 'wire.js') },
  { url: '/web/protocol/frame-format.js', type: 'text/javascript', file: path.join(protocolDist, 'frame-format.js') },
  { url: '/web/protocol/limits.js', type: 'text/javascript', file: path.join(protocolDist, 'limits.js') },
  { url: '/web/fzstd.js', type: 'text/javascript', file: fzstd },
];
