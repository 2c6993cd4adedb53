// `waydesk-server sessions | terminals | audit | end-session USER | cards | bind-card TOKEN USER |
// block-card TOKEN | unblock-card TOKEN | forget-card TOKEN`: an admin's view of the running login
// server, through its admin socket (root's alone). Tables for people, --json for scripts.
import http from 'node:http';
import path from 'node:path';
import { ADMIN_SOCKET, type SessionInfo } from './admin.js';
import { ConfigError, loadConfig } from './config.js';
import type { CardRecord, TerminalRecord } from './store.js';

export const ADMIN_COMMANDS = ['sessions', 'terminals', 'audit', 'end-session', 'cards', 'bind-card', 'block-card', 'unblock-card', 'forget-card'];

function request(socketPath: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    // no keep-alive: one request, and the command is done
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    const req = http.request({ socketPath, method, path: url, agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          reject(new Error(`the server answered ${res.statusCode} with something that is not JSON`));
        }
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function ago(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

function fail(message: string, code = 2): never {
  process.stderr.write(`waydesk-server: ${message}\n`);
  process.exit(code);
}

export async function runAdminCommand(argv: string[], defaultState: string): Promise<void> {
  const [cmd, ...rest] = argv;
  let json = false;
  let state: string | undefined;
  let configFile: string | undefined;
  let limit = 50;
  const args: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const v = (): string => rest[++i] ?? fail(`${a} needs a value`);
    if (a === '--json') json = true;
    else if (a === '--state') state = v();
    else if (a === '--config') configFile = v();
    else if (a === '--limit') {
      limit = Number(v());
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) fail('--limit wants 1..100000');
    } else if (a.startsWith('--')) fail(`unknown option '${a}' for ${cmd}`);
    else args.push(a);
  }
  if (!state) {
    try {
      state = loadConfig(configFile).config.state;
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message);
      state = defaultState;
    }
  }
  const socketPath = path.join(state, ADMIN_SOCKET);
  const call = async (method: string, url: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    try {
      return await request(socketPath, method, url, body);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') fail(`cannot open ${socketPath}: the admin socket is root's (run this as root)`);
      if (code === 'ENOENT' || code === 'ECONNREFUSED') fail(`no login server is running with the state directory ${state} (${socketPath} ${code === 'ENOENT' ? 'does not exist' : 'refuses connections'}); give --state DIR if it uses another`);
      fail(`cannot reach the server through ${socketPath}: ${(err as Error).message}`);
    }
  };
  const out = (v: unknown, human: () => string): void => void process.stdout.write(json ? JSON.stringify(v, null, 2) + '\n' : human());

  if (cmd === 'sessions') {
    const { body } = await call('GET', '/sessions');
    const list = body as SessionInfo[];
    return out(list, () =>
      list.length
        ? table([['SESSION', 'PID', 'TERMINAL', 'STARTED', 'LAST ATTACHED', 'STATE'], ...list.map((s) => [s.key, String(s.pid ?? '-'), s.terminal ?? '(detached)', ago(s.startedAt), ago(s.lastAttachedAt), s.healthy ? 'running' : 'not answering'])])
        : 'no sessions\n',
    );
  }
  if (cmd === 'terminals') {
    const { body } = await call('GET', '/terminals');
    const list = (body as TerminalRecord[]).sort((a, b) => b.lastSeen - a.lastSeen);
    return out(list, () =>
      list.length
        ? table([['TERMINAL', 'KIND', 'ADDRESS', 'DISPLAY', 'LAST SEEN', 'SESSION'], ...list.map((t) => [t.id, t.kind, t.address, t.displays.map((d) => `${d.width}x${d.height}`).join(','), ago(t.lastSeen), t.session ?? '-'])])
        : 'no terminals seen yet\n',
    );
  }
  if (cmd === 'audit') {
    const { body } = await call('GET', `/audit?limit=${limit}`);
    const list = body as Array<{ at: number; event: string } & Record<string, unknown>>;
    return out(list, () =>
      list
        .map(({ at, event, ...f }) => `${new Date(at).toISOString()}  ${event.padEnd(16)} ${Object.entries(f).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}\n`)
        .join(''),
    );
  }
  if (cmd === 'cards') {
    const { body } = await call('GET', '/cards');
    const list = body as CardRecord[];
    return out(list, () =>
      list.length
        ? table([['CARD', 'USER', 'STATE', 'BOUND', 'LAST USED', 'AT TERMINAL'], ...list.map((c) => [c.token, c.user, c.blocked ? 'blocked' : 'ok', ago(c.boundAt), ago(c.lastUsedAt), c.lastTerminal ?? '-'])])
        : 'no cards registered\n',
    );
  }
  if (cmd === 'bind-card' || cmd === 'block-card' || cmd === 'unblock-card' || cmd === 'forget-card') {
    const token = args[0];
    const wants = cmd === 'bind-card' ? 2 : 1;
    if (!token || args.length !== wants) fail(cmd === 'bind-card' ? 'bind-card wants a card (uid:HEX or piv:FINGERPRINT, as the audit trail names it) and a user name' : `${cmd} wants one card (uid:HEX or piv:FINGERPRINT)`);
    const url = `/cards/${encodeURIComponent(token)}`;
    const r =
      cmd === 'bind-card' ? await call('PUT', url, { user: args[1] }) : cmd === 'forget-card' ? await call('DELETE', url) : await call('POST', `${url}/${cmd === 'block-card' ? 'block' : 'unblock'}`);
    if (r.status === 404) fail(`no card ${token} is registered`, 1);
    if (r.status === 400) fail(`${(r.body as { message?: string }).message ?? 'refused'}: a card is uid:HEX or piv:FINGERPRINT (64 hex digits), a user a login name`, 2);
    if (r.status !== 200) fail(`the server refused: ${JSON.stringify(r.body)}`, 1);
    const said = { 'bind-card': `${token} is ${args[1]}'s card now`, 'block-card': `${token} is blocked: it opens nothing`, 'unblock-card': `${token} may be used again`, 'forget-card': `${token} is forgotten: it is an unknown card now` }[cmd];
    return out(r.body, () => `${said}\n`);
  }
  // end-session USER
  const user = args[0];
  if (!user || args.length > 1) fail('end-session wants one user name');
  const { status, body } = await call('DELETE', `/sessions/user/${encodeURIComponent(user)}`);
  if (status === 404) fail(`${user} has no session on this server`, 1);
  if (status !== 200) fail(`the server refused: ${JSON.stringify(body)}`, 1);
  out(body, () => `ended the session of ${user}; their terminal shows the greeter\n`);
}
