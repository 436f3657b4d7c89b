import { Backoff, type BackoffOptions } from '../common/backoff';
import { realTimers, type Timers } from '../common/timers';
import { SendRateLimit } from './rate-limit';
import type { DestinationQueue } from './queue';
import type { Connection, Transport } from './transport/transport';
import { ByteWriter } from '../codec/byte-writer';
import type { Encoder } from '../codec/encoder';
import type { Component, StopReport } from '../model/component';
import type { DatapointTarget } from '../model/datapoint-target';
import type { Logger } from '../telemetry/logger';
import { DESTINATION_COUNTERS, DestinationCounters, visitCounters, type CounterReporter, type CounterVisitor } from '../telemetry/counters';
import { DurationHistogram, FLUSH_BUCKETS } from '../telemetry/histogram';
import { RateLimitedLog } from '../telemetry/rate-limited-log';

/**
 * The link to the peer:
 *  - idle: not started, or closed after draining at stop;
 *  - connecting -> connected (writable) <-> blocked (write() said false, waiting for 'drain');
 *  - backoff: the connection failed or was lost, a retry is scheduled;
 *  - draining: stop() emptied the queue and ended the connection (FIN sent), waiting for it to close;
 *  - stopped: for good.
 */
export type DestinationState = 'idle' | 'connecting' | 'connected' | 'blocked' | 'backoff' | 'draining' | 'stopped';

const TRANSITIONS: Readonly<Record<DestinationState, readonly DestinationState[]>> = {
  idle: ['connecting', 'stopped'],
  connecting: ['connected', 'backoff', 'stopped'],
  connected: ['blocked', 'backoff', 'draining', 'stopped'],
  blocked: ['connected', 'backoff', 'stopped'],
  backoff: ['connecting', 'stopped'],
  draining: ['idle', 'stopped'],
  stopped: [],
};

/**
 * Whether this destination holds receivers back:
 *  - normal: no;
 *  - high: connected and above its high-water mark, so receivers are paused until it is below its low-water mark;
 *  - stalled: it held them for stallTimeout in all (pauses add up until its queue is empty once) without emptying its queue, so it lets them go and drops at its bound until it drains;
 *  - full: its spool is at maxBytes with whenFull: block, so receivers are paused, connected or not, until the spool takes data again.
 */
export type PressureState = 'normal' | 'high' | 'stalled' | 'full';

/** The pressure states in which this destination holds the receivers paused. */
function holdsReceivers(p: PressureState): boolean {
  return p === 'high' || p === 'full';
}

/** Told when a connected destination's queue crosses its water marks (the pipeline pauses/resumes sources). */
export interface PressureListener {
  onPressure(destination: Destination, high: boolean): void;
}

export interface DestinationOptions {
  name: string;
  /** Path segment for this destination in self-metrics. */
  metricName: string;
  maxDatapointsPerMessage: number;
  /** Queue length at which a connected destination asks for sources to pause. */
  highWaterMark: number;
  /** Queue length below which it lets them resume. */
  lowWaterMark: number;
  /**
   * How long a connected destination may hold receivers paused without
   * draining to its low-water mark. After that it is treated like a down one:
   * it stops pausing receivers and drops at its queue bound. 0 = forever.
   */
  stallTimeoutMs: number;
  /** Most datapoints sent per second; undefined: no limit. */
  maxRate?: number;
  /**
   * Longest a queued datapoint waits for a fuller write (carbon-relay-ng's
   * flushMaxWait): until about a write's worth is queued (8 messages on a byte
   * stream, one on a message transport), it is written when this runs out. At
   * low rates a write per few datapoints would cost more than the datapoints.
   * 0 or undefined: written on the next turn of the event loop.
   */
  flushMaxWaitMs?: number;
  backoff: BackoffOptions;
}

export interface DestinationDeps {
  queue: DestinationQueue;
  transport: Transport;
  encoder: Encoder;
  log: Logger;
  pressure?: PressureListener;
  /** The clock and timers maxRate is measured and waited with (default: real ones). */
  now?: () => number;
  timers?: Timers;
}

