import crypto from 'node:crypto';

/** A fixed-length digest, so comparisons take the same time whatever the secret's length. */
export function secretDigest(s: string): Buffer {
  return crypto.createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time membership: every candidate digest is compared, whatever matches. */
export function matchesAnyDigest(candidates: readonly Buffer[], presented: string): boolean {
  const p = secretDigest(presented);
  let found = false;
  for (const c of candidates) found = crypto.timingSafeEqual(c, p) || found;
  return found;
}

/** The user and password of an HTTP Basic credential (the base64 part after `Basic `); no colon: all user, empty password. */
export function decodeBasic(value: string): { user: string; password: string } {
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? { user: decoded, password: '' } : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
