// Failures counted per key (a user, a terminal, an address, a card): past a few within a window,
// each further attempt under that key must wait, twice as long each time, up to a minute. Logins
// and cards use it alike, so a guesser gains nothing by switching between them.

/**
 * Failures a key may have within the window before it must wait; the wait doubles from there.
 * An address has more: a lab's terminals behind one NAT, or browsers behind one proxy, share it.
 */
const FREE_FAILURES = 3;
const FREE_FAILURES_ADDRESS = 10;
const FAILURE_WINDOW_MS = 10 * 60_000;
const MAX_WAIT_MS = 60_000;
/** Keys kept at most: the oldest go first. */
const MAX_KEYS = 4096;

interface FailureCount {
  n: number;
  last: number;
}

export class FailureThrottle {
  readonly #failures = new Map<string, FailureCount>();

  /** How long these keys must still wait before another attempt, in ms (0: go ahead). */
  waitFor(keys: string[], now = Date.now()): number {
    let wait = 0;
    for (const k of keys) {
      const f = this.#failures.get(k);
      if (!f || now - f.last > FAILURE_WINDOW_MS) continue;
      const free = k.startsWith('address:') ? FREE_FAILURES_ADDRESS : FREE_FAILURES;
      if (f.n < free) continue;
      wait = Math.max(wait, f.last + Math.min(MAX_WAIT_MS, 1000 * 2 ** (f.n - free)) - now);
    }
    return wait;
  }

  failed(keys: string[], now = Date.now()): void {
    for (const k of keys) {
      const f = this.#failures.get(k);
      // deleted and set again, so the map's order is by last failure: the oldest go first below
      this.#failures.delete(k);
      this.#failures.set(k, !f || now - f.last > FAILURE_WINDOW_MS ? { n: 1, last: now } : { n: f.n + 1, last: now });
    }
    if (this.#failures.size > MAX_KEYS) {
      // past the bound the oldest go, users' last: a flood under other keys must not clear the
      // count of the account someone is guessing at
      const keys = [...this.#failures.keys()];
      const order = [...keys.filter((k) => !k.startsWith('user:')), ...keys.filter((k) => k.startsWith('user:'))];
      for (const k of order.slice(0, MAX_KEYS / 4)) this.#failures.delete(k);
    }
  }

  /** A success under this key: its count starts over (only its own: one good account must not clear an address under attack). */
  succeeded(key: string): void {
    this.#failures.delete(key);
  }
}
