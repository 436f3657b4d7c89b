import { Backoff, type BackoffOptions } from '../common/backoff';
import { DatapointQueue } from './queue';
import type { Connection, Transport } from './transport/transport';
import { ByteWriter } from '../codec/byte-writer';
import type { Encoder } from '../codec/encoder';
import type { Logger } from '../telemetry/logger';
import { DestinationCounters } from '../telemetry/counters';
import { RateLimitedLog } from '../telemetry/rate-limited-log';

export type DestinationState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopped';

/** Told when a connected destination's queue crosses its water marks (the pipeline pauses/resumes sources). */
export interface PressureListener {
  onPressure(destination: Destination, high: boolean): void;
}

export interface DestinationOptions {
  name: string;
  /** Path segment for this destination in self-metrics. */
  metricName: string;
  maxQueueSize: number;
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
  backoff: BackoffOptions;
}

export interface DestinationDeps {
  transport: Transport;
  encoder: Encoder;
  log: Logger;
  pressure?: PressureListener;
}

export interface DestinationStopReport {
  name: string;
  /** Datapoints still queued when the deadline passed (or the destination was unreachable). */
  undelivered: number;
}

/** Bytes encoded per write: large enough to amortise the syscall, small enough to keep latency low. */
const WRITE_CHUNK_BYTES = 256 * 1024;

/**
 * One output: a bounded queue, an encoder and a transport, with reconnect.
 * offer() never blocks: it queues or counts a drop. Writing happens on the next
 * turn of the event loop, in frames of at most maxDatapointsPerMessage, and
 * stops whenever the socket reports backpressure, so Node never buffers more
 * than one write chunk for us.
 */
export class Destination {
  readonly name: string;
  readonly metricName: string;
  readonly counters = new DestinationCounters();
  readonly queue: DatapointQueue;
  private state: DestinationState = 'idle';
  private conn: Connection | null = null;
  private waitingDrain = false;
  private flushScheduled = false;
  private pressured = false;
  /** Gave up on pausing for this destination until it drains (stallTimeoutMs). */
  private stalled = false;
  private stallTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly writer = new ByteWriter(WRITE_CHUNK_BYTES + 64 * 1024);
  private readonly backoff: Backoff;
  private readonly limited: RateLimitedLog;
  private drainWaiter: (() => void) | null = null;
  private ending = false;

  constructor(
    private readonly opts: DestinationOptions,
    private readonly deps: DestinationDeps,
  ) {
    this.name = opts.name;
    this.metricName = opts.metricName;
    this.queue = new DatapointQueue(opts.maxQueueSize);
    this.backoff = new Backoff(opts.backoff);
    this.limited = new RateLimitedLog(deps.log, 30_000);
  }

  get currentState(): DestinationState {
    return this.state;
  }

  get description(): string {
    return this.deps.transport.description;
  }

  get isConnected(): boolean {
    return this.state === 'connected';
  }

  /**
   * Datapoints this destination can still queue without dropping, for senders
   * that can be told to retry (HTTP). A destination that is down or stalled
   * drops at its bound by design and holds nobody back, like flow control.
   */
  get admissionRoom(): number {
    if (this.state !== 'connected' || this.stalled) return Infinity;
    return this.queue.limit - this.queue.length;
  }

  start(): void {
    if (this.state === 'idle') this.connect();
  }

