import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { RateLimitedLog } from '../../telemetry/rate-limited-log';
import { clientAddress } from './client-address';
import { HttpError, HttpErrorCode, quoted, type Rejection } from './http-error';

/** The request as it arrived, kept while its URL is rewritten for routing. */
interface Malformed {
  url: string;
  path: string;
}

export function decodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

const HINT = 'a % must start an escape of UTF-8 bytes, like %2F or %C3%A9';

/** The request a URL refusal names: its URL as sent, and its client (for the log line). */
export interface UrlOf {
  readonly url: string;
  readonly client: string;
}

function malformed(req: UrlOf, limited: RateLimitedLog, what: string, rejections: Rejection[]): HttpError {
  const peer = req.client;
  limited.warn(`http:${peer}:malformed-url`, 'HTTP request URL is not valid percent-encoding', () => ({ peer, url: quoted(req.url, 200) }));
  return new HttpError(400, HttpErrorCode.MALFORMED_URL, `${what} is not valid percent-encoding (${HINT})`, { rejections });
}

/**
 * 400 for a route's `path` that is not valid percent-encoding, naming each
 * parameter that does not decode (`params` hold such a one as sent).
 */
export function malformedPath(req: UrlOf, path: string, params: Readonly<Record<string, unknown>>, limited: RateLimitedLog): HttpError {
  const rejections: Rejection[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (typeof value === 'string' && !decodes(value)) rejections.push({ where: `path parameter ${name}`, reason: `${quoted(value)} is not valid percent-encoded UTF-8` });
  }
  return malformed(req, limited, `path ${quoted(path, 200)}`, rejections);
}

/**
 * Paths that are not valid percent-encoding (`/feed/%ff/1`, `%zz`, a cut-off
 * `%4`). Express decodes path parameters while matching routes, before any
 * handler runs, so such a path would fail past the group's credentials check.
 * Instead, `escape` (before routing) re-escapes the `%` of each bad segment,
 * so the request matches the same route with the raw text as the parameter;
 * `restore` (first on each route) puts the URL back; the group's guard runs;
 * then `refuse` answers 400 naming the parameter. An unauthenticated client
 * thus still gets 401/403. Logged rate-limited per client. Per app, so
 * nothing is shared between apps.
 */
export class UrlEncoding {
  private readonly malformed = new WeakMap<Request, Malformed>();

  constructor(private readonly limited: RateLimitedLog) {}

  /** Before routing: marks a malformed path and makes it routable. */
  escape(): RequestHandler {
    return (req: Request, _res: Response, next: NextFunction) => {
      const path = req.path;
      if (path.includes('%') && !decodes(path)) {
        const routable = path
          .split('/')
          .map((segment) => (decodes(segment) ? segment : segment.replaceAll('%', '%25')))
          .join('/');
        this.malformed.set(req, { url: req.url, path });
        req.url = req.url.replace(path, () => routable);
      }
      next();
    };
  }

  /** First on each route: the URL as the client sent it, for the guard, handlers and log lines. */
  restore(): RequestHandler {
    return (req: Request, _res: Response, next: NextFunction) => {
      const m = this.malformed.get(req);
      if (m !== undefined) req.url = m.url;
      next();
    };
  }

  /** After the guard on each route: 400 for a malformed path, naming each parameter that does not decode. */
  refuse(): RequestHandler {
    return (req: Request, _res: Response, next: NextFunction) => {
      const m = this.malformed.get(req);
      if (m === undefined) return next();
      throw malformedPath({ url: req.originalUrl, client: clientAddress(req) }, m.path, req.params as Record<string, unknown>, this.limited);
    };
  }

  /** The path as the client sent it (a request that matched no route still has its escaped URL). */
  originalPath(req: Request): string {
    return this.malformed.get(req)?.path ?? req.path;
  }
}

/**
 * For endpoints that read the query: 400 when it is not valid percent-encoding.
 * Express's query parser would turn `%ff` into U+FFFD and a metric name would
 * silently change. Endpoints that ignore the query do not call it (a webhook
 * sender would see a 4xx for a parameter nobody reads).
 */
export function assertQueryEncoding(req: UrlOf, limited: RateLimitedLog): void {
  const at = req.url.indexOf('?');
  if (at < 0) return;
  const raw = req.url.slice(at + 1);
  if (!raw.includes('%')) return;
  const rejections: Rejection[] = [];
  for (const part of raw.split('&')) {
    if (!decodes(part)) rejections.push({ where: 'query', reason: `${quoted(part)} is not valid percent-encoded UTF-8` });
  }
  if (rejections.length > 0) throw malformed(req, limited, 'query', rejections);
}
