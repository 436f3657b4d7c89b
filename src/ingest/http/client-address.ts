import type { IncomingMessage } from 'node:http';
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
export type ProxyTrust = (addr: string, i: number) => boolean;

export function proxyTrust(setting: HttpConfig['trustProxy']): ProxyTrust {
  const proxies = setting === true ? LOOPBACK_PROXIES : setting === false ? [] : setting;
  // an empty AddressAllowList allows everyone, the opposite of what an empty proxy list means
  if (proxies.length === 0) return () => false;
  const list = new AddressAllowList(proxies);
  return (addr) => list.allows(addr);
}

/**
 * The client address as resolved through trusted proxies; what the allow-list,
 * the rate limit and the log lines all use, on the fast path and in Express
 * alike. The walk Express's `req.ip` does (proxy-addr): the socket peer, then
 * X-Forwarded-For from right to left (split at commas, spaces trimmed), up to
 * and including the first hop `trust` does not vouch for. 'unknown' when the
 * socket is already gone.
 */
export function resolveClientAddress(req: IncomingMessage, trust: ProxyTrust): string {
  const peer = req.socket.remoteAddress;
  if (peer === undefined) return 'unknown';
  const forwarded = req.headers['x-forwarded-for'];
  if (typeof forwarded !== 'string' || forwarded === '' || !trust(peer, 0)) return peer;
  let hop = peer;
  let i = 1;
  let end = forwarded.length;
  let start = end;
  for (let at = forwarded.length - 1; at >= -1; at--) {
    const c = at < 0 ? 0x2c : forwarded.charCodeAt(at);
    if (c === 0x20) {
      if (start === end) start = end = at;
    } else if (c === 0x2c) {
      if (start !== end) {
        hop = forwarded.substring(start, end);
        if (!trust(hop, i++)) return hop;
      }
      start = end = at;
    } else {
      start = at;
    }
  }
  // every listed hop was a trusted proxy: the leftmost is the client
  return hop;
}

/** resolveClientAddress for a request Express routes, with its app's `trust proxy` setting. */
export function clientAddress(req: Request): string {
  return resolveClientAddress(req, req.app.get('trust proxy fn') as ProxyTrust);
}
