import type { Request } from 'express';
import type { HttpConfig } from '../../config/schema';
import { AddressAllowList } from '../../common/cidr';

/** What `trustProxy: true` trusts: a proxy on this host (nginx, a sidecar), never any client. */
export const LOOPBACK_PROXIES: readonly string[] = Object.freeze(['127.0.0.0/8', '::1']);

/**
 * Express's `trust proxy` function for the `trustProxy` setting: whether the
 * hop at `addr` (the socket peer for i = 0, then X-Forwarded-For from right to
 * left) is a proxy of ours. Express stops at the first hop that is not, so the
 * client address is the rightmost untrusted one and a header sent by anyone
 * else is ignored.
 */
export function proxyTrust(setting: HttpConfig['trustProxy']): (addr: string, i: number) => boolean {
  const proxies = setting === true ? LOOPBACK_PROXIES : setting === false ? [] : setting;
  // an empty AddressAllowList allows everyone, the opposite of what an empty proxy list means
  if (proxies.length === 0) return () => false;
  const list = new AddressAllowList(proxies);
  return (addr) => list.allows(addr);
}

/** The client address as resolved through trusted proxies; what the allow-list, the rate limit and the log lines all use. */
export function clientAddress(req: Request): string {
  return req.ip ?? 'unknown';
}
