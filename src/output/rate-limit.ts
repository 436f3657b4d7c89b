import type { Timers } from '../common/timers';
import { TokenBucket } from '../common/token-bucket';
import type { DestinationCounters } from '../telemetry/counters';

/**
 * The most a destination saves up while idle, in seconds of its rate: a tenth of a second's worth
 * (at least one datapoint), so no one-second window sees more than 1.1 x maxRate, and a writer that
 * has waited sends in batches rather than one datapoint per timer.
 */
const BURST_SECONDS = 0.1;

export interface SendRateLimitDeps {
  /** Epoch milliseconds. */
  now: () => number;
  timers: Timers;
  counters: Pick<DestinationCounters, 'rateLimitWaits' | 'rateLimitedSeconds'>;
}

/**
 * A destination's maxRate: how many datapoints its writer may send now, and
 * one timer that resumes it when more may. It never drops: what waits stays in
 * the queue, whose bound, water marks and spool handle a rate limited
 * destination like any slow one.
 */
export class SendRateLimit {
  /** The most sent at once after an idle spell. */
  readonly burst: number;
  private readonly bucket: TokenBucket;
  private timer: unknown = null;
  private waitingSince = 0;

  constructor(
    /** Datapoints per second. */
    readonly perSecond: number,
    private readonly deps: SendRateLimitDeps,
  ) {
    this.burst = Math.max(1, Math.floor(perSecond * BURST_SECONDS));
    this.bucket = new TokenBucket(perSecond, this.burst, deps.now);
  }

  /** A resume is scheduled: the writer must not send before it. */
  get waiting(): boolean {
    return this.timer !== null;
  }

  /** Datapoints that may be sent now. */
  budget(): number {
    return this.bucket.available();
  }

  spend(n: number): void {
    if (n > 0) this.bucket.take(n);
  }

  /**
   * Calls `resume` once a whole burst may be sent (a tenth of a second on): the writer then sends
   * in batches, with one timer per batch, instead of a datapoint each time one token comes in.
   * One wait at a time.
   */
  wait(resume: () => void): void {
    if (this.timer !== null) return;
    const c = this.deps.counters;
    c.rateLimitWaits++;
    this.waitingSince = this.deps.now();
    this.timer = this.deps.timers.setTimeout(
      () => {
        this.timer = null;
        c.rateLimitedSeconds += (this.deps.now() - this.waitingSince) / 1000;
        resume();
      },
      Math.max(1, this.bucket.msUntil(this.burst)),
    );
  }

  /** Drops a scheduled resume (the destination is stopping). */
  cancel(): void {
    if (this.timer === null) return;
    this.deps.timers.clearTimeout(this.timer);
    this.timer = null;
    this.deps.counters.rateLimitedSeconds += (this.deps.now() - this.waitingSince) / 1000;
  }
}
