// Card logins, between the terminal endpoint and the sessions: a card that identifies itself
// (and proves itself, for a piv card) opens its user's session as a password login would, the
// same session wherever it is shown, so moving a card between terminals is a re-route.
import type { CardBody } from '@waydesk/protocol/wire';
import { identify, newChallenge, signedBy, type Cards } from './cards.js';
import type { Logger } from './log.js';
import type { Sessions } from './sessions.js';
import type { CardAuth, CardOutcome, LoginResult } from './terminal-endpoint.js';

type From = { remote: string; terminal: string };

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
  ) {}

  async inserted(c: Extract<CardBody, { event: 'inserted' }>, from: From, prove: (digest: Buffer) => Promise<Buffer>): Promise<CardOutcome> {
    const id = identify(c, this.cards.policy.kinds);
    const ev = { terminal: from.terminal, remote: from.remote };
    if ('error' in id) {
      this.log.warn({ ...ev, atr: c.atr, event: 'card-refused', reason: id.error }, 'a card was refused');
      this.audit('card-refused', { ...ev, atr: c.atr, reason: id.error });
      return { message: `${id.error}: log in with your password` };
    }
    if (id.kind === 'piv' && this.cards.policy.kinds.includes('piv')) {
      // a fresh challenge for every insertion: a recorded answer fits no other
      const challenge = newChallenge();
      let signature: Buffer;
      try {
        signature = await prove(challenge.digest);
      } catch (err) {
        this.log.warn({ ...ev, token: id.token, err: (err as Error).message, event: 'card-proof-missing' }, 'a card did not answer its challenge');
        return { message: 'the card did not answer: try it again' };
      }
      if (!signedBy(id.key, challenge.message, signature)) {
        this.log.warn({ ...ev, token: id.token, event: 'card-refused', reason: 'bad-signature' }, 'a card did not prove it holds its key');
        this.audit('card-refused', { ...ev, token: id.token, reason: 'bad-signature' });
        return { message: 'card check failed: ask an administrator' };
      }
    }
    const d = await this.cards.decide(id, from.terminal);
    if ('refuse' in d) return { message: d.refuse };
    if ('open' in d) {
      const r = await this.sessions.cardLogin(d.open, from);
      if ('key' in r) await this.cards.used(id.token, from.terminal);
      return 'key' in r ? r : { message: r.message };
    }
    const want = d.password.user;
    const after = async (r: LoginResult): Promise<LoginResult> => {
      if ('key' in r) {
        if (!(await this.cards.passwordGiven(id.token, userOf(r.key), from.terminal))) {
          // the password was someone else's than the card's: their session stays theirs, not this card's
          return { message: 'this card belongs to someone else: their session is not opened for it' };
        }
        await this.cards.used(id.token, from.terminal);
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
    await this.sessions.logout(key, 'your card was taken out: you are logged out');
    return 'ended';
  }
}
