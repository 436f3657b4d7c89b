import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { HttpConfig } from '../../config/schema';
import { RateLimitedLog } from '../../telemetry/rate-limited-log';
import { Authenticator } from './auth';
import { proxyTrust } from './client-address';
import type { EndpointGroup } from './endpoint-group';
import { ERROR_CODE_HEADER, HttpError, HttpErrorCode, rejectionText } from './http-error';
import type { HttpIngest } from './http-ingest';
import { UrlEncoding } from './url-encoding';
import { ClientRateLimit } from './rate-limit';

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
  const { counters, limited, log, now } = ingest.deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', proxyTrust(http.trustProxy));
  const failures = new RateLimitedLog(log, undefined, now);
  const paths = new UrlEncoding(limited);
  app.use((_req, res, next) => {
    res.on('finish', () => counters.httpRequests++);
    next();
  });
  app.get('/health', (_req, res) => {
    res.json({ health: 'ok' });
  });
  if (http.rateLimit !== undefined) app.use(new ClientRateLimit(http.rateLimit.requestsPerSecond, http.rateLimit.burst, { counters, now }).middleware());
  app.use(paths.escape());

  const restore = paths.restore();
  const refuse = paths.refuse();
  for (const group of groups) {
    const guard = new Authenticator(groupAuth(http, group.name), REALM, { counters, limited }).middleware();
    group.mount({
      on: (methods, path, handler) => {
        for (const m of methods) app[m](path, restore, guard, refuse, handler);
      },
    });
  }

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
