import type { MetricBatch } from './metric';

/** Where producers hand datapoints: the relay's Pipeline, or a collector (`poll-once`, tests). */
export interface MetricSink {
  /** Route every datapoint in the batch; the sink copies what it keeps, so the batch may be reused. `origin` names the peer for log lines. */
  accept(batch: MetricBatch, origin: string): void;
}
