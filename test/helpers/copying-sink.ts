import type { MetricBatch } from '../../src/model/metric';
import type { MetricSink } from '../../src/model/metric-sink';
import { batchDatapoints, type Datapoint } from './fixtures';

/** A sink that copies every batch it is handed: the producer clears and reuses the batch once accept() returns. */
export class CopyingSink implements MetricSink {
  readonly copies: { origin: string; points: Datapoint[] }[] = [];
  /** The batch objects themselves, to show that they are reused. */
  readonly handed: MetricBatch[] = [];

  accept(batch: MetricBatch, origin: string): void {
    this.copies.push({ origin, points: batchDatapoints(batch) });
    this.handed.push(batch);
  }

  get points(): Datapoint[] {
    return this.copies.flatMap((c) => c.points);
  }
}