export interface DestinationStopReport extends StopReport {
  /** Not delivered by the deadline but kept on disk: delivered after the next start. */
  readonly spooled: number;
}

/** Bytes encoded per write on a byte stream: large enough to amortise the syscall, small enough to keep latency low. */
const WRITE_CHUNK_BYTES = 256 * 1024;
/** Messages gathered per write under flushMaxWait on a byte stream (8 x 500 datapoints of ~60 bytes fill about a write chunk). */
const MESSAGES_PER_WRITE = 8;

/**
 * What was written to one connection: datapoints count as sent only once their
 * chunk has left the process, so a connection that closes with chunks still in
 * Node's buffer shows exactly what it lost.
 */
interface Flight {
  written: number;
  flushed: number;
  open: boolean;
  /** The last message written: its size, datapoints and first name, for the log when the peer hangs up. */
  lastBytes: number;
  lastDatapoints: number;
  lastName: string;
}

function newFlight(): Flight {
  return { written: 0, flushed: 0, open: true, lastBytes: 0, lastDatapoints: 0, lastName: '' };
}

/**
 * One output: a queue, an encoder and a transport, with reconnect.
 * offer() never blocks: it queues or counts a drop. Writing happens on the next
 * turn of the event loop, in messages of at most maxDatapointsPerMessage, and
 * stops whenever the transport reports backpressure, so Node never buffers more
 * than one write chunk for us.
 */
export class Destination implements Component, CounterReporter, DatapointTarget {
  readonly name: string;
  readonly metricName: string;
  readonly counterPath: string;
  readonly counters = new DestinationCounters();
  /** From write() to the chunk leaving the process (the write callback): how long the peer makes us wait. */
  readonly flushSeconds = new DurationHistogram(FLUSH_BUCKETS);
  readonly queue: DestinationQueue;
  private state: DestinationState = 'idle';
  private pressure: PressureState = 'normal';
  private conn: Connection | null = null;
  private flight: Flight = newFlight();
  private flushPending: NodeJS.Immediate | null = null;
  /** flushMaxWait running: a flush is due when it fires, or sooner once a full message is queued. */
  private lingerTimer: NodeJS.Timeout | null = null;
  /** Queued datapoints written without waiting out flushMaxWait: about a write's worth. */
  private readonly flushAt: number;
  private stallTimer: NodeJS.Timeout | null = null;
  /**
   * Time spent holding receivers since the queue was last empty (ms), so a peer
   * that drains a little between pauses still stalls after stallTimeout in all.
   */
  private heldMs = 0;
  private heldSince = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly writer = new ByteWriter(WRITE_CHUNK_BYTES + 64 * 1024);
  /** Bytes to gather before a write: a whole chunk on a byte stream, one message on a message transport. */
  private readonly writeAt: number;
  private readonly backoff: Backoff;
  private readonly limited: RateLimitedLog;
  /** Set while stop() waits for the queue to drain. */
  private drainWaiter: (() => void) | null = null;
  private wasHealthy = false;
  /** False while the transport says what is behind its open connection is away (TransportEvents.onPeerReachable). */
  private peerReachable = true;
  /** The last connection failure, for the operator's status page. */
  private lastFailure: { readonly reason: string; readonly at: number } | undefined;
  private readonly healthListeners: (() => void)[] = [];
  /** maxRate; null without one, so the writer pays nothing for it. */
  private readonly rateLimit: SendRateLimit | null;

  constructor(
    private readonly opts: DestinationOptions,
    private readonly deps: DestinationDeps,
  ) {
    this.name = opts.name;
    this.metricName = opts.metricName;
    this.counterPath = `destinations.${opts.metricName}`;
    this.queue = deps.queue;
    this.queue.onReadable = () => this.scheduleFlush();
    this.queue.onFull = (full) => {
      if (full) this.setPressure('full');
      else if (this.pressure === 'full') this.setPressure('normal');
    };
    this.writeAt = deps.transport.framing === 'message' ? 1 : WRITE_CHUNK_BYTES;
    // Each write costs far more than a datapoint (a loopback write ~100 us): at 50,000/s, gathering
    // writes of several messages took a third off the CPU per datapoint. Half the high-water mark at most,
    // so waiting never pauses receivers.
    const perWrite = deps.transport.framing === 'message' ? opts.maxDatapointsPerMessage : MESSAGES_PER_WRITE * opts.maxDatapointsPerMessage;
    this.flushAt = Math.max(1, Math.min(perWrite, Math.floor(opts.highWaterMark / 2)));
    this.backoff = new Backoff(opts.backoff);
    this.limited = new RateLimitedLog(deps.log, 30_000);
    this.rateLimit =
      opts.maxRate === undefined ? null : new SendRateLimit(opts.maxRate, { now: deps.now ?? Date.now, timers: deps.timers ?? realTimers, counters: this.counters });
  }

