import { visitCounters, type CounterReporter, type CounterTable } from '../telemetry/counters';

/**
 * The aggregator's counters. One object for the relay's life: a reload that
 * rebuilds the aggregator hands the new one the same counters, so they never
 * go backwards. Every datapoint the aggregator refuses lands in one of the
 * refusal counters.
 */
export class AggregationCounters {
  /** Datapoints added to an aggregate (one that feeds two aggregates counts twice). */
  datapointsAggregated = 0;
  /** Aggregate values emitted, re-emissions included (carbon's aggregateDatapointsSent). */
  aggregatesEmitted = 0;
  /** Additions refused because maxAggregates aggregates were open and this one was new. */
  aggregateCapHits = 0;
  /** Additions refused because maxValues values (percentile methods) were held. */
  valueCapHits = 0;
  /** Additions refused because the interval was older than maxIntervals intervals (already emitted and forgotten). */
  lateDatapoints = 0;
  /** Additions refused because the interval was more than maxIntervals intervals ahead of the clock. */
  futureDatapoints = 0;
  /** Received datapoints not forwarded raw: aggregated with keepRaw false, or named like one of their own aggregates (as carbon). */
  rawConsumed = 0;
  /** Aggregates open now (carbon's allocatedBuffers). */
  openAggregates = 0;
  /** Values held for percentile methods now (carbon's bufferedDatapoints counts every method's). */
  heldValues = 0;
}

export const AGGREGATION_COUNTERS = {
  datapointsAggregated: 'counter',
  aggregatesEmitted: 'counter',
  aggregateCapHits: 'counter',
  valueCapHits: 'counter',
  lateDatapoints: 'counter',
  futureDatapoints: 'counter',
  rawConsumed: 'counter',
  openAggregates: 'gauge',
  heldValues: 'gauge',
} as const satisfies CounterTable<AggregationCounters>;

/** Path of the aggregator's counters below the self-metrics prefix. */
export const AGGREGATION_COUNTER_PATH = 'aggregator';

/** The counters as a reporter; it reports nothing while aggregation is off (no always-zero series). */
export function aggregationCounterReporter(counters: AggregationCounters, enabled: () => boolean): CounterReporter {
  return {
    counterPath: AGGREGATION_COUNTER_PATH,
    reportCounters(visit) {
      if (enabled()) visitCounters(counters, AGGREGATION_COUNTERS, visit);
    },
  };
}
