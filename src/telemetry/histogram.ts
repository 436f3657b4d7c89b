/**
 * A fixed-bucket histogram of durations in seconds. Like the counters, it is
 * plain numbers the data path adds to and exporters read at scrape time; no
 * exporter library is called on the data path.
 */
export class DurationHistogram {
  /** Observations per bucket, not cumulative; the last bucket is +Inf. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    /** Upper bounds in seconds, ascending (Prometheus `le`). */
    readonly bounds: readonly number[],
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }

  /** Cumulative counts per bound, +Inf last (what a Prometheus `_bucket` series holds). */
  cumulative(): number[] {
    let run = 0;
    return this.counts.map((n) => (run += n));
  }
}

/**
 * How long a write to a destination waits in the process before the operating
 * system takes it: under a millisecond while the peer keeps up, up to seconds
 * when its socket buffer is full.
 */
export const FLUSH_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
