// npm run bench [-- --json] [--only SYSTEM] [group...]: every benchmark, one JSON object per line with --json.
// --only (peers): measure the systems whose name contains SYSTEM, e.g. --only waydesk.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../helpers/compositor.js';
import { benchCompositor } from './compositor.js';
import { Report } from './report.js';
import { benchStreaming } from './streaming.js';
import { benchCodec } from './codec.js';
import { benchPeers } from './peers/run.js';
import { benchHost } from './host.js';
import { benchGreeter, benchLogin, benchReconnect } from './login.js';
import { benchDensity } from './density.js';
import { benchHotdesk } from './hotdesk.js';
import { benchNetboot } from './netboot.js';
import { ensureTestUser, removeTestUser } from '../helpers/test-user.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args.splice(onlyAt, 2)[1] : undefined;
if (onlyAt >= 0 && !only) {
  process.stderr.write('--only needs a system name (waydesk, wayvnc, waypipe, or a part of one)\n');
  process.exit(2);
}
const groups = args.filter((a) => !a.startsWith('--'));
const all: Record<string, (r: Report) => Promise<void>> = {
  compositor: benchCompositor,
  codec: benchCodec,
  streaming: benchStreaming,
  host: benchHost,
  login: benchLogin,
  greeter: benchGreeter,
  reconnect: benchReconnect,
  density: benchDensity,
  hotdesk: benchHotdesk,
  netboot: benchNetboot,
  peers: (r) => benchPeers(r, only),
};
// The side-by-side run takes about ten minutes: only with --peers, or named.
const chosen = groups.length ? groups : args.includes('--peers') ? Object.keys(all) : Object.keys(all).filter((g) => g !== 'peers');
if (chosen.includes('peers') || chosen.includes('density')) {
  // The peers come from Debian too: sway, wayvnc, waypipe, wtype (idempotent, quiet when present).
  execFileSync('bash', [path.join(ROOT, 'scripts/setup.sh'), '--peers'], { stdio: ['ignore', 2, 2] });
}
const report = new Report(json);
const unknown = chosen.find((g) => !all[g]);
if (unknown) {
  process.stderr.write(`unknown bench group '${unknown}' (known: ${Object.keys(all).join(', ')})\n`);
  process.exit(2);
}
// Desktops and peers run as an unprivileged user, made for the run and removed after it.
const createdUser = ensureTestUser();
try {
  for (const g of chosen) await all[g]!(report);
} finally {
  if (createdUser) removeTestUser();
}
