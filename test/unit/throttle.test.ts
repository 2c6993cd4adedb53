// Failures counted per key: a few free, then waits that double up to a minute; an address gets
// more free ones than a user or a terminal (many terminals can share one); the window forgets.
import { describe, expect, it } from 'vitest';
import { FailureThrottle } from '../../session-manager/src/throttle.js';

describe('the failure throttle', () => {
  it('lets three failures of a user or a terminal go, then makes each next try wait twice as long, up to a minute', () => {
    const t = new FailureThrottle();
    const keys = ['user:alice', 'terminal:desk-1'];
    for (let i = 0; i < 3; i++) {
      expect(t.waitFor(keys, 1000 * i)).toBe(0);
      t.failed(keys, 1000 * i);
    }
    // three failures: the next waits 1 s from the last, then 2 s, 4 s …
    expect(t.waitFor(keys, 2000)).toBe(1000);
    expect(t.waitFor(keys, 3000)).toBe(0);
    t.failed(keys, 3000);
    expect(t.waitFor(keys, 3000)).toBe(2000);
    for (let i = 0; i < 10; i++) t.failed(keys, 4000);
    expect(t.waitFor(keys, 4000)).toBe(60_000);
    // one key's success clears only that key
    t.succeeded('user:alice');
    expect(t.waitFor(['user:alice'], 4000)).toBe(0);
    expect(t.waitFor(['terminal:desk-1'], 4000)).toBe(60_000);
  });

  it('gives an address ten free failures, and forgets failures older than ten minutes', () => {
    const t = new FailureThrottle();
    for (let i = 0; i < 9; i++) t.failed(['address:10.0.0.5'], 0);
    expect(t.waitFor(['address:10.0.0.5'], 0)).toBe(0);
    t.failed(['address:10.0.0.5'], 0);
    expect(t.waitFor(['address:10.0.0.5'], 0)).toBe(1000);
    expect(t.waitFor(['address:10.0.0.5'], 10 * 60_000 + 1)).toBe(0);
    // a failure after the window starts a new count
    t.failed(['address:10.0.0.5'], 10 * 60_000 + 1);
    expect(t.waitFor(['address:10.0.0.5'], 10 * 60_000 + 1)).toBe(0);
  });

  it('forgets other keys before a user\'s when it is full, so a flood cannot clear a guessed account', () => {
    const t = new FailureThrottle();
    for (let i = 0; i < 4; i++) t.failed(['user:alice'], 0);
    for (let i = 0; i < 5000; i++) t.failed([`card:uid:${i.toString(16)}`], 1);
    expect(t.waitFor(['user:alice'], 0)).toBe(2000);
  });
});
