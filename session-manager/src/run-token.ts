import crypto from 'node:crypto';

/**
 * The single-user mode's per-run secret: 144 random bits, base64url, printed in the address
 * the user opens (after `#`, so it never reaches a log or a Referer header). It stays the
 * authentication for unattended kiosks after logins exist.
 */
export function createRunToken(): string {
  return crypto.randomBytes(18).toString('base64url');
}

/** Compares in constant time: hashing first makes the lengths equal, as timingSafeEqual needs. */
export function tokenMatches(expected: string, presented: string): boolean {
  const a = crypto.createHash('sha256').update(expected).digest();
  const b = crypto.createHash('sha256').update(presented).digest();
  return crypto.timingSafeEqual(a, b);
}
