import type { IncomingMessage, ServerResponse } from 'node:http';
import querystring from 'node:querystring';
import type { HttpResponseCounts, IngestCounters } from '../../telemetry/counters';
import type { RateLimitedLog } from '../../telemetry/rate-limited-log';
import { type Asked, countAnswer, type FailureAnswers } from './answers';
import type { Authenticator } from './auth';
import { type ProxyTrust, resolveClientAddress } from './client-address';
import type { UrlHandler, UrlRoute } from './endpoint-group';
import type { ClientRateLimit } from './rate-limit';
import { decodes, malformedPath } from './url-encoding';

/**
 * Serves a request and returns true, or returns false having touched nothing
 * (no counter, no token, no answer), so the request can go on to Express.
 */
export type FastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

/** A `Routes.onUrl` route as the fast path serves it. */
export interface FastRoute {
  readonly route: UrlRoute;
  /** Its Express path (the key of its failure log lines). */
  readonly path: string;
  readonly group: string;
  readonly guard: Authenticator;
  readonly handler: UrlHandler;
}

/** The app's own rules: the fast path holds the same objects as Express (one rate-limit bucket per client, one log limiter). */
export interface FastPathDeps {
  readonly routes: readonly FastRoute[];
  readonly trust: ProxyTrust;
  readonly limit: ClientRateLimit | undefined;
  readonly failures: FailureAnswers;
  readonly limited: RateLimitedLog;
  readonly counts: { counters: IngestCounters; responses: HttpResponseCounts };
  readonly health: (req: Asked, res: ServerResponse) => void;
}

interface Compiled extends FastRoute {
  readonly literals: readonly string[];
  /** Required parameters, then optional ones. */
  readonly names: readonly string[];
  readonly min: number;
}

const HEALTH = '/health';

/**
 * The GETs and HEADs of URL-only routes (/feed, /imp, /tdiff), and /health,
 * answered without Express's per-request machinery, in front of the app in
 * the same 'request' listener. The same rules in the same order as the app:
 * count the answer, rate limit, the group's credentials, a malformed path
 * (only after them), then the route's handler; the same answers (answers.ts).
 *
 * It takes only what it can route exactly as Express would; anything else
 * goes on to Express untouched: other methods and paths (404s included), a
 * GET with a body, a URL that is not origin-form or holds characters
 * Express's URL parser treats specially (whitespace, `#`), and a path that
 * differs only in letter case or trailing slashes from a route's.
 */
export function createFastPath(deps: FastPathDeps): FastPath {
  const routes: Compiled[] = deps.routes.map((r) => {
    const names = [...(r.route.params ?? []), ...(r.route.optional ?? [])];
    return { ...r, literals: r.route.prefix.slice(1).split('/'), names, min: r.route.params?.length ?? 0 };
  });
  const { trust, limit, failures, limited, counts, health } = deps;

  return (req, res) => {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') return false;
    const url = req.url ?? '';
    const at = plainPathEnd(url);
    if (at < 0 || hasBody(req)) return false;
    const pathname = url.slice(0, at);
    if (pathname === HEALTH) {
      countAnswer(res, counts, () => 'health');
      health(req, res);
      return true;
    }
    // as Express's non-strict routing: one trailing slash is the same path
    const path = pathname.length > 1 && pathname.charCodeAt(pathname.length - 1) === 0x2f ? pathname.slice(0, -1) : pathname;
    const segments = path.split('/');
    for (const r of routes) {
      const params = match(r, segments);
      if (params === undefined) continue;
      // a parameter that does not decode in a path that does (not expected) would get Express's own 400 before the credentials: Express answers it
      if (params.malformed && !(pathname.includes('%') && !decodes(pathname))) return false;
      countAnswer(res, counts, () => r.group);
      try {
        const client = resolveClientAddress(req, trust);
        limit?.admit(client);
        r.guard.check(client, req.headers.authorization, pathname);
        if (params.malformed) throw malformedPath({ url, client }, pathname, params.values, limited);
        const query = querystring.parse(at < url.length ? url.slice(at + 1) : '');
        r.handler({ method, url, params: params.values, query, headers: req.headers, client }, res);
      } catch (err) {
        failures.answer(req, res, err, r.path, pathname);
      }
      return true;
    }
    return false;
  };
}

/**
 * Where the path of an origin-form URL ends (its length when there is no
 * query), or -1 for a URL Express's parser (parseurl) would not split at the
 * first `?` alone: not starting with `/`, or holding whitespace or `#`.
 */
function plainPathEnd(url: string): number {
  if (url.charCodeAt(0) !== 0x2f) return -1;
  let at = -1;
  for (let i = 1; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x3f) {
      if (at < 0) at = i;
    } else if (c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x20 || c === 0x23 || c === 0xa0 || c === 0xfeff) {
      return -1;
    }
  }
  return at < 0 ? url.length : at;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * The route's parameters for `segments` (the path split at `/`, the first
 * empty), decoded as Express decodes them; one that does not decode is kept
 * as sent and `malformed` set. Literals match exactly; a parameter is never
 * empty.
 */
function match(r: Compiled, segments: readonly string[]): { values: Record<string, string>; malformed: boolean } | undefined {
  const given = segments.length - 1 - r.literals.length;
  if (given < r.min || given > r.names.length) return undefined;
  for (let i = 0; i < r.literals.length; i++) if (segments[i + 1] !== r.literals[i]) return undefined;
  const values: Record<string, string> = {};
  let malformed = false;
  for (let i = 0; i < given; i++) {
    const raw = segments[r.literals.length + 1 + i]!;
    if (raw === '') return undefined;
    let value = raw;
    if (raw.includes('%')) {
      try {
        value = decodeURIComponent(raw);
      } catch {
        malformed = true;
      }
    }
    values[r.names[i]!] = value;
  }
  return { values, malformed };
}
