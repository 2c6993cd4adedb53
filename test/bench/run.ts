// npm run bench [-- --json] [group...]: every benchmark, one JSON object per line with --json.
import { benchCompositor } from './compositor.js';
import { Report } from './report.js';
import { benchStreaming } from './streaming.js';
import { benchCodec } from './codec.js';
import { benchPeers } from './peers/run.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const groups = args.filter((a) => !a.startsWith('--'));
const all: Record<string, (r: Report) => Promise<void>> = { compositor: benchCompositor, codec: benchCodec, streaming: benchStreaming, peers: benchPeers };
// The side-by-side run takes about ten minutes: only with --peers, or named.
const chosen = groups.length ? groups : args.includes('--peers') ? Object.keys(all) : Object.keys(all).filter((g) => g !== 'peers');
const report = new Report(json);
for (const g of chosen) {
  const fn = all[g];
  if (!fn) {
    process.stderr.write(`unknown bench group '${g}' (known: ${Object.keys(all).join(', ')})\n`);
    process.exit(2);
  }
  await fn(report);
}
