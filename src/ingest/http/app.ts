import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { HttpConfig } from '../../config/schema';
import { RateLimitedLog } from '../../telemetry/rate-limited-log';
import { Authenticator } from './auth';
import { proxyTrust } from './client-address';
import type { EndpointGroup, HttpMethod } from './endpoint-group';
import { ERROR_CODE_HEADER, HttpError, HttpErrorCode, rejectionText } from './http-error';
import type { HttpIngest } from './http-ingest';
import { UrlEncoding } from './url-encoding';
import { ClientRateLimit } from './rate-limit';

/** res.locals key: the endpoint group a request was routed to (HttpResponseCounts' group). */
const GROUP = 'endpointGroup';
/** The group of a request no group took (404, or refused before routing). */
const NO_GROUP = 'none';

/** Realm in WWW-Authenticate challenges (collectd/libcurl sends credentials only after one). */
const REALM = 'carbon-fanout';

/**
 * The Express app: /health, then the rate limit, then each enabled group
 * behind its own credentials (a malformed path is refused only after them),
 * then 404; every error becomes a plain answer naming what was wrong, its
 * stable code in the X-Carbon-Fanout-Error header (HttpErrorCode;
 * CF_ERR_HTTP_INTERNAL for an unexpected failure, logged rate-limited). Built
 * separately from the listener so tests can drive it with supertest.
 */
export function createHttpApp(http: HttpConfig, ingest: HttpIngest, groups: readonly EndpointGroup[]): Express {
  const { counters, responses, limited, log, now } = ingest.deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', proxyTrust(http.trustProxy));
  const failures = new RateLimitedLog(log, undefined, now);
  const paths = new UrlEncoding(limited);
  app.use((_req, res, next) => {
    res.on('finish', () => {
      counters.httpRequests++;
      responses.count(typeof res.locals[GROUP] === 'string' ? res.locals[GROUP] : NO_GROUP, res.statusCode);
    });
    next();
  });
  app.get('/health', (_req, res) => {
    res.locals[GROUP] = 'health';
    res.json({ health: 'ok' });
  });
  app.use(paths.escape());

  // Each route is registered twice: first to say which group a request is for, before the rate limit
  // may refuse it (so a 429 is counted against the group it was meant for), then behind the group's auth.
  const routes: { methods: readonly HttpMethod[]; path: string; handler: RequestHandler; group: EndpointGroup }[] = [];
  for (const group of groups) group.mount({ on: (methods, path, handler) => routes.push({ methods, path, handler, group }) });
  for (const r of routes) {
    const name = r.group.name;
    for (const m of r.methods)
      app[m](r.path, (_req: Request, res: Response, next: NextFunction) => {
        res.locals[GROUP] = name;
        next();
      });
  }
  if (http.rateLimit !== undefined) app.use(new ClientRateLimit(http.rateLimit.requestsPerSecond, http.rateLimit.burst, { counters, now }).middleware());
  const restore = paths.restore();
  const refuse = paths.refuse();
  const guards = new Map(groups.map((g) => [g, new Authenticator(groupAuth(http, g.name), REALM, { counters, limited }).middleware()]));
  for (const r of routes) for (const m of r.methods) app[m](r.path, restore, guards.get(r.group) as RequestHandler, refuse, r.handler);

  app.use((req: Request) => {
    throw new HttpError(404, HttpErrorCode.NOT_FOUND, `no endpoint ${req.method} ${paths.originalPath(req)}`);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (!(err instanceof HttpError)) {
      // keyed by route, a bounded set, so a request that keeps failing cannot flood the log
      const route = typeof req.route?.path === 'string' ? req.route.path : 'none';
      failures.error(`http:internal:${route}`, 'HTTP handler failed', () => ({ path: req.path, error: err instanceof Error ? err.message : String(err) }));
      res.status(500).set(ERROR_CODE_HEADER, HttpErrorCode.INTERNAL).type('text/plain').send('internal error\n');
      return;
    }
    if (err.status !== 401 && err.status !== 403 && err.status !== 429 && err.status !== 503 && err.status >= 400 && err.status < 500) counters.httpBadRequests++;
    res.status(err.status);
    res.set(ERROR_CODE_HEADER, err.code);
    if (err.options.headers !== undefined) res.set(err.options.headers);
    if (err.options.json !== undefined) res.json(err.options.json);
    else res.type('text/plain').send(rejectionText(err.message, err.options.rejections ?? []));
  });
  return app;
}

function groupAuth(http: HttpConfig, name: string): HttpConfig['auth'] {
  const group = (http as unknown as Record<string, { auth?: HttpConfig['auth'] } | undefined>)[name];
  return group?.auth ?? http.auth;
}
