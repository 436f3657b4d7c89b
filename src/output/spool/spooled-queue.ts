import type { DatapointTarget } from '../../model/datapoint-target';
import { DatapointQueue, type DestinationQueue, type QueueCloseReport } from '../queue';
import type { CounterVisitor } from '../../telemetry/counters';
import type { Logger } from '../../telemetry/logger';
import { RateLimitedLog } from '../../telemetry/rate-limited-log';
import { SPOOL_COUNTERS, SpoolCounters, type AppendResult, type Spool, type SpoolRecord } from './spool';
import { visitCounters, type CounterTable } from '../../telemetry/counters';

export interface SpooledQueueOptions {
  /** overflow: to disk while the link is down or memory is past its high-water mark; always: every datapoint to disk first. */
  mode: 'overflow' | 'always';
  /** Memory queue bound (datapoints). */
  maxQueueSize: number;
  highWaterMark: number;
  lowWaterMark: number;
  /** overflow only: spill to disk past the high-water mark (whenSlow: spool), or let memory fill so the destination pauses receivers (whenSlow: pause). */
  spillWhenSlow: boolean;
  /** Most spooled datapoints replayed per second in overflow mode (always mode replays at the link's pace: it is the only path). */
  replayRate: number;
  syncIntervalMs: number;
  /** Datapoints per spool record: one write syscall each. */
  recordSize: number;
}

export interface SpooledQueueDeps {
  /** Opened at open(), not before: building a relay touches no disk. */
  openSpool: () => Spool;
  log: Logger;
  now: () => number;
}

/**
 * What the queue itself loses; everything else is in the spool's counters
 * (written, replayed, acked, dropped by reason).
 */
export class SpooledQueueCounters {
  /** Still refused by a full spool (whenFull: block) at shutdown. */
  lostBlocked = 0;
  /** Offered while the spool was not open (before start or after stop). */
  lostClosed = 0;
}

/** Which records the memory queue's datapoints came from, in order: null for live datapoints. */
interface Run {
  record: SpoolRecord['id'] | null;
  count: number;
}

const SPOOLED_QUEUE_COUNTERS = { lostBlocked: 'counter', lostClosed: 'counter' } as const satisfies CounterTable<SpooledQueueCounters>;

const REPLAY_TICK_MS = 100;

/**
 * A destination queue backed by a disk spool. The memory queue is what the
 * encoder reads; the spool holds what memory should not (the link is down, the
 * peer is slow, or mode is always). Spooled records are acknowledged only once
 * every datapoint of theirs has been written to the link (at least once).
 */
export class SpooledQueue implements DestinationQueue {
  readonly counters = new SpooledQueueCounters();
  onReadable = (): void => {};
  onFull = (_full: boolean): void => {};
  private readonly memory: DatapointQueue;
  /** Datapoints waiting to become one spool record. */
  private readonly staged: DatapointQueue;
  private readonly runs: Run[] = [];
  private spool: Spool | null = null;
  /** The spool's counters, kept after close so reported names never disappear. */
  private spoolCounters = new SpoolCounters();
  private up = false;
  private holding = false;
  /** The spool refused the staged record (whenFull: block): it is kept and retried, and receivers are paused. */
  private full = false;
  private stagedFlush: NodeJS.Immediate | null = null;
  private replayTimer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  /** Replay tokens (datapoints) and when they were last topped up. */
  private tokens: number;
  private tokensAt = 0;
  private readonly limited: RateLimitedLog;

  constructor(
    private readonly opts: SpooledQueueOptions,
    private readonly deps: SpooledQueueDeps,
  ) {
    this.memory = new DatapointQueue(opts.maxQueueSize);
    // normally one record; while a full spool blocks, it also holds what arrives before the receivers' pause takes
    // effect (the chunks already read), up to the memory bound: beyond it they are refused (the destination counts them)
    this.staged = new DatapointQueue(Math.max(opts.recordSize, opts.maxQueueSize));
    this.tokens = opts.replayRate;
    this.limited = new RateLimitedLog(deps.log, 30_000);
  }

  get length(): number {
    return this.memory.length;
  }

