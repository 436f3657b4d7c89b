import type { Timers } from '../common/timers';
import type { MetricSink } from '../model/metric-sink';
import type { Component, StopReport } from '../model/component';
import type { Pausable } from '../model/pausable';
import type { CounterReporter } from '../telemetry/counters';
import type { Logger } from '../telemetry/logger';

/** The timers a source schedules with; injectable so tests drive polls with a fake clock. */
export type SourceTimers = Timers;
export { realTimers } from '../common/timers';

export interface SourceDeps {
  sink: MetricSink;
  log: Logger;
  /** Epoch milliseconds. */
  now: () => number;
  timers: SourceTimers;
  /** For retry jitter (tests pin it). */
  random?: () => number;
  /** listen.maxNameLength: names a source would build longer than this are reported as problems. */
  maxNameLength?: number;
  /**
   * A directory owned by this source alone, for what must survive a restart:
   * its position (Catchpoint: `position.json`, where each call's next window
   * starts). The relay passes `<dataDir>/sources/<name>` when `dataDir` is
   * set; no other source and no other relay may use the same one. Created
   * (with its parents) on the first save. Files in it are replaced atomically
   * (write `<file>.tmp`, fsync, rename, fsync the directory) after each window
   * is handed to the sink and read at the first poll, so a restart of any
   * length resumes where the last run stopped (bounded by the source's own
   * limits, e.g. Catchpoint's `maxWindow`). Delivery across a crash is at least
   * once: a window handed over but not yet saved is fetched again. A missing
   * file starts the source as new; a corrupt one is renamed `<file>.bad`
   * (warning) and the source starts as new.
   *
   * Undefined: the position is kept in memory only, and a restart starts as
   * new (Catchpoint: one interval back).
   */
  stateDir?: string;
}

export interface SourceStopReport extends StopReport {
  /**
   * A poll was still running at the stop budget and was cancelled. With a
   * `stateDir`, its unfetched windows are fetched after restart; without one,
   * a restart asks only what a new source would.
   */
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
