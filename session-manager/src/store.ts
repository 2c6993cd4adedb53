import { ClassicLevel } from 'classic-level';

/** A running desktop as the server left it: enough to find it again after a restart. */
export interface SessionRecord {
  /** The session's key: what its user authenticated as (`user:NAME`). */
  key: string;
  user: string;
  /** The compositor's pid as the server spawned it (never taken from the compositor's own word). */
  pid: number;
  /** Its link socket, in the server's root-only directory. */
  ipc: string;
  /** The server's parent of its runtime directory, removed when the session ends. */
  runtimeParent?: string | null;
  startedAt: number;
  /** The terminal showing it (null: detached), and when one last attached. */
  terminal?: string | null;
  lastAttachedAt?: number | null;
}

/** A terminal as the server last saw it: for admins (which terminals exist, where, what they show). */
export interface TerminalRecord {
  id: string;
  kind: string;
  /** Its address as the server saw the connection. */
  address: string;
  displays: Array<{ width: number; height: number; refreshMhz: number }>;
  lastSeen: number;
  /** The session it shows (null: none, e.g. at the greeter). */
  session: string | null;
}

/** A card bound to a user: whose it is, whether it may be used, where it was last used. */
export interface CardRecord {
  /** `uid:<hex>` or `piv:<sha-256 of its key>`. */
  token: string;
  user: string;
  blocked: boolean;
  boundAt: number;
  /** The terminal where it last opened its session (a uid card alone opens it only there, by default). */
  lastTerminal: string | null;
  lastUsedAt: number | null;
}

/** What the server keeps across its own restarts: running sessions, cards and an audit trail. */
export interface Store {
  sessions(): Promise<SessionRecord[]>;
  putSession(r: SessionRecord): Promise<void>;
  removeSession(key: string): Promise<void>;
  terminals(): Promise<TerminalRecord[]>;
  putTerminal(t: TerminalRecord): Promise<void>;
  cards(): Promise<CardRecord[]>;
  card(token: string): Promise<CardRecord | null>;
  putCard(c: CardRecord): Promise<void>;
  removeCard(token: string): Promise<void>;
  audit(event: string, fields: Record<string, unknown>): Promise<void>;
  /** The audit trail, oldest first (at most `limit` entries, the newest ones). */
  auditTrail(limit?: number): Promise<Array<{ at: number; event: string } & Record<string, unknown>>>;
  close(): Promise<void>;
}

/**
 * The store on `level` (classic-level) in the state directory: one process at a time holds it
 * (LevelDB's lock), which also keeps a second server from adopting the same desktops. Running
 * sessions never depend on it: it is read once at start and written as sessions come and go.
 */
export class LevelStore implements Store {
  readonly #db: ClassicLevel<string, unknown>;
  #seq = 0;

  private constructor(db: ClassicLevel<string, unknown>) {
    this.#db = db;
  }

  static async open(dir: string): Promise<LevelStore> {
    const db = new ClassicLevel<string, unknown>(dir, { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new Error(`cannot open the store in ${dir}: ${cause} (is another waydesk-server running with this state directory?)`);
    }
    return new LevelStore(db);
  }

  async sessions(): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    for await (const [, v] of this.#db.iterator({ gte: 'session/', lt: 'session0' })) {
      const r = v as Partial<SessionRecord>;
      if (typeof r.key === 'string' && typeof r.user === 'string' && Number.isInteger(r.pid) && typeof r.ipc === 'string') out.push(r as SessionRecord);
    }
    return out;
  }

  putSession(r: SessionRecord): Promise<void> {
    return this.#db.put(`session/${r.key}`, r);
  }

  removeSession(key: string): Promise<void> {
    return this.#db.del(`session/${key}`);
  }

  async terminals(): Promise<TerminalRecord[]> {
    const out: TerminalRecord[] = [];
    for await (const [, v] of this.#db.iterator({ gte: 'terminal/', lt: 'terminal0' })) out.push(v as TerminalRecord);
    return out;
  }

  putTerminal(t: TerminalRecord): Promise<void> {
    return this.#db.put(`terminal/${t.id}`, t);
  }

  async cards(): Promise<CardRecord[]> {
    const out: CardRecord[] = [];
    for await (const [, v] of this.#db.iterator({ gte: 'card/', lt: 'card0' })) out.push(v as CardRecord);
    return out;
  }

  async card(token: string): Promise<CardRecord | null> {
    try {
      return ((await this.#db.get(`card/${token}`)) as CardRecord | undefined) ?? null;
    } catch (err) {
      if ((err as { code?: string }).code === 'LEVEL_NOT_FOUND') return null;
      throw err;
    }
  }

  putCard(c: CardRecord): Promise<void> {
    return this.#db.put(`card/${c.token}`, c);
  }

  removeCard(token: string): Promise<void> {
    return this.#db.del(`card/${token}`);
  }

  audit(event: string, fields: Record<string, unknown>): Promise<void> {
    // time-ordered keys; a counter keeps events of the same millisecond apart
    const at = Date.now();
    return this.#db.put(`audit/${String(at).padStart(15, '0')}-${String(this.#seq++ % 1e6).padStart(6, '0')}`, { at, event, ...fields });
  }

  async auditTrail(limit = 1000): Promise<Array<{ at: number; event: string } & Record<string, unknown>>> {
    const out: Array<{ at: number; event: string } & Record<string, unknown>> = [];
    for await (const [, v] of this.#db.iterator({ gte: 'audit/', lt: 'audit0', reverse: true, limit })) {
      out.push(v as { at: number; event: string } & Record<string, unknown>);
    }
    return out.reverse();
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
