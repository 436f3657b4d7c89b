/** One rejected item of a request: where it was and why, for the response body. */
export interface Rejection {
  /** "line 3", "item 2", "values[1]" */
  where: string;
  reason: string;
}

/**
 * Stable codes for error answers (fastify's `FST_ERR_...` style), sent in the
 * `X-Carbon-Fanout-Error` header so clients and tests can tell kinds of
 * failure apart without parsing the body (which stays as it was).
 */
export const HttpErrorCode = Object.freeze({
  /** 401: credentials missing, malformed or not valid. */
  UNAUTHORIZED: 'CF_ERR_HTTP_UNAUTHORIZED',
  /** 401: a webhook's signature is missing or does not match the body. */
  BAD_SIGNATURE: 'CF_ERR_HTTP_BAD_SIGNATURE',
  /** 403: the client's address is not in the allow list. */
  FORBIDDEN: 'CF_ERR_HTTP_FORBIDDEN',
  /** 429: this client sends more requests than its rate limit. */
  RATE_LIMITED: 'CF_ERR_HTTP_RATE_LIMITED',
  /** 429: /imp already tracks maxCounters distinct impulse counters. */
  TOO_MANY_COUNTERS: 'CF_ERR_HTTP_TOO_MANY_COUNTERS',
  /** 503: destinations are not keeping up, or their queues cannot take the request whole; retry later. */
  OVERLOADED: 'CF_ERR_HTTP_OVERLOADED',
  /** 413: body bytes, decompressed bytes or datapoints over the limit. */
  TOO_LARGE: 'CF_ERR_HTTP_TOO_LARGE',
  /** 415 (400 on Grafana's endpoint, as the gateway answers): a Content-Encoding or Content-Type the endpoint does not take. */
  UNSUPPORTED_MEDIA_TYPE: 'CF_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE',
  /** 400: the body cannot be decoded: not fully received, bad gzip/deflate, not UTF-8, not JSON, an unrepresentable form. */
  MALFORMED_BODY: 'CF_ERR_HTTP_MALFORMED_BODY',
  /** 400: the URL path (or a query the endpoint reads) is not valid percent-encoding (`%ff`, `%zz`, a cut-off escape); only after the credentials check. */
  MALFORMED_URL: 'CF_ERR_HTTP_MALFORMED_URL',
  /** 400: the body decodes but is not what the endpoint takes: empty, the wrong JSON shape, required fields missing. */
  INVALID_BODY: 'CF_ERR_HTTP_INVALID_BODY',
  /** 400: a required path or query parameter (metric name, value, event) is missing. */
  MISSING_PARAMETER: 'CF_ERR_HTTP_MISSING_PARAMETER',
  /** 400: datapoints were rejected (each named in the body); with the partial policy the others were accepted. */
  INVALID_ITEMS: 'CF_ERR_HTTP_INVALID_ITEMS',
  /** 404: no endpoint for this method and path, or a /publish prefix that is not configured. */
  NOT_FOUND: 'CF_ERR_HTTP_NOT_FOUND',
  /** 500: a handler failed unexpectedly (logged; the answer says only "internal error"). */
  INTERNAL: 'CF_ERR_HTTP_INTERNAL',
} as const);

export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/** Every code, each once. */
export const HTTP_ERROR_CODES: readonly HttpErrorCode[] = Object.freeze(Object.values(HttpErrorCode));

/** The response header carrying the code of every error answer. */
export const ERROR_CODE_HEADER = 'X-Carbon-Fanout-Error';

/**
 * An answer other than success. The error middleware turns it into the
 * response: the message as text/plain (or the given JSON body), plus any
 * rejections one per line, so a curl user sees exactly what was wrong; the
 * code goes in the ERROR_CODE_HEADER header.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly options: { headers?: Record<string, string>; rejections?: readonly Rejection[]; json?: unknown } = {},
  ) {
    super(message);
  }
}

/** How many rejections a response lists before summarising; keeps a 100k-line body's answer small. */
export const MAX_LISTED_REJECTIONS = 100;

export function rejectionText(message: string, rejections: readonly Rejection[]): string {
  const lines = [message];
  for (const r of rejections.slice(0, MAX_LISTED_REJECTIONS)) lines.push(`${r.where}: ${r.reason}`);
  if (rejections.length > MAX_LISTED_REJECTIONS) lines.push(`... and ${rejections.length - MAX_LISTED_REJECTIONS} more`);
  return lines.join('\n') + '\n';
}

/** A client-supplied value quoted for an answer: bounded, so a client cannot make us echo kilobytes. */
export function quoted(s: string, max = 80): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s);
}
