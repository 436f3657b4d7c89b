import type { DatapointTarget } from '../model/datapoint-target';
import type { DatapointView } from '../model/datapoint-view';
import type { CounterVisitor } from '../telemetry/counters';

/** What a queue did with what it held when it was closed. */
export interface QueueCloseReport {
  /** Written to disk, to be delivered after the next start. */
  readonly spooled: number;
  /** Gone (a memory-only queue, or a spool that could not take them; counted by reason). */
  readonly lost: number;
}

/**
 * What a destination keeps its unsent datapoints in: a bounded FIFO read
 * through the encoders' view. Injected, so a disk spool can wrap or replace
 * the memory ring without the destination changing.
 */
export interface DestinationQueue extends DatapointView {
  /** Most datapoints it holds; push() refuses beyond. */
  readonly limit: number;
  /** False when the queue is at its limit; the caller counts the drop. */
  push(name: string, timestamp: number, value: number): boolean;
  /** Remove n items from the head (after they were encoded and written). */
  shift(n: number): void;
  /** Take what it needs to run (a spool opens its directory); called by Destination.start(). */
  open(): void;
  /** The destination's link came up (true) or went down: a spool writes to disk while it is down. */
  linkChanged(up: boolean): void;
  /**
   * Offers to `to` up to `max` datapoints held beyond memory (a spool's
   * backlog) and lets them go; only while memory is empty, so nothing is
   * acknowledged before what precedes it. Returns how many.
   */
  takeBacklog(to: DatapointTarget, max: number): number;
  /** stop() has begun: deliver what is in memory, take nothing more from disk (it is kept for the next start). */
  holdBacklog(): void;
  /** Set by the destination: called when datapoints appear without a push (replayed from disk). */
  onReadable: () => void;
  /** Set by the destination: the queue cannot take more until it frees up (a spool at maxBytes with whenFull: block), or can again. */
  onFull: (full: boolean) => void;
  /** Keep what is still held for the next start, or let it go: returns which. The queue is empty afterwards. */
  close(): QueueCloseReport;
  /** Counters of its own (a spool's bytes, segments, replayed...), relative to the destination's path. */
  reportCounters(visit: CounterVisitor): void;
}

/**
 * A destination's bounded FIFO of datapoints in memory: a ring of parallel arrays, so
 * queueing a datapoint allocates nothing once the ring has grown. The ring
 * starts small and doubles up to the limit, so an idle destination with a large
 * maxQueueSize costs little memory.
 */
export class DatapointQueue implements DestinationQueue {
  private names: (string | undefined)[];
  private timestamps: Float64Array;
  private values: Float64Array;
  private mask: number;
  private head = 0;
  private size = 0;

  constructor(readonly limit: number) {
    const cap = Math.min(1024, nextPow2(limit));
    this.names = new Array<string | undefined>(cap);
    this.timestamps = new Float64Array(cap);
    this.values = new Float64Array(cap);
    this.mask = cap - 1;
  }

  get length(): number {
    return this.size;
  }

  /** False when the queue is at its limit; the caller counts the drop. */
  push(name: string, timestamp: number, value: number): boolean {
    if (this.size >= this.limit) return false;
    if (this.size > this.mask) this.grow();
    const i = (this.head + this.size) & this.mask;
    this.names[i] = name;
    this.timestamps[i] = timestamp;
    this.values[i] = value;
    this.size++;
    return true;
  }

  /** The k-th queued item, counted from the head. */
  nameAt(k: number): string {
    return this.names[(this.head + k) & this.mask] as string;
  }

  timestampAt(k: number): number {
    return this.timestamps[(this.head + k) & this.mask];
  }

  valueAt(k: number): number {
    return this.values[(this.head + k) & this.mask];
  }

  /** Remove n items from the head (after they were encoded and written). */
  shift(n: number): void {
    for (let k = 0; k < n; k++) this.names[(this.head + k) & this.mask] = undefined;
    this.head = (this.head + n) & this.mask;
    this.size -= n;
  }

  clear(): number {
    const n = this.size;
    this.shift(n);
    return n;
  }

  open(): void {}

  linkChanged(_up: boolean): void {}

  holdBacklog(): void {}

  /** Memory is all it has. */
  takeBacklog(_to: DatapointTarget, _max: number): number {
    return 0;
  }

  onReadable = (): void => {};

  onFull = (_full: boolean): void => {};

  /** Memory does not outlive the process: what is left is lost (the destination counts it). */
  close(): QueueCloseReport {
    return { spooled: 0, lost: this.clear() };
  }

  reportCounters(_visit: CounterVisitor): void {}

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const names = new Array<string | undefined>(cap);
    const ts = new Float64Array(cap);
    const vs = new Float64Array(cap);
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & this.mask;
      names[k] = this.names[i];
      ts[k] = this.timestamps[i];
      vs[k] = this.values[i];
    }
    this.names = names;
    this.timestamps = ts;
    this.values = vs;
    this.mask = cap - 1;
    this.head = 0;
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
