import type { MetricSink } from '../model/metric-sink';
import type { Component, StopReport } from '../model/component';
import type { Pausable } from '../model/pausable';
import type { CounterReporter } from '../telemetry/counters';
import type { Logger } from '../telemetry/logger';

/** The timers a source schedules with; injectable so tests drive polls with a fake clock. */
export interface SourceTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: SourceTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface SourceDeps {
  sink: MetricSink;
  log: Logger;
  /** Epoch milliseconds. */
  now: () => number;
  timers: SourceTimers;
  /** For retry jitter (tests pin it). */
  random?: () => number;
}

export interface SourceStopReport extends StopReport {
  /** A poll was still running at the stop budget and was cancelled (its unfetched windows are fetched after restart). */
  readonly abandonedPoll: boolean;
}

/** What one poll did. */
export interface PollResult {
  /** Every call of the poll succeeded (or none was due). */
  ok: boolean;
  /** Datapoints handed to the sink. */
  datapoints: number;
  /** Data calls made (after retries, each counts once). */
  calls: number;
  /** Calls that failed after their retries: their windows are asked again next poll. */
  failedCalls: number;
  /** Calls not made this poll (the API was unavailable, the source stopped): asked next poll. */
  deferredCalls: number;
  /** Set when the source stopped for good (credentials refused): why. */
  fatal?: string;
}

/**
 * A pull source: fetches datapoints on its own schedule and hands them to the
 * sink like any receiver. It never sees a destination. Pausing defers its
 * next poll while connected destinations are above their high-water mark.
 */
export interface Source extends Pausable, Component, CounterReporter {
  readonly type: string;
  /** Stop polling; a poll in flight may finish until part of the budget to `deadline` (epoch ms), then is cancelled. */
  stop(deadline: number): Promise<SourceStopReport>;
  /** Poll now (no overlap: during a poll, the same poll's result); works before start() too (poll-once). */
  pollNow(): Promise<PollResult>;
}
