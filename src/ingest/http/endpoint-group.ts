import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { ParsedUrlQuery } from 'node:querystring';
import type { RequestHandler } from 'express';
import type { HttpConfig } from '../../config/schema';
import type { HttpIngest } from './http-ingest';

export type HttpMethod = 'get' | 'post' | 'put';

/**
 * A request answered from its URL and headers alone, never its body: what a
 * handler registered with `Routes.onUrl` sees, built alike by the fast path
 * and by Express.
 */
export interface UrlRequest {
  /** GET, HEAD (answered like GET, recording nothing) or another method the route takes. */
  readonly method: string;
  /** As sent: path and query, still percent-encoded. */
  readonly url: string;
  /** Path parameters, percent-decoded; an optional one not given is absent. */
  readonly params: Readonly<Record<string, string | undefined>>;
  /** The query as Express's "simple" parser reads it (node:querystring): a repeated name is an array. */
  readonly query: ParsedUrlQuery;
  readonly headers: IncomingHttpHeaders;
  /** The client address, through trusted proxies. */
  readonly client: string;
}

/** Answers through the shared writers (answers.ts) or throws an HttpError. */
export type UrlHandler = (req: UrlRequest, res: ServerResponse) => void;

/**
 * The path of a UrlHandler: literal segments, then required parameters, then
 * optional trailing ones. `{ prefix: '/feed', params: ['metric', 'value'],
 * optional: ['timestamp'] }` is Express's `/feed/:metric/:value{/:timestamp}`.
 */
export interface UrlRoute {
  readonly prefix: string;
  readonly params?: readonly string[];
  readonly optional?: readonly string[];
}

/** The route as an Express path. */
export function expressPath(route: UrlRoute): string {
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(route.prefix)) throw new Error(`route prefix ${JSON.stringify(route.prefix)} must be literal path segments`);
  return route.prefix + (route.params ?? []).map((p) => `/:${p}`).join('') + (route.optional ?? []).map((p) => `{/:${p}}`).join('');
}

/** Route registration for a group: the server puts its auth check in front of every handler. */
export interface Routes {
  on(methods: readonly HttpMethod[], path: string, handler: RequestHandler): void;
  /**
   * A route answered from the URL alone. Its GETs (and HEADs) are served on
   * the fast path in front of Express when no earlier route could take them;
   * other methods, and whatever the fast path declines, by Express. Same
   * handler, same checks, same answers either way.
   */
  onUrl(methods: readonly HttpMethod[], route: UrlRoute, handler: UrlHandler): void;
}

/** Everything an endpoint group is built from. */
export interface EndpointContext {
  readonly ingest: HttpIngest;
  readonly http: HttpConfig;
}

/**
 * A set of related endpoints (one file each under src/ingest/http/). The
 * server mounts it behind the group's auth; groups with state (impulse
 * counters) also have a lifecycle.
 */
export interface EndpointGroup {
  /** The key under `http:` in the config, used for auth overrides and log lines. */
  readonly name: string;
  /** Registers the group's routes; each runs behind the group's credentials check. */
  mount(routes: Routes): void;
  start?(): void;
  /** Flush what the group holds (impulse counters) and stop its timers. */
  stop?(): void;
  /**
   * Reload: give what the group holds to its successor of the same name,
   * which keeps it running; this group's stop() then flushes nothing.
   */
  handOver?(): unknown;
  /** Reload: continue with what the predecessor of the same name handed over (ignored if not its kind). */
  takeOver?(state: unknown): void;
}
