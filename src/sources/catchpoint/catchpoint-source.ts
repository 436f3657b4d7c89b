import type { CatchpointSourceConfig } from '../../config/schema';
import { Backoff } from '../../common/backoff';
import { MetricBatch } from '../../model/metric';
import { ProblemLog } from '../problem-log';
import { StateFile } from '../state-file';
import type { CounterVisitor } from '../../telemetry/counters';
import type { PollResult, Source, SourceDeps, SourceStopReport } from '../source';
import { CallCancelled, CatchpointApiError, CatchpointClient } from './catchpoint-client';
import { CatchpointCounters } from './counters';
import { checkPosition, POSITION_FILE, positionState, resumeFrom, type PositionState } from './position';
import { MalformedResponse, mapRawData } from './raw-data';

/** One data call's worth of tests, with where its next window starts. */
interface Chunk {
  readonly type: string;
  readonly ids: readonly number[];
  /** `web 1001,1002` for log lines. */
  readonly label: string;
  /**
   * Epoch ms: the end of the last window fetched, or the start of the first one
   * (set when first asked, so a first call that fails is asked again from there).
   */
  nextFrom: number | undefined;
}

type State = 'idle' | 'running' | 'failed' | 'stopped';

/**
 * Polls Catchpoint's raw synthetic-test data every `interval` and hands the
 * datapoints to the sink (the pipeline), like a receiver.
 *
 * - Test ids go in calls of at most `batchSize` (20), per test type.
 * - Windows: each call asks [end of its last successful window, now - lag);
 *   the first asks one interval back. A failed call leaves its window to the
 *   next poll, so there is no gap; items outside the asked window are
 *   skipped, so a boundary item is sent by one poll only. No window reaches
 *   back more than `maxWindow` (older data is skipped, logged and counted).
 * - With `stateDir`, where each call's next window starts is saved in
 *   `position.json` (see position.ts) after each window is handed to the
 *   sink, and read at the first poll: a restart of any length resumes there
 *   (within `maxWindow`). A crash between handing a window over and saving
 *   asks that window again: at least once. Without `stateDir` the position
 *   lives in memory only and a restart asks one interval back.
 * - Retries with backoff on 5xx, timeouts and network errors; after the last
 *   one the remaining calls wait for the next poll (the API is down).
 * - Credentials refused by the token endpoint stop this source (logged), never
 *   the relay.
 * - Polls never overlap: the next is scheduled when one ends, at its start + interval.
 */
export class CatchpointSource implements Source {
  readonly type = 'catchpoint';
  readonly counters = new CatchpointCounters();
  private state: State = 'idle';
  private fatal: string | undefined;
  private timer: unknown = undefined;
  private current: Promise<PollResult> | undefined;
  private paused = false;
  private dueWhilePaused = false;
  private readonly cancel = new AbortController();
  private readonly chunks: Chunk[] = [];
  private readonly client: CatchpointClient;
  private readonly backoff: Backoff;
  private readonly batch = new MetricBatch(256);
  private readonly origin: string;
  /** With `stateDir`: the saved position, read at the first poll. */
  private readonly position: StateFile<PositionState> | undefined;
  private positionLoaded = false;
  private saveFailing = false;

  constructor(
    readonly config: CatchpointSourceConfig,
    private readonly deps: SourceDeps,
    fetchImpl?: typeof fetch,
  ) {
    for (const [type, ids] of Object.entries(config.tests)) {
      for (let i = 0; i < ids.length; i += config.batchSize) {
        const part = ids.slice(i, i + config.batchSize);
        this.chunks.push({ type, ids: part, label: `${type} ${part.join(',')}`, nextFrom: undefined });
      }
    }
    this.client = new CatchpointClient(
      { baseUrl: config.baseUrl, clientId: config.clientId, clientSecret: config.clientSecret, timeoutMs: config.timeout },
      { now: deps.now, counters: this.counters, fetch: fetchImpl },
    );
    const r = config.retry;
    this.backoff = new Backoff({ initialMs: r.initialDelay, maxMs: r.maxDelay, factor: 2, jitter: 0.2 }, deps.random);
    this.origin = `catchpoint:${config.name}`;
    if (deps.stateDir !== undefined) {
      this.position = new StateFile({ dir: deps.stateDir, name: POSITION_FILE, check: checkPosition, log: deps.log, context: { source: config.name } });
    }
  }

  get name(): string {
    return this.config.name;
  }

  get counterPath(): string {
    return `sources.${this.config.name}`;
  }

  /** Data calls per poll. */
  get callsPerPoll(): number {
    return this.chunks.length;
  }

  /** Set once the credentials were refused: the source no longer polls. */
  get failure(): string | undefined {
    return this.fatal;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.deps.log.info('catchpoint source started', { source: this.name, baseUrl: this.config.baseUrl, calls: this.chunks.length, intervalMs: this.config.interval });
    this.schedule(0);
  }

