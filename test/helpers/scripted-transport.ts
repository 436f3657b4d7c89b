import type { Connection, Transport, TransportEvents } from '../../src/output/transport/transport';

/**
 * Our own Transport seam, driven by the test: nothing happens on its own.
 * The test says when the connection comes up (connect()), when write() starts
 * returning false (budget), when the peer drains (drain()) and when the
 * connection goes away (close()).
 */
export class ScriptedConnection implements Connection {
  /** Every chunk write() was given, in order (a false return still takes the chunk, as Node does). */
  readonly writes: Buffer[] = [];
  /** How many more write() calls return true; at 0 they return false. Infinity: never push back. */
  budget = Infinity;
  /** Writes made while a previous write() returned false and no onDrain was fired since. */
  writesWhileBlocked = 0;
  ended = false;
  destroyed = false;
  private closed = false;
  private blocked = false;

  constructor(private readonly events: TransportEvents) {}

  write(chunk: Buffer, flushed?: () => void): boolean {
    if (this.blocked) this.writesWhileBlocked++;
    this.writes.push(chunk);
    if (flushed !== undefined) this.unflushed.push(flushed);
    if (this.budget > 0) {
      this.budget--;
      // as Node does: the chunk left the process, reported on a later tick
      process.nextTick(() => this.flushAccepted());
      return true;
    }
    this.blocked = true;
    return false;
  }

  /** Chunks written but not yet reported as flushed (a blocked write stays here until drain()). */
  private readonly unflushed: (() => void)[] = [];

  private flushAccepted(): void {
    if (this.blocked || this.closed) return;
    for (const f of this.unflushed.splice(0)) f();
  }

  end(): void {
    this.ended = true;
  }

  destroy(): void {
    this.destroyed = true;
  }

  get pendingBytes(): number {
    return 0;
  }

  // --- the test's side ---

  /** The peer accepted the connection: fires onConnect. */
  connect(): void {
    this.events.onConnect();
  }

  /** The peer caught up: write() returns true `budget` more times, then fires onDrain. */
  drain(budget = Infinity): void {
    this.budget = budget;
    this.blocked = false;
    this.flushAccepted();
    this.events.onDrain();
  }

  /** The connection is gone: fires onClose. */
  close(error?: Error): void {
    this.closed = true;
    this.events.onClose(error);
  }
}

export class ScriptedTransport implements Transport {
  readonly description = 'scripted';
  readonly connections: ScriptedConnection[] = [];

  constructor(readonly framing: 'stream' | 'message' = 'stream') {}

  connect(events: TransportEvents): ScriptedConnection {
    const c = new ScriptedConnection(events);
    this.connections.push(c);
    return c;
  }

  /** The latest connection (throws if connect() was never called). */
  get current(): ScriptedConnection {
    const c = this.connections.at(-1);
    if (c === undefined) throw new Error('the destination has not connected yet');
    return c;
  }
}

/**
 * A pass-through around a real transport that audits Node's backpressure
 * contract: after write() returned false, nothing may be written until onDrain.
 */
export class BackpressureAudit implements Transport {
  readonly description: string;
  readonly framing: 'stream' | 'message';
  writes = 0;
  bytes = 0;
  /** write() calls that returned false. */
  falseReturns = 0;
  drains = 0;
  /** Writes made while a previous write() returned false and no onDrain had arrived: must stay 0. */
  writesWhileBlocked = 0;

  constructor(private readonly inner: Transport) {
    this.description = inner.description;
    this.framing = inner.framing;
  }

  connect(events: TransportEvents): Connection {
    let blocked = false;
    const conn = this.inner.connect({
      onConnect: () => events.onConnect(),
      onDrain: () => {
        blocked = false;
        this.drains++;
        events.onDrain();
      },
      onClose: (err) => events.onClose(err),
    });
    return {
      write: (chunk: Buffer, flushed?: () => void): boolean => {
        if (blocked) this.writesWhileBlocked++;
        this.writes++;
        this.bytes += chunk.length;
        const ok = conn.write(chunk, flushed);
        if (!ok) {
          blocked = true;
          this.falseReturns++;
        }
        return ok;
      },
      end: () => conn.end(),
      destroy: () => conn.destroy(),
      get pendingBytes(): number {
        return conn.pendingBytes;
      },
    };
  }
}

/**
 * Let `n` turns of the event loop pass (setImmediate, not a timer): enough for
 * work a component scheduled with setImmediate to have run. Never a sleep.
 */
export async function eventLoopTurns(n = 2): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}
