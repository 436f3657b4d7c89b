import type { MetricBatch } from './metric';

/** Where producers hand datapoints: the relay's Pipeline, or a collector (`poll-once`, tests). */
/**
 * `Counters`: what a receiver counts its input in (the relay's IngestCounters); `Validation`: how strictly
 * its names are checked (the codec's NameValidation). model/ names neither type.
 */
export interface MetricSink<Counters = never, Validation = never> {
  /**
   * Route every datapoint in the batch; the sink copies what it keeps, so the
   * batch may be reused. `origin` names the peer for log lines; `counters` are
   * the receiving listener's (what it accepted and rejected), the relay's own
   * when omitted; `validation` is the listener's level, the sink's default when omitted.
   */
  accept(batch: MetricBatch, origin: string, counters?: Counters, validation?: Validation): void;
}