  /** Datapoints per second it sends at most (maxRate), if limited. */
  get maxRate(): number | undefined {
    return this.rateLimit?.perSecond;
  }

  /** Datapoints written to the current connection that have not left the process yet (neither sent nor lost). */
  get inFlight(): number {
    const f = this.flight;
    return f.open ? f.written - f.flushed : 0;
  }

  get currentState(): DestinationState {
    return this.state;
  }

  get pressureState(): PressureState {
    return this.pressure;
  }

  get description(): string {
    return this.deps.transport.description;
  }

  get isConnected(): boolean {
    return this.state === 'connected' || this.state === 'blocked';
  }

  /**
   * What failover and any_of groups go by: down from the moment its connection
   * is lost or a connect fails, or once it has stalled (connected, but not
   * draining below its low-water mark within stallTimeout); up again once
   * connected and not stalled.
   */
  get healthy(): boolean {
    return this.isConnected && this.pressure !== 'stalled' && this.peerReachable;
  }

  /** The last connection failure (epoch ms), if any. */
  get lastError(): { readonly reason: string; readonly at: number } | undefined {
    return this.lastFailure;
  }

  /** Called (synchronously) whenever `healthy` changes. Returns the unsubscribe function. */
  onHealthChange(listener: () => void): () => void {
    this.healthListeners.push(listener);
    return () => {
      const i = this.healthListeners.indexOf(listener);
      if (i >= 0) this.healthListeners.splice(i, 1);
    };
  }

  /**
   * Moves up to `max` datapoints this destination holds but has not sent
   * (memory first, then its spool's backlog) to `to`; returns how many. A
   * failover or any_of group calls it for a member that is down.
   */
  handOver(to: DatapointTarget, max: number): number {
    const q = this.queue;
    let moved = 0;
    while (moved < max) {
      const n = Math.min(max - moved, q.length);
      if (n === 0) {
        const b = q.takeBacklog(to, max - moved);
        if (b === 0) break;
        moved += b;
        continue;
      }
      for (let k = 0; k < n; k++) to.offer(q.nameAt(k), q.timestampAt(k), q.valueAt(k));
      q.shift(n);
      moved += n;
    }
    this.counters.handedOver += moved;
    return moved;
  }

  /**
   * Datapoints this destination can still queue without dropping, for senders
   * that can be told to retry (HTTP). A destination that is down or stalled
   * drops at its bound by design and holds nobody back, like flow control.
   */
  get admissionRoom(): number {
    if (this.pressure === 'full') return 0;
    if (!this.isConnected || this.pressure === 'stalled') return Infinity;
    return this.queue.limit - this.queue.length;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.queue.open();
    this.connect();
  }

