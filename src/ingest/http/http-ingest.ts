import type { NameInterner } from '../../codec/name-interner';
import type { Pausable } from '../../model/pausable';
import type { Pipeline } from '../../pipeline/pipeline';
import type { HttpResponseCounts, IngestCounters } from '../../telemetry/counters';
import type { Logger } from '../../telemetry/logger';
import type { RateLimitedLog } from '../../telemetry/rate-limited-log';
import { HttpError, HttpErrorCode, rejectionText } from './http-error';
import { RequestMetrics } from './request-metrics';

export interface HttpIngestDeps {
  pipeline: Pipeline;
  counters: IngestCounters;
  /** Answers by endpoint group and status. */
  responses: HttpResponseCounts;
  log: Logger;
  limited: RateLimitedLog;
  /** Epoch milliseconds. */
  now: () => number;
  /** Datapoints the destinations can take now without dropping (the smallest room of a connected one); default unlimited. */
  room?: () => number;
  /** One string per distinct name across requests (see NameInterner): line bodies decode repeated names once. */
  names?: NameInterner;
}

/** Seconds a client should wait when the relay is shedding load. */
const RETRY_AFTER_S = '1';

/**
 * What every endpoint shares: the pipeline, counters and clock, and the
 * relay's overload state. HTTP cannot be paused like a TCP socket, so while
 * the pipeline asks sources to pause, ingest endpoints answer 503 with
 * Retry-After instead of buffering without bound.
 */
export class HttpIngest implements Pausable {
  private overloaded = false;

  constructor(
    readonly deps: HttpIngestDeps,
    readonly maxItems: number,
  ) {}

  pause(): void {
    this.overloaded = true;
  }

  resume(): void {
    this.overloaded = false;
  }

  /** Unix seconds (integral, as carbon clients send). */
  nowSeconds(): number {
    return Math.floor(this.deps.now() / 1000);
  }

  /** Throws 503 while the pipeline is under pressure; call before reading a body. */
  assertAccepting(): void {
    if (!this.overloaded) return;
    this.deps.counters.httpOverloaded++;
    throw new HttpError(503, HttpErrorCode.OVERLOADED, 'relay is overloaded (destinations are not keeping up); retry later', { headers: { 'Retry-After': RETRY_AFTER_S } });
  }

  newRequest(): RequestMetrics {
    return new RequestMetrics(this.maxItems, this.nowSeconds(), this.deps.pipeline.maxNameLength);
  }

  /**
   * Whole-request policy: any rejected item rejects the request (400 naming
   * each one) and nothing is sent; otherwise every datapoint is sent. With
   * `record` false (a HEAD) every check still runs and answers, but nothing is sent.
   */
  submitAll(m: RequestMetrics, origin: string, record = true): void {
    if (m.rejections.length > 0) {
      this.deps.counters.httpInvalidItems += m.rejections.length;
      throw new HttpError(400, HttpErrorCode.INVALID_ITEMS, `${m.rejections.length} of ${m.count} datapoints rejected; nothing was accepted`, { rejections: m.rejections });
    }
    this.send(m, origin, record);
  }

  /**
   * Partial policy (Hosted Graphite's sink): the good datapoints are sent; the
   * answer is 400 naming each rejected item when there are any. Returns the
   * response body for the caller to send.
   */
  submitValid(m: RequestMetrics, origin: string): string | undefined {
    this.send(m, origin);
    if (m.rejections.length === 0) return undefined;
    this.deps.counters.httpInvalidItems += m.rejections.length;
    return rejectionText(`${m.rejections.length} of ${m.count} datapoints rejected; the other ${m.batch.length} were accepted`, m.rejections);
  }

  private send(m: RequestMetrics, origin: string, record = true): void {
    // again after the body was read: requests that started before the pressure began would otherwise all pour in
    this.assertAccepting();
    // a request the queues cannot hold whole is turned away rather than answered 2xx and partly dropped
    if (m.batch.length > (this.deps.room?.() ?? Infinity)) {
      this.deps.counters.httpOverloaded++;
      throw new HttpError(503, HttpErrorCode.OVERLOADED, 'destination queues cannot take this request whole now; retry later', { headers: { 'Retry-After': RETRY_AFTER_S } });
    }
    if (record && m.batch.length > 0) this.deps.pipeline.accept(m.batch, origin, this.deps.counters);
  }
}
