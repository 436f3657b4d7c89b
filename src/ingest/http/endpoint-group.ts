import type { RequestHandler } from 'express';
import type { HttpConfig } from '../../config/schema';
import type { HttpIngest } from './http-ingest';

export type HttpMethod = 'get' | 'post' | 'put';

/** Route registration for a group: the server puts its auth check in front of every handler. */
export interface Routes {
  on(methods: readonly HttpMethod[], path: string, handler: RequestHandler): void;
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
