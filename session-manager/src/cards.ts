// Smartcards as tokens: what a card in a terminal's reader is (`uid:<hex>`, the UID its reader
// reports; `piv:<fingerprint>`, a card that holds a key), what it proves, and whose it is. A uid
// only identifies (anyone can copy it onto another card), so by default it opens a session alone
// only at the terminal where it was last used; a piv card proves itself by signing a fresh
// challenge with its key, which must be the key bound to the user. The bindings (card → user,
// blocked or not, where last used) live in the store.
import crypto from 'node:crypto';
import { CARD_CHALLENGE_BYTES } from '@waydesk/protocol/wire';
import type { Logger } from './log.js';
import type { CardRecord, Store } from './store.js';

export type CardKind = 'uid' | 'piv';

export interface CardPolicy {
  /** Which kinds of card may log in (besides passwords, which always may). */
  kinds: CardKind[];
  /**
   * When a uid card opens a session without the password: always (Sun Ray's default: the card
   * is the session), at the terminal where it was last used (our default), or never.
   */
  uidAlone: 'always' | 'same-terminal' | 'never';
  /** An unknown card is bound to whoever logs in with a password after inserting it. */
  selfRegister: boolean;
  /** What taking the card out does to its session: detach it (it runs on), or log out. */
  onRemove: 'detach' | 'logout';
}

export const DEFAULT_CARD_POLICY: CardPolicy = { kinds: ['uid', 'piv'], uidAlone: 'same-terminal', selfRegister: false, onRemove: 'detach' };

/** What a card in a reader is, as far as what the terminal reported says. */
export type CardIdentity = { token: string; kind: 'uid' } | { token: string; kind: 'piv'; key: crypto.KeyObject };

/**
 * Tells what a card is from what the terminal read of it: a card with a certificate is a piv
 * card, where the policy takes piv cards; else its UID is what there is.
 */
