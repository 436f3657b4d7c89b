import type { CounterVisitor } from '../../telemetry/counters';

/**
 * Why an API call failed. `auth`: credentials refused (token endpoint) or a
 * data call still 401 after a fresh token; `timeout`: no complete answer in
 * `timeout`; `network`: connection failed; `server`: HTTP 5xx; `client`: other
 * HTTP 4xx (429 included); `message`: an answer carrying Catchpoint's
 * `Message` error; `malformed`: not JSON, or not the documented shape.
 */
export const API_ERROR_KINDS = ['auth', 'timeout', 'network', 'server', 'client', 'message', 'malformed'] as const;
export type ApiErrorKind = (typeof API_ERROR_KINDS)[number];

/** Plain numeric counters of one Catchpoint source; self-metrics reads them every interval. */
export class CatchpointCounters {
  /** Polls run (scheduled or `pollNow`). */
  polls = 0;
  /** Polls in which at least one data call failed after its retries (its window is asked again next poll). */
  pollsFailed = 0;
  /** HTTP requests made (token and data, retries included). */
  apiCalls = 0;
  /** Tokens fetched (the first one, expiry and 401/expired-token refreshes). */
  tokenRefreshes = 0;
  /** Datapoints handed to the pipeline. */
  datapoints = 0;
  /** Items skipped whole: no usable timestamp, test id, node id, step or value list. */
  invalidItems = 0;
  /** Single values skipped: not a number, or under a field with an unusable name. */
  invalidValues = 0;
  /** Values that were null (a metric that does not apply to the test): skipped, not an error. */
  nullValues = 0;
  /** Items outside the requested window (e.g. on its end boundary, delivered by the next poll): skipped so none is sent twice. */
  outsideWindow = 0;
  /** Calls whose window was cut to `maxWindow` (after failures or a long restart): the older data was not fetched (logged with the range). */
  cappedWindows = 0;
  /** Saves of the position file (`stateDir`) that failed; the position is kept in memory and saved again after the next window. */
  stateWriteErrors = 0;
  /** Failed API calls by kind; every failed attempt counts, retried or not. */
  readonly apiErrors: Record<ApiErrorKind, number> = { auth: 0, timeout: 0, network: 0, server: 0, client: 0, message: 0, malformed: 0 };
  /** Epoch seconds when the last poll with no failed call finished (0: none yet). */
  lastSuccessTime = 0;

  visit(visit: CounterVisitor): void {
    visit('polls', this.polls, 'counter');
    visit('pollsFailed', this.pollsFailed, 'counter');
    visit('apiCalls', this.apiCalls, 'counter');
    visit('tokenRefreshes', this.tokenRefreshes, 'counter');
    visit('datapoints', this.datapoints, 'counter');
    visit('invalidItems', this.invalidItems, 'counter');
    visit('invalidValues', this.invalidValues, 'counter');
    visit('nullValues', this.nullValues, 'counter');
    visit('outsideWindow', this.outsideWindow, 'counter');
    visit('cappedWindows', this.cappedWindows, 'counter');
    visit('stateWriteErrors', this.stateWriteErrors, 'counter');
    for (const kind of API_ERROR_KINDS) visit(`apiErrors.${kind}`, this.apiErrors[kind], 'counter');
    visit('lastSuccessTime', this.lastSuccessTime, 'gauge');
  }
}
