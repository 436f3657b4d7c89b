import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { HttpResponseCounts, IngestCounters } from '../../telemetry/counters';
import type { RateLimitedLog } from '../../telemetry/rate-limited-log';
import { ERROR_CODE_HEADER, HttpError, HttpErrorCode, rejectionText } from './http-error';

/**
 * How the front door writes its answers, the same whether a request came by
 * the fast path or through Express: the bytes are those Express's
 * `res.type(...).send(...)` and `res.json(...)` wrote before (Content-Type with
 * charset, Content-Length, no body for HEAD, and res.send's 304 rule), so a
 * client cannot tell which path answered.
 */

/** What an answer depends on of the request it answers. */
export interface Asked {
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
/** The `fresh` package's test for a Cache-Control that asks for no cached answer. */
const NO_CACHE = /(?:^|,)\s*?no-cache\s*?(?:,|$)/;

/**
 * Express's res.send answers 304 (no body) to a GET or HEAD whose 2xx answer
 * is "fresh" for its conditional headers. The front door sends no ETag or
 * Last-Modified, which leaves one case: `If-None-Match: *` without
 * If-Modified-Since or Cache-Control: no-cache.
 */
function fresh(req: Asked, status: number): boolean {
  if (status < 200 || status >= 300 || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  const noneMatch = req.headers['if-none-match'];
  if (noneMatch !== '*' || req.headers['if-modified-since']) return false;
  const cacheControl = req.headers['cache-control'];
  return !(cacheControl && NO_CACHE.test(cacheControl));
}

function send(req: Asked, res: ServerResponse, status: number, type: string, body: string | undefined): void {
  res.statusCode = fresh(req, status) ? 304 : status;
  res.setHeader('Content-Type', type);
  if (body !== undefined) res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  if (res.statusCode === 304) {
    res.removeHeader('Content-Type');
    res.removeHeader('Content-Length');
    res.removeHeader('Transfer-Encoding');
    body = '';
  }
  if (req.method === 'HEAD') res.end();
  else res.end(body, 'utf8');
}

/** `text` as text/plain UTF-8. */
export function sendText(req: Asked, res: ServerResponse, status: number, text: string): void {
  send(req, res, status, TEXT, text);
}

/** `value` as JSON (JSON.stringify, as Express's default json settings). */
export function sendJson(req: Asked, res: ServerResponse, status: number, value: unknown): void {
  send(req, res, status, JSON_TYPE, JSON.stringify(value) as string | undefined);
}

/** An HttpError as its answer: the code header, its own headers, then its message and rejections (or its JSON body). */
export function sendError(req: Asked, res: ServerResponse, err: HttpError): void {
  res.setHeader(ERROR_CODE_HEADER, err.code);
  const headers = err.options.headers;
  if (headers !== undefined) for (const name in headers) res.setHeader(name, String(headers[name]));
  if (err.options.json !== undefined) sendJson(req, res, err.status, err.options.json);
  else sendText(req, res, err.status, rejectionText(err.message, err.options.rejections ?? []));
}

/** The group of a request no group took (404, or refused before routing). */
export const NO_GROUP = 'none';

/**
 * Counts the answer once it is sent: httpRequests, and HttpResponseCounts by
 * endpoint group and status. `group` is read then, as routing may name it late.
 */
export function countAnswer(res: ServerResponse, deps: { counters: IngestCounters; responses: HttpResponseCounts }, group: () => string): void {
  res.on('finish', () => {
    deps.counters.httpRequests++;
    deps.responses.count(group(), res.statusCode);
  });
}

/**
 * Answers a request that failed: an HttpError as itself (a 4xx other than
 * 401, 403 and 429 counted as a bad request); anything else as 500
 * CF_ERR_HTTP_INTERNAL, logged at error level rate-limited per route (a
 * bounded set, so a request that keeps failing cannot flood the log).
 */
export class FailureAnswers {
  constructor(
    private readonly counters: IngestCounters,
    private readonly failures: RateLimitedLog,
  ) {}

  answer(req: Asked, res: ServerResponse, err: unknown, route: string, path: string): void {
    if (!(err instanceof HttpError)) {
      this.failures.error(`http:internal:${route}`, 'HTTP handler failed', () => ({ path, error: err instanceof Error ? err.message : String(err) }));
      sendError(req, res, new HttpError(500, HttpErrorCode.INTERNAL, 'internal error'));
      return;
    }
    if (err.status !== 401 && err.status !== 403 && err.status !== 429 && err.status !== 503 && err.status >= 400 && err.status < 500) this.counters.httpBadRequests++;
    sendError(req, res, err);
  }
}
