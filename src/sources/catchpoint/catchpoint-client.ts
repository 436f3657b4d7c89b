import type { ApiErrorKind, CatchpointCounters } from './counters';

export interface CatchpointClientOptions {
  /** Ends with `/`: token at `{baseUrl}api/token`, data at `{baseUrl}api/v1/performance/raw`. */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Per HTTP call, body included. */
  timeoutMs: number;
}

export interface CatchpointClientDeps {
  /** Epoch ms (token expiry). */
  now: () => number;
  counters: CatchpointCounters;
  /** Node's global fetch unless a test injects another. */
  fetch?: typeof fetch;
}

/** A failed API call. Messages never hold the secret or the token. */
export class CatchpointApiError extends Error {
  override readonly name = 'CatchpointApiError';

  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    /** Worth retrying within this poll (5xx, timeout, network). */
    readonly retryable: boolean,
    /** The credentials were refused: the source cannot work until its config changes. */
    readonly fatal = false,
  ) {
    super(message);
  }
}

/** stop() cancelled the call; not an API error. */
export class CallCancelled extends Error {
  override readonly name = 'CallCancelled';
}

/** A token is refreshed this long before `expires_in` runs out (or a tenth of its life, if shorter). */
const TOKEN_MARGIN_MS = 60_000;
const NOT_JSON: unique symbol = Symbol('not JSON');

interface Answer {
  status: number;
  body: unknown;
}

/**
 * Catchpoint's REST API with OAuth2 client credentials. The token is cached
 * until shortly before it expires and fetched again when a data call answers
 * 401 or "Expired token". As Catchpoint's own Python clients do, the bearer
 * token is sent base64-encoded.
 */
export class CatchpointClient {
  private token: { header: string; refreshAt: number } | undefined;

  constructor(
    private readonly opts: CatchpointClientOptions,
    private readonly deps: CatchpointClientDeps,
  ) {}

  /** Drop the cached token (tests; a config reload). */
  forgetToken(): void {
    this.token = undefined;
  }

  /**
   * Raw data for `testIds` in [fromMs, toMs): the parsed JSON answer, never one carrying `Message`.
   * The window parameters are `startTime`/`endTime` in ISO-8601 UTC, the names Catchpoint's
   * REST v1/v2 performance endpoints use (the reference integration sends no window).
   */
  async rawData(testIds: readonly number[], fromMs: number, toMs: number, cancel: AbortSignal): Promise<unknown> {
    const url =
      `${this.opts.baseUrl}api/v1/performance/raw?tests=${testIds.join(',')}` +
      `&startTime=${encodeURIComponent(new Date(fromMs).toISOString())}&endTime=${encodeURIComponent(new Date(toMs).toISOString())}`;
    let fresh = false;
    if (this.token === undefined || this.deps.now() >= this.token.refreshAt) {
      await this.fetchToken(cancel);
      fresh = true;
    }
    for (;;) {
      const header = (this.token as { header: string }).header;
      const res = await this.call(url, { headers: { Accept: 'application/json', Authorization: header } }, cancel, 'data');
      const message = messageOf(res.body);
      const expired = res.status === 401 || (message !== undefined && /expired/i.test(message));
      if (expired && !fresh) {
        this.token = undefined;
        await this.fetchToken(cancel);
        fresh = true;
        continue;
      }
      const detail = message === undefined ? '' : `: ${quote(message)}`;
      if (res.status === 401) throw new CatchpointApiError('auth', `data call refused with a fresh token (HTTP 401${detail})`, false);
      if (res.status >= 500) throw new CatchpointApiError('server', `data call answered HTTP ${res.status}${detail}`, true);
      if (res.status >= 400) throw new CatchpointApiError('client', `data call answered HTTP ${res.status}${detail}`, false);
      if (message !== undefined) throw new CatchpointApiError('message', `Catchpoint answered with an error Message: ${quote(message)}`, false);
      if (res.body === NOT_JSON) throw new CatchpointApiError('malformed', `data call answered HTTP ${res.status} with a body that is not JSON`, false);
      return res.body;
    }
  }

  private async fetchToken(cancel: AbortSignal): Promise<void> {
    this.deps.counters.tokenRefreshes++;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.opts.clientId, client_secret: this.opts.clientSecret });
    const res = await this.call(
      `${this.opts.baseUrl}api/token`,
      { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, body: form.toString() },
      cancel,
      'token',
    );
    const b = isObject(res.body) ? res.body : {};
    // OAuth's error code (invalid_client, ...) and Catchpoint's Message say why; neither carries the secret.
    const why = [typeof b.error === 'string' ? b.error : undefined, messageOf(res.body)].filter((s): s is string => s !== undefined).map(quote);
    const detail = why.length > 0 ? `: ${why.join(', ')}` : '';
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      throw new CatchpointApiError('auth', `the token endpoint refused the client credentials (HTTP ${res.status}${detail})`, false, true);
    }
    if (res.status >= 500) throw new CatchpointApiError('server', `token call answered HTTP ${res.status}${detail}`, true);
    if (res.status >= 400) throw new CatchpointApiError('client', `token call answered HTTP ${res.status}${detail}`, false);
    const access = b.access_token;
    if (typeof access !== 'string' || access === '') throw new CatchpointApiError('malformed', `token call answered HTTP ${res.status} without an access_token`, false);
    const lifeMs = Number(b.expires_in) * 1000;
    // Without a usable expires_in the token is kept until a data call answers 401.
    const refreshAt = Number.isFinite(lifeMs) && lifeMs > 0 ? this.deps.now() + lifeMs - Math.min(TOKEN_MARGIN_MS, lifeMs / 10) : Infinity;
    this.token = { header: `Bearer ${Buffer.from(access, 'utf8').toString('base64')}`, refreshAt };
  }

  /** One HTTP call with the configured timeout (body included), cancelled by `cancel`. */
  private async call(url: string, init: RequestInit, cancel: AbortSignal, what: string): Promise<Answer> {
    if (cancel.aborted) throw new CallCancelled('stopped');
    this.deps.counters.apiCalls++;
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const ac = new AbortController();
    const abort = (): void => ac.abort();
    cancel.addEventListener('abort', abort);
    timeout.addEventListener('abort', abort);
    try {
      const res = await (this.deps.fetch ?? fetch)(url, { ...init, signal: ac.signal });
      const text = await res.text();
      let body: unknown = NOT_JSON;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as NOT_JSON; an error status still says more than the body
      }
      return { status: res.status, body };
    } catch (err) {
      if (cancel.aborted) throw new CallCancelled('stopped');
      if (timeout.aborted) throw new CatchpointApiError('timeout', `${what} call: no complete answer within ${this.opts.timeoutMs} ms`, true);
      throw new CatchpointApiError('network', `${what} call failed: ${describe(err)}`, true);
    } finally {
      cancel.removeEventListener('abort', abort);
      timeout.removeEventListener('abort', abort);
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Catchpoint's error answer: an object with a `Message` string. */
function messageOf(body: unknown): string | undefined {
  return isObject(body) && typeof body.Message === 'string' ? body.Message : undefined;
}

/** An API text for a log line: JSON-escaped, at most 200 characters. */
function quote(s: string): string {
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}...` : s);
}

/** fetch's "fetch failed" hides the reason in `cause` (ECONNREFUSED, ENOTFOUND, ...). */
function describe(err: unknown): string {
  const e = err as { message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const cause = e.cause?.code ?? e.cause?.message;
  return `${String(e.message ?? err)}${cause !== undefined ? ` (${String(cause)})` : ''}`;
}
