import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { MAX_OUTPUT, MIN_OUTPUT } from '@waydesk/protocol/limits';
import { DEFAULT_CARD_POLICY, type CardPolicy } from './cards.js';

/** The server's configuration file, `/etc/waydesk/server.json` unless `--config` names another. */
export const DEFAULT_CONFIG_FILE = '/etc/waydesk/server.json';

export interface ServerConfig {
  listen: string;
  port: number;
  state: string;
  session: { command: string[]; size: string; detachedTimeoutSeconds: number | null; memoryMaxMiB: number; tasksMax: number; perUser: number };
  pam: { service: string };
  cards: CardPolicy;
}

export const DEFAULTS: ServerConfig = {
  listen: '127.0.0.1',
  port: 8443,
  // a server run by an ordinary user (--dev) keeps its identity in that user's home
  state: process.getuid?.() === 0 ? '/var/lib/waydesk' : path.join(os.homedir(), '.local/state/waydesk'),
  // a lab server's share for one user: a browser and an office suite fit, a runaway does not take the machine
  session: { command: ['foot'], size: '1920x1080', detachedTimeoutSeconds: null, memoryMaxMiB: 4096, tasksMax: 1024, perUser: 1 },
  pam: { service: 'waydesk' },
  cards: DEFAULT_CARD_POLICY,
};

/** Each key with what it is for: the schema validates, the descriptions are the fixes errors suggest. */
const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: { type: 'string', minLength: 1, maxLength: 255, description: 'an address to listen on, e.g. "127.0.0.1" or "0.0.0.0"' },
    port: { type: 'integer', minimum: 0, maximum: 65535, description: 'a TCP port, 0..65535 (0 picks a free one)' },
    state: { type: 'string', pattern: '^/', description: 'an absolute directory for the TLS identity, the store and the link sockets' },
    session: {
      type: 'object',
      additionalProperties: false,
      description: '{ "command": [...], "size": "WxH" }',
      properties: {
        command: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, description: 'the session command as a list, e.g. ["foot"]' },
        size: { type: 'string', pattern: '^[0-9]{2,4}x[0-9]{2,4}$', description: `a size WIDTHxHEIGHT between ${MIN_OUTPUT.width}x${MIN_OUTPUT.height} and ${MAX_OUTPUT.width}x${MAX_OUTPUT.height}` },
        detachedTimeoutSeconds: {
          type: ['integer', 'null'],
          minimum: 60,
          description: 'seconds a session may go without a terminal before it is logged out (at least 60), or null for never',
        },
        memoryMaxMiB: { type: 'integer', minimum: 64, maximum: 1048576, description: 'MiB of memory each session may use (at least 64): its cgroup memory limit' },
        tasksMax: { type: 'integer', minimum: 32, maximum: 1048576, description: 'processes and threads each session may have at once (at least 32): its cgroup pids limit' },
        perUser: { type: 'integer', minimum: 1, maximum: 8, description: 'sessions one user may have, 1..8 (1: a login anywhere moves their one session there)' },
      },
    },
    pam: {
      type: 'object',
      additionalProperties: false,
      description: '{ "service": "waydesk" }',
      properties: { service: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'the name of a file in /etc/pam.d' } },
    },
    cards: {
      type: 'object',
      additionalProperties: false,
      description: '{ "kinds": ["uid", "piv"], "uidAlone": "same-terminal", "selfRegister": false, "onRemove": "detach" }',
      properties: {
        kinds: { type: 'array', uniqueItems: true, items: { enum: ['uid', 'piv'] }, description: 'the kinds of card that may log in: any of "uid" and "piv" ([] for none)' },
        uidAlone: { enum: ['always', 'same-terminal', 'never'], description: 'when a uid card opens its session without the password: "always", "same-terminal" (where it was last used) or "never"' },
        selfRegister: { type: 'boolean', description: 'true: an unknown card is registered to whoever logs in with a password after inserting it' },
        onRemove: { enum: ['detach', 'logout'], description: 'what taking the card out does to its session: "detach" (it runs on) or "logout"' },
      },
    },
  },
} as const;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function describe(path: string): string {
  let node: { description?: string; properties?: Record<string, unknown> } = SCHEMA;
  for (const k of path.split('/').filter(Boolean)) node = (node.properties?.[k] ?? {}) as typeof node;
  return node.description ?? '';
}

/**
 * Reads and checks the configuration: every error names the key, what is wrong and what it
 * wants. A missing file at the default place means the defaults; a named file must exist.
 */
export function loadConfig(file: string | undefined): { config: ServerConfig; from: string } {
  const where = file ?? DEFAULT_CONFIG_FILE;
  let text: string;
  try {
    text = fs.readFileSync(where, 'utf8');
  } catch (err) {
    if (file === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return { config: structuredClone(DEFAULTS), from: 'built-in defaults' };
    throw new ConfigError(`cannot read ${where}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(SCHEMA);
  if (!validate(raw)) {
    const lines = (validate.errors ?? []).map((e) => {
      const key = e.keyword === 'additionalProperties' ? `${e.instancePath}/${String(e.params.additionalProperty)}` : e.instancePath;
      const name = key.split('/').filter(Boolean).join('.') || '(top level)';
      if (e.keyword === 'additionalProperties') return `  "${name}": not a key this server knows (check its spelling)`;
      const want = describe(e.instancePath);
      return `  "${name}": ${e.message}${want ? `: it wants ${want}` : ''}`;
    });
    throw new ConfigError(`${where} has ${lines.length} error${lines.length > 1 ? 's' : ''}:\n${lines.join('\n')}`);
  }
  const r = raw as Partial<ServerConfig>;
  const config: ServerConfig = {
    listen: r.listen ?? DEFAULTS.listen,
    port: r.port ?? DEFAULTS.port,
    state: r.state ?? DEFAULTS.state,
    session: {
      command: r.session?.command ?? DEFAULTS.session.command,
      size: r.session?.size ?? DEFAULTS.session.size,
      detachedTimeoutSeconds: r.session?.detachedTimeoutSeconds ?? DEFAULTS.session.detachedTimeoutSeconds,
      memoryMaxMiB: r.session?.memoryMaxMiB ?? DEFAULTS.session.memoryMaxMiB,
      tasksMax: r.session?.tasksMax ?? DEFAULTS.session.tasksMax,
      perUser: r.session?.perUser ?? DEFAULTS.session.perUser,
    },
    pam: { service: r.pam?.service ?? DEFAULTS.pam.service },
    cards: { ...DEFAULTS.cards, ...r.cards },
  };
  const [w, h] = config.session.size.split('x').map(Number) as [number, number];
  if (w < MIN_OUTPUT.width || h < MIN_OUTPUT.height || w > MAX_OUTPUT.width || h > MAX_OUTPUT.height) {
    throw new ConfigError(`${where} has 1 error:\n  "session.size": ${config.session.size} is out of range: it wants ${describe('/session/size')}`);
  }
  return { config, from: where };
}