  /** Queue one datapoint, or count why it was dropped. Never blocks, never throws. */
  offer(name: string, timestamp: number, value: number): void {
    const c = this.counters;
    c.attemptedRelays++;
    const q = this.queue;
    if (!q.push(name, timestamp, value)) {
      c.fullQueueDrops++;
      if (c.fullQueueDrops % 1000 === 1) {
        this.limited.warn(`${this.name}:full`, 'destination queue full, dropping datapoints', {
          destination: this.name,
          peer: this.description,
          maxQueueSize: this.opts.maxQueueSize,
          fullQueueDrops: c.fullQueueDrops,
        });
      }
      return;
    }
    const len = q.length;
    if (len > c.relayMaxQueueLength) c.relayMaxQueueLength = len;
    if (this.state !== 'connected') {
      c.queuedUntilConnected++;
      return;
    }
    if (!this.pressured && !this.stalled && len >= this.opts.highWaterMark) this.setPressure(true);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /**
   * Stop reconnecting, deliver what is queued while the deadline allows, then
   * close. Resolves with what could not be delivered.
   */
  async stop(deadline: number): Promise<DestinationStopReport> {
    if (this.state !== 'stopped') {
      const flushed = new Promise<void>((resolve) => {
        this.drainWaiter = resolve;
      });
      this.checkDrained();
      const remaining = deadline - Date.now();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([flushed, new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, remaining))))]);
      clearTimeout(timer);
      this.drainWaiter = null;
    }
    const undelivered = this.queue.clear();
    this.counters.undeliveredAtShutdown += undelivered;
    if (undelivered > 0) {
      this.deps.log.error('undelivered datapoints at shutdown', { destination: this.name, peer: this.description, undelivered });
    }
    this.state = 'stopped';
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) conn.destroy();
    return { name: this.name, undelivered };
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    this.conn = this.deps.transport.connect({
      onConnect: () => this.onConnect(),
      onDrain: () => {
        this.waitingDrain = false;
        this.flush();
      },
      onClose: (err) => this.onClose(err),
    });
  }

  private onConnect(): void {
    if (this.state !== 'connecting') return;
    this.state = 'connected';
    this.counters.connects++;
    this.backoff.reset();
    this.deps.log.info('destination connected', { destination: this.name, peer: this.description, queued: this.queue.length });
    if (this.queue.length >= this.opts.highWaterMark) this.setPressure(true);
    this.flush();
  }

  private onClose(err: Error | undefined): void {
    const wasConnected = this.state === 'connected';
    this.conn = null;
    this.waitingDrain = false;
    if (this.pressured) this.setPressure(false);
    this.stalled = false;
    if (this.state === 'stopped') return;
    if (this.ending) {
      // stop() closed a drained connection on purpose.
      this.state = 'idle';
      this.checkDrained();
      return;
    }
    if (!wasConnected) this.counters.connectFailures++;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    this.limited.warn(`${this.name}:close`, wasConnected ? 'destination connection lost' : 'destination connect failed', {
      destination: this.name,
      peer: this.description,
      reason: err ? `${code ?? err.name}: ${err.message}` : 'closed by peer',
      queued: this.queue.length,
    });
    this.state = 'backoff';
    this.retryTimer = setTimeout(() => this.connect(), this.backoff.next());
    this.retryTimer.unref();
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const conn = this.conn;
    if (this.state !== 'connected' || conn === null || this.waitingDrain) return;
    const q = this.queue;
    const w = this.writer;
    const c = this.counters;
    const max = this.opts.maxDatapointsPerMessage;
    while (q.length > 0) {
      while (q.length > 0 && w.pos < WRITE_CHUNK_BYTES) {
        const n = this.deps.encoder.encode(q, max, w);
        q.shift(n);
        c.sent += n;
        c.batchesSent++;
      }
      if (!conn.write(w.take())) {
        this.waitingDrain = true;
        break;
      }
    }
    if (q.length <= this.opts.lowWaterMark) {
      if (this.pressured) this.setPressure(false);
      this.stalled = false;
    }
    this.checkDrained();
  };

  private setPressure(high: boolean): void {
    this.pressured = high;
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    if (high && this.opts.stallTimeoutMs > 0) {
      this.stallTimer = setTimeout(() => this.onStall(), this.opts.stallTimeoutMs);
      this.stallTimer.unref();
    }
    this.deps.pressure?.onPressure(this, high);
  }

  private onStall(): void {
    this.stallTimer = null;
    if (!this.pressured) return;
    this.stalled = true;
    this.deps.log.warn('destination is not draining; no longer pausing receivers for it (it will drop at maxQueueSize)', {
      destination: this.name,
      peer: this.description,
      queued: this.queue.length,
      stallTimeoutMs: this.opts.stallTimeoutMs,
    });
    this.setPressure(false);
  }

  /**
   * During stop(): once nothing is queued, end the connection (which flushes
   * Node's buffer, then sends FIN) and finish when it has closed.
   */
  private checkDrained(): void {
    if (this.drainWaiter === null || this.queue.length > 0) return;
    if (this.conn !== null && this.state === 'connected') {
      if (!this.ending) {
        this.ending = true;
        this.conn.end();
      }
      return;
    }
    this.drainWaiter();
  }
}