  get limit(): number {
    return this.memory.limit;
  }

  nameAt(k: number): string {
    return this.memory.nameAt(k);
  }

  timestampAt(k: number): number {
    return this.memory.timestampAt(k);
  }

  valueAt(k: number): number {
    return this.memory.valueAt(k);
  }

  open(): void {
    if (this.spool !== null) return;
    this.spool = this.deps.openSpool();
    this.spoolCounters = this.spool.counters;
    this.syncTimer = setInterval(() => this.spool?.sync(), this.opts.syncIntervalMs);
    this.syncTimer.unref();
    this.replayTimer = setInterval(() => this.refill(), REPLAY_TICK_MS);
    this.replayTimer.unref();
  }

  push(name: string, timestamp: number, value: number): boolean {
    const m = this.memory;
    if (this.opts.mode === 'overflow' && this.up && (m.length < this.opts.highWaterMark || !this.opts.spillWhenSlow)) {
      if (!m.push(name, timestamp, value)) return false;
      this.noteLive();
      return true;
    }
    return this.stage(name, timestamp, value);
  }

  shift(n: number): void {
    this.memory.shift(n);
    let left = n;
    const runs = this.runs;
    while (left > 0 && runs.length > 0) {
      const run = runs[0];
      const take = Math.min(run.count, left);
      run.count -= take;
      left -= take;
      if (run.count > 0) break;
      runs.shift();
      if (run.record !== null) this.spool?.ack(run.record);
    }
    if (this.memory.length <= this.opts.lowWaterMark) this.refill();
  }

  holdBacklog(): void {
    this.holding = true;
  }

  takeBacklog(to: DatapointTarget, max: number): number {
    if (this.memory.length > 0) return 0;
    let moved = 0;
    const st = this.staged;
    if (st.length > 0 && !this.full) {
      for (let k = 0; k < st.length; k++) to.offer(st.nameAt(k), st.timestampAt(k), st.valueAt(k));
      moved += st.length;
      st.clear();
    }
    const spool = this.spool;
    while (spool !== null && moved < max) {
      const rec = spool.readNext();
      if (rec === undefined) break;
      const n = rec.names.length;
      for (let i = 0; i < n; i++) to.offer(rec.names[i], rec.timestamps[i], rec.values[i]);
      spool.ack(rec.id);
      moved += n;
    }
    return moved;
  }

  linkChanged(up: boolean): void {
    this.up = up;
    if (up) this.refill();
  }

  close(): QueueCloseReport {
    this.clearTimers();
    const spool = this.spool;
    const writtenBefore = spool?.counters.written ?? 0;
    const lostBefore = this.lost();
    // live datapoints in memory go to disk; replayed ones are there already (unacknowledged)
    const m = this.memory;
    let k = 0;
    for (const run of this.runs) {
      if (run.record === null) {
        for (let i = 0; i < run.count; i++) if (!this.stage(m.nameAt(k + i), m.timestampAt(k + i), m.valueAt(k + i))) this.counters.lostBlocked++;
      }
      k += run.count;
    }
    this.runs.length = 0;
    m.clear();
    let spooled = 0;
    if (spool !== null) {
      this.flushStaged();
      if (this.full) this.counters.lostBlocked += this.staged.clear();
      spooled = spool.counters.written - writtenBefore;
      spool.close();
    } else {
      this.counters.lostClosed += this.staged.clear();
    }
    this.spool = null;
    return { spooled, lost: this.lost() - lostBefore };
  }

  reportCounters(visit: CounterVisitor): void {
    const spoolVisit: CounterVisitor = (key, value, kind) => visit(`spool.${key}`, value, kind);
    visitCounters(this.spoolCounters, SPOOL_COUNTERS, spoolVisit);
    visitCounters(this.counters, SPOOLED_QUEUE_COUNTERS, spoolVisit);
    const s = this.spool;
    spoolVisit('bytes', s?.bytes ?? 0, 'gauge');
    spoolVisit('segments', s?.segments ?? 0, 'gauge');
    spoolVisit('pending', s?.pendingDatapoints ?? 0, 'gauge');
    spoolVisit('oldestAgeSeconds', (s?.oldestAgeMs() ?? 0) / 1000, 'gauge');
  }

