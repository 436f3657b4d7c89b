import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ParsedUrlQuery } from 'node:querystring';
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { HttpConfig } from '../../config/schema';
import { RateLimitedLog } from '../../telemetry/rate-limited-log';
import { type Asked, countAnswer, FailureAnswers, NO_GROUP, sendJson } from './answers';
import { Authenticator } from './auth';
import { clientAddress, proxyTrust } from './client-address';
import { expressPath, type EndpointGroup, type HttpMethod, type UrlRequest } from './endpoint-group';
import { createFastPath, type FastPath, type FastRoute } from './fast-path';
import { HttpError, HttpErrorCode } from './http-error';
import type { HttpIngest } from './http-ingest';
import { UrlEncoding } from './url-encoding';
import { ClientRateLimit } from './rate-limit';

/** res.locals key: the endpoint group a request was routed to (HttpResponseCounts' group). */
const GROUP = 'endpointGroup';

/** Realm in WWW-Authenticate challenges (collectd/libcurl sends credentials only after one). */
const REALM = 'carbon-fanout';

/** Each app's fast path (createFastPath), for requestListener. */
const fastPaths = new WeakMap<Express, FastPath>();

/**
 * The Express app: /health, then the rate limit, then each enabled group
 * behind its own credentials (a malformed path is refused only after them),
 * then 404; every error becomes a plain answer naming what was wrong, its
 * stable code in the X-Carbon-Fanout-Error header (HttpErrorCode;
 * CF_ERR_HTTP_INTERNAL for an unexpected failure, logged rate-limited). Built
 * separately from the listener so tests can drive it with supertest.
 *
 * Alongside it, its fast path (fast-path.ts) for the GETs of URL-only routes
 * and /health, holding the same rate limit, guards, counters and answers;
 * requestListener(app) puts it in front of the app.
 */
export function createHttpApp(http: HttpConfig, ingest: HttpIngest, groups: readonly EndpointGroup[]): Express {
  const { counters, limited, log, now } = ingest.deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const trust = proxyTrust(http.trustProxy);
  app.set('trust proxy', trust);
  const failures = new FailureAnswers(counters, new RateLimitedLog(log, undefined, now));
  const paths = new UrlEncoding(limited);
  const health = (req: Asked, res: ServerResponse): void => sendJson(req, res, 200, { health: 'ok' });
  app.use((_req, res, next) => {
    countAnswer(res, ingest.deps, () => (typeof res.locals[GROUP] === 'string' ? res.locals[GROUP] : NO_GROUP));
    next();
  });
  app.get('/health', (req, res) => {
    res.locals[GROUP] = 'health';
    health(req, res);
  });
  app.use(paths.escape());

  // Each route is registered twice: first to say which group a request is for, before the rate limit
  // may refuse it (so a 429 is counted against the group it was meant for), then behind the group's auth.
  const routes: { methods: readonly HttpMethod[]; path: string; handler: RequestHandler; group: EndpointGroup }[] = [];
  const guards = new Map(groups.map((g) => [g, new Authenticator(groupAuth(http, g.name), REALM, { counters, limited })]));
  // a URL-only GET goes on the fast path only while no Express GET route registered before it could take the request first
  const fast: FastRoute[] = [];
  let expressGets = false;
  for (const group of groups) {
    group.mount({
      on: (methods, path, handler) => {
        routes.push({ methods, path, handler, group });
        expressGets ||= methods.includes('get');
      },
      onUrl: (methods, route, handler) => {
        const path = expressPath(route);
        routes.push({ methods, path, handler: (req, res) => handler(urlRequest(req), res), group });
        if (methods.includes('get') && !expressGets) fast.push({ route, path, group: group.name, guard: guards.get(group)!, handler });
      },
    });
  }
  for (const r of routes) {
    const name = r.group.name;
    for (const m of r.methods)
      app[m](r.path, (_req: Request, res: Response, next: NextFunction) => {
        res.locals[GROUP] = name;
        next();
      });
  }
  const limit = http.rateLimit === undefined ? undefined : new ClientRateLimit(http.rateLimit.requestsPerSecond, http.rateLimit.burst, { counters, now });
  if (limit !== undefined) app.use(limit.middleware());
  const restore = paths.restore();
  const refuse = paths.refuse();
  const checks = new Map([...guards].map(([g, guard]) => [g, guard.middleware()]));
  for (const r of routes) for (const m of r.methods) app[m](r.path, restore, checks.get(r.group)!, refuse, r.handler);

  app.use((req: Request) => {
    throw new HttpError(404, HttpErrorCode.NOT_FOUND, `no endpoint ${req.method} ${paths.originalPath(req)}`);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    failures.answer(req, res, err, typeof req.route?.path === 'string' ? req.route.path : 'none', req.path);
  });
  fastPaths.set(app, createFastPath({ routes: fast, trust, limit, failures, limited, counts: ingest.deps, health }));
  return app;
}

/**
 * The 'request' listener for a server of `app`: its fast path, then the app
 * for every request the fast path declines (other methods and paths, bodies,
 * webhooks). The app alone (supertest's request(app)) answers the same, slower.
 */
export function requestListener(app: Express): (req: IncomingMessage, res: ServerResponse) => void {
  const fast = fastPaths.get(app);
  if (fast === undefined) return app;
  return (req, res) => {
    if (!fast(req, res)) app(req, res);
  };
}

/** What a URL-only handler sees of a request Express routed. */
function urlRequest(req: Request): UrlRequest {
  return { method: req.method, url: req.originalUrl, params: req.params as Record<string, string | undefined>, query: req.query as ParsedUrlQuery, headers: req.headers, client: clientAddress(req) };
}

function groupAuth(http: HttpConfig, name: string): HttpConfig['auth'] {
  const group = (http as unknown as Record<string, { auth?: HttpConfig['auth'] } | undefined>)[name];
  return group?.auth ?? http.auth;
}