export function identify(c: { uid: string | null; certificate: string | null }, kinds: CardKind[] = ['uid', 'piv']): CardIdentity | { error: string } {
  if (c.certificate !== null && (kinds.includes('piv') || c.uid === null)) {
    let key: crypto.KeyObject;
    try {
      key = new crypto.X509Certificate(Buffer.from(c.certificate, 'base64')).publicKey;
    } catch {
      return { error: "the card's certificate cannot be read" };
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return { error: "the card's key is not an EC P-256 key, the only kind this server checks" };
    const spki = key.export({ type: 'spki', format: 'der' });
    return { token: `piv:${crypto.createHash('sha256').update(spki).digest('hex')}`, kind: 'piv', key };
  }
  if (c.uid !== null) return { token: `uid:${c.uid}`, kind: 'uid' };
  return { error: 'this card has no UID and no key the server can use' };
}

/** Keeps a challenge for this server's card logins only: a signature made for anything else does not fit. */
const DOMAIN = Buffer.from('waydesk card login\0');

/** A fresh challenge: the card signs the digest; the server verifies against the message. */
export function newChallenge(): { message: Buffer; digest: Buffer } {
  const message = Buffer.concat([DOMAIN, crypto.randomBytes(32)]);
  const digest = crypto.createHash('sha256').update(message).digest();
  if (digest.length !== CARD_CHALLENGE_BYTES) throw new Error('the challenge digest has the wrong size');
  return { message, digest };
}

/** True when `signature` (DER ECDSA) is the card key's signature of this challenge. */
export function signedBy(key: crypto.KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    return crypto.verify('sha256', message, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/** What a card may do at this terminal, by the policy and its binding. */
export type CardDecision =
  | { open: string }
  | { refuse: string; reason: string }
  /** The password is needed: of this user (a known card), or of whoever logs in (an unknown card, to bind it). */
  | { password: { user: string | null; prompt: string } };

export class Cards {
  constructor(
    readonly policy: CardPolicy,
    readonly store: Store,
    private readonly log: Logger,
    private readonly audit: (event: string, fields: Record<string, unknown>) => void,
  ) {}

  /** Decides on a card that identified itself (and proved itself, for piv) at a terminal. */
  async decide(card: CardIdentity, terminal: string): Promise<CardDecision> {
    const ev = { token: card.token, terminal };
    if (!this.policy.kinds.includes(card.kind)) {
      this.#refused(ev, 'kind-not-allowed');
      return { refuse: 'this kind of card is not used here', reason: 'kind-not-allowed' };
    }
    const rec = await this.store.card(card.token);
    if (!rec) {
      if (this.policy.selfRegister) return { password: { user: null, prompt: 'New card: log in to make it yours' } };
      this.#refused(ev, 'not-registered');
      return { refuse: 'card not registered: ask an administrator', reason: 'not-registered' };
    }
    if (rec.blocked) {
      this.#refused(ev, 'blocked');
      return { refuse: 'this card is blocked: ask an administrator', reason: 'blocked' };
    }
    if (card.kind === 'uid') {
      const alone = this.policy.uidAlone === 'always' || (this.policy.uidAlone === 'same-terminal' && rec.lastTerminal === terminal);
      if (!alone) return { password: { user: rec.user, prompt: `Card of ${rec.user}: type your password` } };
    }
    return { open: rec.user };
  }

  #refused(ev: { token: string; terminal: string }, reason: string): void {
    this.log.warn({ ...ev, event: 'card-refused', reason }, 'a card was refused');
    this.audit('card-refused', { ...ev, reason });
  }

  /**
   * After a password login that a card asked for: binds an unknown card to the user (where the
   * policy lets users register their cards), or checks that a known one is theirs. False: the
   * card is someone else's, and opens nothing.
   */
  async passwordGiven(token: string, user: string, terminal: string): Promise<boolean> {
    const rec = await this.store.card(token);
    if (rec) {
      if (rec.user !== user || rec.blocked) {
        this.#refused({ token, terminal }, rec.blocked ? 'blocked' : 'another-user');
        return false;
      }
      return true;
    }
    if (!this.policy.selfRegister) return false;
    await this.store.putCard({ token, user, blocked: false, boundAt: Date.now(), lastTerminal: terminal, lastUsedAt: Date.now() });
    this.log.info({ token, user, terminal, event: 'card-bound' }, 'a card was registered to its user');
    this.audit('card-bound', { token, user, terminal, by: 'self' });
    return true;
  }

  /** A card opened (or re-attached) its user's session at this terminal. */
  async used(token: string, terminal: string): Promise<void> {
    const rec = await this.store.card(token);
    if (!rec) return;
    await this.store.putCard({ ...rec, lastTerminal: terminal, lastUsedAt: Date.now() });
  }

  /** For admins: binds a card to a user (replacing a binding), blocks or unblocks it, or forgets it. */
  async bind(token: string, user: string): Promise<CardRecord> {
    const old = await this.store.card(token);
    const rec: CardRecord = { token, user, blocked: false, boundAt: Date.now(), lastTerminal: null, lastUsedAt: null };
    await this.store.putCard(rec);
    this.audit('card-bound', { token, user, by: 'admin', ...(old ? { was: old.user } : {}) });
    return rec;
  }

  async setBlocked(token: string, blocked: boolean): Promise<CardRecord | null> {
    const rec = await this.store.card(token);
    if (!rec) return null;
    const next = { ...rec, blocked };
    await this.store.putCard(next);
    this.audit(blocked ? 'card-blocked' : 'card-unblocked', { token, user: rec.user });
    return next;
  }

  async forget(token: string): Promise<boolean> {
    const rec = await this.store.card(token);
    if (!rec) return false;
    await this.store.removeCard(token);
    this.audit('card-forgotten', { token, user: rec.user });
    return true;
  }
}

/** What an admin may name a card by: a token as `waydesk-server cards` lists it. */
export const CARD_TOKEN = /^(?:uid:[0-9a-f]{2,64}|piv:[0-9a-f]{64})$/;