  /** Datapoints refused for good (the spool's reasons and the queue's own). */
  private lost(): number {
    const s = this.spoolCounters;
    return s.droppedFull + s.droppedReserve + s.droppedInvalid + this.counters.lostBlocked + this.counters.lostClosed;
  }

  private noteLive(): void {
    const last = this.runs.at(-1);
    if (last !== undefined && last.record === null) last.count++;
    else this.runs.push({ record: null, count: 1 });
  }

  /** False only while a full spool (whenFull: block) holds maxQueueSize staged datapoints: receivers are being paused, the destination counts the drop. */
  private stage(name: string, timestamp: number, value: number): boolean {
    if (!this.staged.push(name, timestamp, value)) return false;
    if (this.full) return true;
    if (this.staged.length >= this.opts.recordSize) this.flushStaged();
    else if (this.stagedFlush === null) this.stagedFlush = setImmediate(() => this.flushStaged());
    return true;
  }

  /** The staged datapoints become one spool record (or one counted drop). */
  private flushStaged(): void {
    if (this.stagedFlush !== null) clearImmediate(this.stagedFlush);
    this.stagedFlush = null;
    const st = this.staged;
    const n = st.length;
    if (n === 0) return;
    const spool = this.spool;
    const result: AppendResult | 'closed' = spool === null ? 'closed' : spool.append(st, 0, n);
    if (result === 'blocked') {
      // kept and retried on every replay tick; receivers pause until the spool takes it
      if (!this.full) {
        this.full = true;
        this.limited.warn('spool:blocked', 'spool is full (whenFull: block): pausing receivers until it drains', { datapoints: n });
        this.onFull(true);
      }
      return;
    }
    st.clear();
    if (this.full) {
      this.full = false;
      this.onFull(false);
    }
    if (result !== 'written') this.countDrop(result, n);
    if (this.opts.mode === 'always' && this.up) this.refill();
  }

  /** The spool counted full and reserve refusals itself; closed is the queue's to count. */
  private countDrop(result: Exclude<AppendResult, 'written' | 'blocked'> | 'closed', n: number): void {
    if (result === 'closed') this.counters.lostClosed += n;
    this.limited.warn(`spool:${result}`, 'spool refused datapoints', () => ({ reason: result, datapoints: n }));
  }

  /**
   * Moves spooled records into memory while the link is up and memory is
   * below its low-water mark: within replayRate in overflow mode (live traffic
   * first, no flood after an outage), at the link's pace in always mode, where
   * the spool is the only path.
   */
  private refill(): void {
    if (this.full) this.flushStaged();
    const spool = this.spool;
    if (spool === null || !this.up || this.holding) return;
    const always = this.opts.mode === 'always';
    // below the high-water mark in both modes, so replay never makes the destination pause receivers
    const target = this.opts.lowWaterMark;
    const m = this.memory;
    if (!always) this.topUpTokens();
    let moved = 0;
    while (m.length < target && m.limit - m.length >= this.opts.recordSize && (always || this.tokens > 0)) {
      const rec = spool.readNext();
      if (rec === undefined) break;
      const n = rec.names.length;
      for (let i = 0; i < n; i++) m.push(rec.names[i], rec.timestamps[i], rec.values[i]);
      this.runs.push({ record: rec.id, count: n });
      if (!always) this.tokens -= n;
      moved += n;
    }
    if (moved > 0) this.onReadable();
  }

  private topUpTokens(): void {
    const now = this.deps.now();
    const rate = this.opts.replayRate;
    this.tokens = Math.min(rate, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
  }

  private clearTimers(): void {
    if (this.replayTimer !== null) clearInterval(this.replayTimer);
    if (this.syncTimer !== null) clearInterval(this.syncTimer);
    if (this.stagedFlush !== null) clearImmediate(this.stagedFlush);
    this.replayTimer = null;
    this.syncTimer = null;
    this.stagedFlush = null;
  }
}