  /** Queue one datapoint, or count why it was dropped. Never blocks, never throws. */
  offer(name: string, timestamp: number, value: number): void {
    const c = this.counters;
    c.attemptedRelays++;
    const q = this.queue;
    if (!q.push(name, timestamp, value)) {
      c.fullQueueDrops++;
      if (c.fullQueueDrops % 1000 === 1) {
        this.limited.warn(`${this.name}:full`, 'destination queue full, dropping datapoints', () => ({
          destination: this.name,
          peer: this.description,
          maxQueueSize: q.limit,
          fullQueueDrops: c.fullQueueDrops,
        }));
      }
      return;
    }
    const len = q.length;
    if (len > c.relayMaxQueueLength) c.relayMaxQueueLength = len;
    const s = this.state;
    if (s !== 'connected' && s !== 'blocked') {
      c.queuedUntilConnected++;
      return;
    }
    if (this.pressure === 'normal' && len >= this.opts.highWaterMark) this.setPressure('high');
    if (s === 'connected') this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushPending !== null || this.state !== 'connected') return;
    const wait = this.opts.flushMaxWaitMs ?? 0;
    // stopping: what is queued goes now
    if (wait > 0 && this.queue.length < this.flushAt && this.drainWaiter === null) {
      // real time, not deps.timers: that clock is maxRate's, and a test driving it must not hold back every write
      if (this.lingerTimer === null) this.lingerTimer = setTimeout(this.lingered, wait);
      return;
    }
    this.flushPending = setImmediate(this.flush);
  }

  private readonly lingered = (): void => {
    this.lingerTimer = null;
    if (this.flushPending === null && this.state === 'connected') this.flushPending = setImmediate(this.flush);
  };

  private cancelLinger(): void {
    if (this.lingerTimer === null) return;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
  }

  reportCounters(visit: CounterVisitor): void {
    visitCounters(this.counters, DESTINATION_COUNTERS, visit);
    visit('queueLength', this.queue.length, 'gauge');
    visit('flushes', this.flushSeconds.count, 'counter');
    visit('flushSeconds', this.flushSeconds.sum, 'counter');
    this.deps.transport.reportCounters?.(visit);
    this.queue.reportCounters(visit);
  }

  resetPeaks(): void {
    this.counters.relayMaxQueueLength = this.queue.length;
  }

  /**
   * Stop reconnecting, deliver what is queued while the deadline allows, then
   * close. Resolves with what could not be delivered.
   */
  async stop(deadline: number): Promise<DestinationStopReport> {
    if (this.state !== 'stopped') {
      this.queue.holdBacklog();
      const flushed = new Promise<void>((resolve) => {
        this.drainWaiter = resolve;
      });
      if (this.lingerTimer !== null) {
        this.cancelLinger();
        this.scheduleFlush();
      }
      this.checkDrained();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([flushed, new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
      clearTimeout(timer);
      this.drainWaiter = null;
    }
    this.to('stopped');
    this.clearTimers();
    const conn = this.conn;
    this.conn = null;
    // chunks Node still buffers at the deadline never reach the peer: they are undelivered, not sent
    const unflushed = this.closeFlight();
    // Closing is graceful in the kernel: what it holds (whole messages when nothing is unflushed) still reaches the
    // peer; with chunks unflushed the peer may see the start of one message, which carbon discards at close.
    if (conn !== null) conn.destroy();
    const closed = this.queue.close();
    const spooled = closed.spooled;
    const lost = closed.lost + unflushed;
    this.counters.undeliveredAtShutdown += lost;
    if (lost > 0) this.deps.log.error('undelivered datapoints at shutdown', { destination: this.name, peer: this.description, undelivered: lost });
    if (spooled > 0) this.deps.log.info('datapoints spooled at shutdown, delivered after the next start', { destination: this.name, peer: this.description, spooled });
    return { name: this.name, undelivered: lost, spooled, abandoned: [] };
  }

  /**
   * The one place the link state changes. A transition the diagram above does
   * not have is refused and logged (a bug), never thrown into a socket callback.
   */
  private to(next: DestinationState): boolean {
    const from = this.state;
    if (from === next) return true;
    if (!TRANSITIONS[from].includes(next)) {
      this.deps.log.error('destination: refused state transition (a bug; please report it)', { destination: this.name, from, to: next });
      return false;
    }
    this.state = next;
    if (this.deps.log.isDebugEnabled()) this.deps.log.debug('destination state', { destination: this.name, from, to: next });
    const wasUp = from === 'connected' || from === 'blocked';
    const up = next === 'connected' || next === 'blocked';
    if (wasUp !== up) this.queue.linkChanged(up);
    this.checkHealth();
    return true;
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.state === 'stopped') return;
    this.to('connecting');
    this.flight = newFlight();
    this.conn = this.deps.transport.connect({
      onConnect: () => this.onConnect(),
      onDrain: () => {
        if (this.state !== 'blocked') return;
        this.to('connected');
        this.flush();
      },
      onClose: (err) => this.onClose(err),
      onPeerReachable: (reachable) => {
        this.peerReachable = reachable;
        this.checkHealth();
      },
    });
  }

  private onConnect(): void {
    this.peerReachable = true;
    if (this.state !== 'connecting') return;
    this.to('connected');
    this.counters.connects++;
    this.backoff.reset();
    this.deps.log.info('destination connected', { destination: this.name, peer: this.description, queued: this.queue.length });
    if (this.pressure === 'normal' && this.queue.length >= this.opts.highWaterMark) this.setPressure('high');
    // a transport may report onConnect from inside connect(), before the connection is stored: flush once it is
    if (this.conn !== null) this.flush();
    else this.scheduleFlush();
  }

  private onClose(err: Error | undefined): void {
    const from = this.state;
    this.conn = null;
    if (this.pressure === 'high' || this.pressure === 'stalled') this.setPressure('normal');
    if (from === 'stopped') return;
    const flight = this.flight;
    const unflushed = this.closeFlight();
    this.counters.lostInFlight += unflushed;
    if (from === 'draining') {
      // stop() closed a drained connection on purpose.
      this.to('idle');
      this.checkDrained();
      return;
    }
    const wasConnected = from === 'connected' || from === 'blocked';
    if (!wasConnected) this.counters.connectFailures++;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    const reason = err ? `${code ?? err.name}: ${err.message}` : 'closed by peer';
    this.lastFailure = { reason: `${wasConnected ? 'connection lost' : 'connect failed'}: ${reason}`, at: Date.now() };
    if (wasConnected && flight.written > 0) {
      // Carbon answers nothing, not even to reject: it hangs up. The last message written is the likeliest cause.
      this.counters.closedByPeer++;
      this.limited.warn(`${this.name}:close`, 'destination closed the connection after receiving data (a rejection, or a restart); datapoints it had not read are lost', {
        destination: this.name,
        peer: this.description,
        reason,
        lastMessageBytes: flight.lastBytes,
        lastMessageDatapoints: flight.lastDatapoints,
        lastMessageFirstName: flight.lastName.slice(0, 100),
        lastMessageFirstNameBytes: Buffer.byteLength(flight.lastName),
        lostInFlight: unflushed,
        queued: this.queue.length,
      });
    } else {
      this.limited.warn(`${this.name}:close`, wasConnected ? 'destination connection lost' : 'destination connect failed', {
        destination: this.name,
        peer: this.description,
        reason,
        queued: this.queue.length,
      });
    }
    this.to('backoff');
    this.retryTimer = setTimeout(() => this.connect(), this.backoff.next());
    this.retryTimer.unref();
  }

  private readonly flush = (): void => {
    this.flushPending = null;
    this.cancelLinger();
    const conn = this.conn;
    if (this.state !== 'connected' || conn === null) return;
    const limit = this.rateLimit;
    // maxRate: the scheduled resume flushes; flushing on each offer meanwhile would send tiny messages
    if (limit !== null && limit.waiting) return;
    let budget = limit === null ? Infinity : limit.budget();
    const q = this.queue;
    const w = this.writer;
    const c = this.counters;
    const flight = this.flight;
    const max = this.opts.maxDatapointsPerMessage;
    const writeAt = this.writeAt;
    while (q.length > 0 && budget > 0) {
      let datapoints = 0;
      while (q.length > 0 && w.pos < writeAt && datapoints < budget) {
        const start = w.pos;
        const n = this.deps.encoder.encode(q, Math.min(max, budget - datapoints), w);
        if (n === 0) {
          this.dropOversized();
          continue;
        }
        flight.lastBytes = w.pos - start;
        flight.lastDatapoints = n;
        flight.lastName = q.nameAt(0);
        q.shift(n);
        datapoints += n;
        c.batchesSent++;
      }
      if (w.pos === 0) break;
      budget -= datapoints;
      limit?.spend(datapoints);
      flight.written += datapoints;
      const chunk = w.take();
      const writtenAt = performance.now();
      if (!conn.write(chunk, (rejected) => this.flushed(flight, datapoints, writtenAt, rejected ?? 0))) {
        this.to('blocked');
        break;
      }
    }
    if (limit !== null && q.length > 0 && budget <= 0 && this.state === 'connected') limit.wait(this.flush);
    if (q.length <= this.opts.lowWaterMark && (this.pressure === 'high' || this.pressure === 'stalled')) this.setPressure('normal');
    // empty with the connection still taking writes: the peer kept up (an empty queue behind a full socket buffer does not count)
    if (q.length === 0 && this.state === 'connected') this.heldMs = 0;
    this.checkDrained();
  };

  private flushed(flight: Flight, datapoints: number, writtenAt: number, rejected: number): void {
    if (!flight.open) return;
    this.flushSeconds.observe((performance.now() - writtenAt) / 1000);
    flight.flushed += datapoints;
    this.counters.sent += datapoints - rejected;
    this.counters.rejected += rejected;
  }

  /** Ends the current connection's accounting; returns the datapoints written to it that never left the process. */
  private closeFlight(): number {
    const f = this.flight;
    if (!f.open) return 0;
    f.open = false;
    return f.written - f.flushed;
  }

  /** The head datapoint does not fit in a message of its own (maxFrameBytes / maxLineBytes): sending it would make carbon hang up. */
  private dropOversized(): void {
    const q = this.queue;
    const name = q.nameAt(0);
    q.shift(1);
    const c = this.counters;
    c.oversizedDrops++;
    this.limited.warn(`${this.name}:oversized`, 'datapoint too large for one message to this destination, dropping it', () => ({
      destination: this.name,
      peer: this.description,
      name: name.slice(0, 100),
      nameBytes: Buffer.byteLength(name),
      oversizedDrops: c.oversizedDrops,
    }));
  }

  /** The one place the pressure state changes; tells the pipeline when receivers should pause or resume. */
  private setPressure(next: PressureState): void {
    const from = this.pressure;
    if (from === next) return;
    this.pressure = next;
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    const now = Date.now();
    if (from === 'high') this.heldMs += now - this.heldSince;
    if (next === 'stalled') this.heldMs = 0;
    if (next === 'high' && this.opts.stallTimeoutMs > 0) {
      this.heldSince = now;
      this.stallTimer = setTimeout(() => this.onStall(), Math.max(0, this.opts.stallTimeoutMs - this.heldMs));
      this.stallTimer.unref();
    }
    if (this.deps.log.isDebugEnabled()) this.deps.log.debug('destination pressure', { destination: this.name, from, to: next });
    // stalled -> normal changes nothing for receivers: they were already let go
    if (holdsReceivers(from) !== holdsReceivers(next)) this.deps.pressure?.onPressure(this, holdsReceivers(next));
    this.checkHealth();
  }

  private onStall(): void {
    this.stallTimer = null;
    if (this.pressure !== 'high') return;
    this.counters.stalls++;
    this.limited.warn(`${this.name}:stall`, 'destination held the receivers for stallTimeout in all without emptying its queue; no longer pausing receivers for it (it will drop at maxQueueSize)', {
      destination: this.name,
      peer: this.description,
      queued: this.queue.length,
      stallTimeoutMs: this.opts.stallTimeoutMs,
      stalls: this.counters.stalls,
    });
    this.setPressure('stalled');
  }

  /**
   * During stop(): once nothing is queued, end the connection (which flushes
   * Node's buffer, then sends FIN) and finish when it has closed.
   */
  private checkDrained(): void {
    if (this.drainWaiter === null || this.queue.length > 0) return;
    if (this.conn !== null && this.isConnected) {
      if (this.state === 'connected') {
        this.to('draining');
        this.conn.end();
      }
      return;
    }
    if (this.state === 'draining') return;
    this.drainWaiter();
  }

  private checkHealth(): void {
    const h = this.healthy;
    if (h === this.wasHealthy) return;
    this.wasHealthy = h;
    for (const l of this.healthListeners) l();
  }

  private clearTimers(): void {
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.flushPending !== null) clearImmediate(this.flushPending);
    this.cancelLinger();
    this.rateLimit?.cancel();
    this.stallTimer = null;
    this.retryTimer = null;
    this.flushPending = null;
  }
}
