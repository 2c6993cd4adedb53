// Card logins, between the terminal endpoint and the sessions: a card that identifies itself
// (and proves itself, for a piv card) opens its user's session as a password login would, the
// same session wherever it is shown, so moving a card between terminals is a re-route.
import { PIV_PIN, type CardBody } from '@waydesk/protocol/wire';
import { identify, newChallenge, signedBy, type CardIdentity, type Cards } from './cards.js';
import type { Logger } from './log.js';
import type { FailureThrottle } from './throttle.js';
import type { Sessions } from './sessions.js';
import { CardPinNeeded, waitingKey, type CardAuth, type CardOutcome, type LoginResult } from './terminal-endpoint.js';

type From = { remote: string; terminal: string };

/**
 * Where a card was used, as the policy compares it: the terminal's id (its own word) and its
 * address (the network's), so a program elsewhere that names a terminal's id is not that terminal.
 */
function placeOf(from: From): string {
  return `${from.terminal}@${waitingKey(from.remote)}`;
}

/** The user a session key belongs to (`user:NAME`, `user:NAME#2`). */
function userOf(key: string): string {
  return key.replace(/^user:/, '').replace(/#\d+$/, '');
}

export class CardLogin implements CardAuth {
  constructor(
    private readonly cards: Cards,
    private readonly sessions: Sessions,
    private readonly log: Logger,
    private readonly audit: (event: string, fields: Record<string, unknown>) => void,
    /** Shared with password logins: refused cards and wrong PINs count where wrong passwords do. */
    private readonly throttle: FailureThrottle,
  ) {}

  /** The keys a card's failures count under (as password logins name terminals and addresses). */
  #keys(from: From, token?: string): string[] {
    return [`terminal:${from.terminal}`, `address:${from.remote.replace(/:\d+$/, '')}`, ...(token ? [`card:${token}`] : [])];
  }

  /** Counted under the card only where it is registered: made-up UIDs would only fill the throttle. */
  async #cardKeys(from: From, token: string): Promise<string[]> {
    return this.#keys(from, (await this.cards.store.card(token)) ? token : undefined);
  }

  /** A refusal: counted, then said. */
  async #refuse(from: From, token: string | undefined, message: string): Promise<CardOutcome> {
    this.throttle.failed(token ? await this.#cardKeys(from, token) : this.#keys(from));
    return { message };
  }

  async inserted(c: Extract<CardBody, { event: 'inserted' }>, from: From, prove: (digest: Buffer, pin?: string) => Promise<Buffer>): Promise<CardOutcome> {
    const id = identify(c, this.cards.policy.kinds);
    const ev = { terminal: from.terminal, remote: from.remote };
    const wait = this.throttle.waitFor(this.#keys(from, 'error' in id ? undefined : id.token));
    if (wait > 0) {
      this.log.warn({ ...ev, event: 'card-throttled', waitMs: wait }, 'a card refused: too many failures here');
      this.audit('card-throttled', { ...ev, waitMs: wait });
      return { message: `too many failed logins: try again in ${Math.ceil(wait / 1000)} s` };
    }
    if ('error' in id) {
      this.log.warn({ ...ev, atr: c.atr, event: 'card-refused', reason: 'unusable', why: id.error }, 'a card was refused');
      this.audit('card-refused', { ...ev, atr: c.atr, reason: 'unusable' });
      return this.#refuse(from, undefined, id.error);
    }
    if (id.kind !== 'piv' || !this.cards.policy.kinds.includes('piv')) return this.#proved(id, from);
    // a fresh challenge for every insertion: a recorded answer fits no other
    const challenge = newChallenge();
    const key = id.key;
    const attempt = async (pin?: string): Promise<CardOutcome> => {
      // checked here: a PIN the card cannot take is not sent to it (nor does it cost a try)
      if (pin !== undefined && !PIV_PIN.test(pin)) return { pin: { prompt: 'Type the PIN of your card', message: 'a PIN has 6 to 8 characters', submit: (p) => attempt(p) } };
      let signature: Buffer;
      try {
        signature = await prove(challenge.digest, pin);
      } catch (err) {
        if (err instanceof CardPinNeeded) {
          // the PIN itself is never logged: only that one was wrong
          if (err.blocked) {
            this.log.warn({ ...ev, token: id.token, event: 'card-refused', reason: 'pin-blocked' }, "a card's PIN is blocked");
            this.audit('card-refused', { ...ev, token: id.token, reason: 'pin-blocked' });
            return this.#refuse(from, id.token, "the card's PIN is blocked: ask an administrator");
          }
          if (pin !== undefined) {
            this.log.warn({ ...ev, token: id.token, event: 'card-pin-wrong', triesLeft: err.triesLeft }, 'a wrong PIN was typed for a card');
            this.audit('card-pin-wrong', { ...ev, token: id.token, triesLeft: err.triesLeft });
            this.throttle.failed(await this.#cardKeys(from, id.token));
          }
          const message = pin === undefined ? '' : err.triesLeft === null ? 'wrong PIN' : `wrong PIN: ${err.triesLeft} ${err.triesLeft === 1 ? 'try' : 'tries'} left`;
          return { pin: { prompt: 'Type the PIN of your card', message, submit: (p) => attempt(p) } };
        }
        this.log.warn({ ...ev, token: id.token, err: (err as Error).message, event: 'card-proof-missing' }, 'a card did not answer its challenge');
        return { message: 'the card did not answer: try it again' };
      }
      if (!signedBy(key, challenge.message, signature)) {
        this.log.warn({ ...ev, token: id.token, event: 'card-refused', reason: 'bad-signature' }, 'a card did not prove it holds its key');
        this.audit('card-refused', { ...ev, token: id.token, reason: 'bad-signature' });
        return this.#refuse(from, id.token, 'card check failed: ask an administrator');
      }
      return this.#proved(id, from);
    };
    return attempt();
  }

  /** A card that identified itself, and proved itself where it can: what the policy and its binding open. */
  async #proved(id: CardIdentity, from: From): Promise<CardOutcome> {
    const d = await this.cards.decide(id, placeOf(from));
    if ('refuse' in d) return this.#refuse(from, id.token, d.refuse);
    if ('open' in d) {
      const r = await this.sessions.cardLogin(d.open, from);
      if ('key' in r) {
        this.throttle.succeeded(`card:${id.token}`);
        await this.cards.used(id.token, placeOf(from));
      }
      return 'key' in r ? r : { message: r.message };
    }
    const want = d.password.user;
    const after = async (r: LoginResult): Promise<LoginResult> => {
      if ('key' in r) {
        if (!(await this.cards.passwordGiven(id.token, userOf(r.key), placeOf(from)))) {
          // the password was someone else's than the card's: their session stays theirs, not this card's
          return { message: 'this card belongs to someone else: their session is not opened for it' };
        }
        await this.cards.used(id.token, placeOf(from));
        return r;
      }
      const change = r.changePassword;
      return change ? { ...r, changePassword: async (pw) => after(await change(pw)) } : r;
    };
    return {
      password: {
        user: want,
        prompt: d.password.prompt,
        login: async (body) => {
          if (want !== null && body.user !== want) return { message: `this card is ${want}'s: type that user's password` };
          return after(await this.sessions.login(body, from));
        },
      },
    };
  }

  async removed(key: string, from: From): Promise<'detach' | 'ended'> {
    if (this.cards.policy.onRemove === 'detach') return 'detach';
    this.log.info({ session: key, terminal: from.terminal, event: 'card-logout' }, 'the card was taken out: logging its session out');
    await this.sessions.logout(key, 'card out: you are logged out');
    return 'ended';
  }
}
