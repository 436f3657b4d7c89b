import { formatTimestamp, formatValue } from '../codec/line-encoder';
import type { SourceConfig } from '../config/schema';
import type { MetricBatch } from '../model/metric';
import type { Logger } from '../telemetry/logger';
import { buildSource } from './build';
import type { MetricSink } from '../model/metric-sink';
import { realTimers, type PollResult, type SourceTimers } from './source';

export interface PollOnceOutput {
  /** `name value timestamp`, as a line destination would write them (before any destination's apiKey). */
  lines: string[];
  result: PollResult;
}

/** Collects datapoints as plaintext lines instead of routing them. */
class LineCollector implements MetricSink {
  readonly lines: string[] = [];

  accept(batch: MetricBatch, _origin: string): void {
    for (let i = 0; i < batch.length; i++) this.lines.push(`${batch.names[i]} ${formatValue(batch.values[i])} ${formatTimestamp(batch.timestamps[i])}`);
  }
}

/** `carbon-fanout poll-once`: one poll of a source (its first: one interval back), nothing routed or sent. */
export async function pollOnce(cfg: SourceConfig, deps: { log: Logger; now?: () => number; timers?: SourceTimers }): Promise<PollOnceOutput> {
  const sink = new LineCollector();
  const source = buildSource(cfg, { sink, log: deps.log, now: deps.now ?? Date.now, timers: deps.timers ?? realTimers });
  const result = await source.pollNow();
  await source.stop(Date.now());
  return { lines: sink.lines, result };
}