  pollNow(): Promise<PollResult> {
    if (this.current !== undefined) return this.current;
    if (this.state === 'failed' || this.state === 'stopped') {
      return Promise.resolve({ ok: false, datapoints: 0, calls: 0, failedCalls: 0, deferredCalls: this.chunks.length, fatal: this.fatal });
    }
    this.clearTimer();
    const startedAt = this.deps.now();
    const p = this.poll()
      .catch((err: unknown): PollResult => {
        this.deps.log.error('catchpoint: poll failed unexpectedly', { source: this.name, error: err instanceof Error ? err.message : String(err) });
        this.counters.pollsFailed++;
        return { ok: false, datapoints: 0, calls: 0, failedCalls: 0, deferredCalls: this.chunks.length };
      })
      .finally(() => {
        this.current = undefined;
        if (this.state === 'running') this.schedule(Math.max(0, startedAt + this.config.interval - this.deps.now()));
      });
    this.current = p;
    return p;
  }

  /** Resolves when no poll is running (tests). */
  async whenIdle(): Promise<void> {
    while (this.current !== undefined) await this.current;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    if (this.dueWhilePaused) {
      this.dueWhilePaused = false;
      if (this.state === 'running') void this.pollNow();
    }
  }

  async stop(deadline: number): Promise<SourceStopReport> {
    if (this.state !== 'failed') this.state = 'stopped';
    this.clearTimer();
    let abandoned = false;
    const current = this.current;
    if (current !== undefined) {
      // A poll in flight may finish within half of what is left; destinations need the rest to deliver.
      const budget = Math.max(0, (deadline - Date.now()) / 2);
      let t: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        current.then(() => true),
        new Promise<boolean>((resolve) => {
          t = setTimeout(() => resolve(false), budget);
        }),
      ]);
      clearTimeout(t);
      if (!finished) {
        abandoned = true;
        this.cancel.abort();
        await current;
      }
    }
    this.cancel.abort();
    const why =
      this.position !== undefined
        ? 'poll in flight cancelled (its windows are fetched after restart)'
        : 'poll in flight cancelled (no stateDir: a restart asks only one interval back)';
    return { name: this.name, undelivered: 0, abandoned: abandoned ? [why] : [], abandonedPoll: abandoned };
  }

  reportCounters(visit: CounterVisitor): void {
    this.counters.visit(visit);
  }

  private schedule(delayMs: number): void {
    this.clearTimer();
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = undefined;
      if (this.paused) this.dueWhilePaused = true;
      else void this.pollNow();
    }, delayMs);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<PollResult> {
    const cfg = this.config;
    const c = this.counters;
    const log = this.deps.log;
    c.polls++;
    const end = this.deps.now() - cfg.lag;
    const result: PollResult = { ok: true, datapoints: 0, calls: 0, failedCalls: 0, deferredCalls: 0 };
    const problems = new ProblemLog();
    let unavailable = false;
    if (!this.positionLoaded) {
      this.positionLoaded = true;
      await this.loadPosition(end);
    }
    // a call's first window starts one interval back (unless resumed), even if it is not made this poll
    for (const chunk of this.chunks) chunk.nextFrom ??= end - cfg.interval;
    for (const chunk of this.chunks) {
      if (unavailable || this.state === 'failed' || this.cancel.signal.aborted) {
        result.deferredCalls++;
        continue;
      }
      let from = chunk.nextFrom ?? end - cfg.interval;
      if (end - from > cfg.maxWindow) {
        c.cappedWindows++;
        log.warn('catchpoint: catching up more than maxWindow; older data is not fetched', {
          source: this.name,
          tests: chunk.label,
          skippedFrom: new Date(from).toISOString(),
          skippedTo: new Date(end - cfg.maxWindow).toISOString(),
        });
        from = end - cfg.maxWindow;
        chunk.nextFrom = from;
      }
      if (from >= end) continue; // the clock stepped back: nothing new to ask
      result.calls++;
      try {
        result.datapoints += await this.fetchAndDeliver(chunk, from, end, problems);
        chunk.nextFrom = end;
        await this.savePosition();
      } catch (err) {
        if (err instanceof CallCancelled) {
          result.calls--;
          result.deferredCalls++;
          continue;
        }
        if (!(err instanceof CatchpointApiError)) throw err;
        result.failedCalls++;
        if (err.fatal) {
          this.fail(err.message);
          result.fatal = err.message;
          continue;
        }
        log.error('catchpoint: data call failed; its window is asked again next poll', {
          source: this.name,
          tests: chunk.label,
          kind: err.kind,
          error: err.message,
          from: new Date(from).toISOString(),
          to: new Date(end).toISOString(),
        });
        unavailable = err.retryable;
      }
    }
    await this.savePosition(); // first windows of calls not made, windows moved by maxWindow
    if (problems.size > 0) problems.flush(log, 'catchpoint: skipped bad data in the API answer', { source: this.name });
    if (unavailable && result.deferredCalls > 0) {
      log.warn('catchpoint: API unavailable; the remaining calls wait for the next poll', { source: this.name, deferred: result.deferredCalls });
    }
    result.ok = result.failedCalls === 0 && result.deferredCalls === 0;
    if (result.ok) c.lastSuccessTime = Math.floor(this.deps.now() / 1000);
    else c.pollsFailed++;
    return result;
  }

  /**
   * Resume each call from the saved position (the earliest saved for any of
   * its tests). A call none of whose tests was saved, or whose saved position
   * is later than this poll's end (the clock stepped back), starts one
   * interval back as without state. Missing or corrupt files: see StateFile.
   */
  private async loadPosition(end: number): Promise<void> {
    const file = this.position;
    if (file === undefined) return;
    const state = await file.load();
    if (state === undefined) return;
    const log = this.deps.log;
    let resumed = 0;
    let earliest: number | undefined;
    for (const chunk of this.chunks) {
      const from = resumeFrom(state, chunk.type, chunk.ids);
      if (from === undefined) continue;
      if (from > end) {
        log.warn('catchpoint: saved position is later than now (clock stepped back?); this call starts one interval back', {
          source: this.name,
          tests: chunk.label,
          saved: new Date(from).toISOString(),
          now: new Date(end).toISOString(),
        });
        continue;
      }
      chunk.nextFrom = from;
      resumed++;
      if (earliest === undefined || from < earliest) earliest = from;
    }
    log.info('catchpoint: resuming from the saved position', {
      source: this.name,
      file: file.path,
      resumedCalls: resumed,
      newCalls: this.chunks.length - resumed,
      ...(earliest !== undefined && { earliest: new Date(earliest).toISOString() }),
    });
  }

  /** Save where each call's next window starts (skipped when unchanged); a failure is logged once and counted, never thrown. */
  private async savePosition(): Promise<void> {
    const file = this.position;
    if (file === undefined) return;
    try {
      await file.save(positionState(this.chunks));
      if (this.saveFailing) {
        this.saveFailing = false;
        this.deps.log.info('catchpoint: the position is saved again', { source: this.name, file: file.path });
      }
    } catch (err) {
      this.counters.stateWriteErrors++;
      if (!this.saveFailing) {
        this.deps.log.error('catchpoint: could not save the position (kept in memory; after a restart the windows since the last saved position are asked again)', {
          source: this.name,
          file: file.path,
          error: err instanceof Error ? err.message : String(err),
        });
      }
      this.saveFailing = true;
    }
  }

  /** One call (with retries) and its datapoints to the sink; returns how many. */
  private async fetchAndDeliver(chunk: Chunk, from: number, to: number, problems: ProblemLog): Promise<number> {
    const body = await this.fetchWithRetry(chunk, from, to);
    const b = this.batch;
    b.clear();
    const cfg = this.config;
    let r;
    try {
      r = mapRawData(body, { prefix: cfg.prefix, tags: cfg.tags, fromMs: from, toMs: to, maxNameLength: this.deps.maxNameLength }, b, (test, field, problem) => problems.add(test, field, problem));
    } catch (err) {
      if (!(err instanceof MalformedResponse)) throw err;
      this.counters.apiErrors.malformed++;
      throw new CatchpointApiError('malformed', err.message, false);
    }
    const c = this.counters;
    c.invalidItems += r.invalidItems;
    c.invalidValues += r.invalidValues;
    c.nullValues += r.nullValues;
    c.outsideWindow += r.outsideWindow;
    if (b.length > 0) this.deps.sink.accept(b, this.origin);
    c.datapoints += b.length;
    return b.length;
  }

  private async fetchWithRetry(chunk: Chunk, from: number, to: number): Promise<unknown> {
    this.backoff.reset();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.client.rawData(chunk.ids, from, to, this.cancel.signal);
      } catch (err) {
        if (!(err instanceof CatchpointApiError)) throw err;
        this.counters.apiErrors[err.kind]++;
        if (!err.retryable || attempt >= this.config.retry.attempts) throw err;
        const delay = this.backoff.next();
        this.deps.log.warn('catchpoint: call failed, retrying', { source: this.name, tests: chunk.label, kind: err.kind, error: err.message, attempt, retryInMs: delay });
        await this.sleep(delay);
      }
    }
  }

  /** Waits on the injected timers; stop() cuts it short. */
  private sleep(ms: number): Promise<void> {
    const signal = this.cancel.signal;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new CallCancelled('stopped'));
        return;
      }
      const onAbort = (): void => {
        this.deps.timers.clearTimeout(handle);
        reject(new CallCancelled('stopped'));
      };
      const handle = this.deps.timers.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private fail(message: string): void {
    this.state = 'failed';
    this.fatal = message;
    this.clearTimer();
    this.deps.log.error('catchpoint source stopped: its credentials were refused; fix clientId/clientSecret and restart (other sources and receivers keep running)', {
      source: this.name,
      error: message,
    });
  }
}
