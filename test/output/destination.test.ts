import { LineEncoder } from '../../src/codec/line-encoder';
import { NamePrefix } from '../../src/codec/name-prefix';
import { PickleEncoder } from '../../src/codec/pickle-encoder';
import type { Encoder } from '../../src/codec/encoder';
import { Destination, type DestinationOptions, type PressureListener } from '../../src/output/destination';
import { DatapointQueue } from '../../src/output/queue';
import { SocketTransport } from '../../src/output/transport/socket';
import type { Transport, TransportEvents } from '../../src/output/transport/transport';
import { DESTINATION_COUNTERS, type CounterKind } from '../../src/telemetry/counters';
import { captureLog, type LogEntry } from '../helpers/capture-log';
import { freePorts } from '../helpers/carbon';
import { strictPickleParser } from '../helpers/fixtures';
import { eventLoopTurns, ScriptedTransport, type ScriptedConnection } from '../helpers/scripted-transport';
import { CaptureServer, waitFor } from '../helpers/sink';
import { settlesWithin } from '../helpers/deadline';
import { FakeClock } from '../helpers/fake-clock';
import { tempDirsRemovedAfterAll } from '../helpers/relay';
import { destinationSchema } from '../../src/config/schema';
import { buildDestination } from '../../src/output/kinds';

/**
 * Destination on its own: a DatapointQueue, an encoder and a transport.
 * Real sockets (SocketTransport to a CaptureServer on 127.0.0.1) where the
 * wire matters; ScriptedTransport (our own seam) where the test must decide
 * exactly when write() pushes back and when onConnect/onDrain/onClose fire.
 */

const TS = 1_700_000_000;
const parser = strictPickleParser();

/**
 * Records every onPressure call, in order, as `<destination name>:<high>`
 * (strings, so a failing assertion never pretty-prints a whole Destination).
 */
class PressureRecorder implements PressureListener {
  readonly calls: string[] = [];
  /** Every call named the destination this recorder was given to (checked by identity). */
  readonly destinations: Destination[] = [];

  onPressure(destination: Destination, high: boolean): void {
    this.calls.push(`${destination.name}:${high}`);
    this.destinations.push(destination);
  }
}

/** A ScriptedTransport whose connections are up at once: onConnect fires inside connect(), before it returns. */
class ConnectsAtOnce extends ScriptedTransport {
  override connect(events: TransportEvents): ScriptedConnection {
    const c = super.connect(events);
    c.connect();
    return c;
  }
}

const created: Destination[] = [];
const newDir = tempDirsRemovedAfterAll();
const servers: CaptureServer[] = [];

afterEach(async () => {
  await Promise.all(created.splice(0).map((d) => settlesWithin(d.stop(Date.now()), 2000, `stop ${d.name}`).catch(() => undefined)));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(protocol: 'pickle' | 'line', port = 0): Promise<CaptureServer> {
  const s = new CaptureServer(protocol);
  servers.push(s);
  await s.listen(port);
  return s;
}

function options(over: Partial<DestinationOptions> = {}): DestinationOptions {
  return {
    name: 'd.one',
    metricName: 'd_one',
    maxDatapointsPerMessage: 500,
    highWaterMark: 1_000_000,
    lowWaterMark: 0,
    stallTimeoutMs: 0,
    // no jitter: the retry comes after exactly initialMs
    backoff: { initialMs: 10, maxMs: 50, factor: 2, jitter: 0 },
    ...over,
  };
}

interface Built {
  d: Destination;
  pressure: PressureRecorder;
  entries: LogEntry[];
}

function build(transport: Transport, over: Partial<DestinationOptions> = {}, deps: { limit?: number; encoder?: Encoder; clock?: FakeClock } = {}): Built {
  const pressure = new PressureRecorder();
  const { log, entries } = captureLog();
  const d = new Destination(options(over), {
    queue: new DatapointQueue(deps.limit ?? 10_000),
    transport,
    encoder: deps.encoder ?? new PickleEncoder(),
    log,
    pressure,
    ...(deps.clock !== undefined && { now: deps.clock.now, timers: deps.clock }),
  });
  created.push(d);
  return { d, pressure, entries };
}

function socketTo(port: number): SocketTransport {
  return new SocketTransport({ host: '127.0.0.1', port, connectTimeoutMs: 5000 });
}

function offerMany(d: Destination, prefix: string, n: number, from = 0): void {
  for (let i = from; i < from + n; i++) d.offer(`${prefix}.${i}`, TS + i, i);
}

const names = (prefix: string, n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `${prefix}.${from + i}`);

/** The pickle frames in a byte stream (each: 4-byte big-endian length, then the pickle). */
function splitFrames(bytes: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 4) throw new Error(`${bytes.length - at} stray bytes after the last frame`);
    const len = bytes.readUInt32BE(at);
    if (at + 4 + len > bytes.length) throw new Error(`frame at ${at} is cut short`);
    frames.push(bytes.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return frames;
}

const itemsOf = (frame: Buffer): [string, [number, number]][] => parser.parse<[string, [number, number]][]>(frame);
const itemCounts = (frames: Buffer[]): number[] => frames.map((f) => itemsOf(f).length);

const stateLog = (entries: LogEntry[]): string[] =>
  entries.filter((e) => e.message === 'destination state').map((e) => `${String(e.from)}->${String(e.to)}`);
const pressureLog = (entries: LogEntry[]): string[] =>
  entries.filter((e) => e.message === 'destination pressure').map((e) => `${String(e.from)}->${String(e.to)}`);

/** Every counter with its kind, as a reader of reportCounters sees it. */
function reported(d: Destination): [string, number, CounterKind][] {
  const seen: [string, number, CounterKind][] = [];
  d.reportCounters((key, value, kind) => seen.push([key, value, kind]));
  return seen;
}

describe('Destination: queueing', () => {
  it('counts datapoints offered before the connection is up as queuedUntilConnected, writes nothing, then delivers them on connect', async () => {
    const t = new ScriptedTransport('stream');
    const { d } = build(t);
    await d.start();
    expect(d.currentState).toBe('connecting');
    expect(t.connections).toHaveLength(1);
    offerMany(d, 'early', 5);
    await eventLoopTurns();
    expect(t.current.writes).toHaveLength(0);
    expect(d.counters).toMatchObject({ attemptedRelays: 5, queuedUntilConnected: 5, sent: 0, relayMaxQueueLength: 5, fullQueueDrops: 0 });
    expect(d.queue.length).toBe(5);

    t.current.connect();
    expect(d.currentState).toBe('connected');
    // onConnect flushes at once; a byte stream gets the one message in one write
    expect(t.current.writes).toHaveLength(1);
    expect(splitFrames(t.current.writes[0]).map((f) => itemsOf(f).map(([n]) => n))).toEqual([names('early', 5)]);
    // sent once the chunk has left the process, which the transport reports on a later tick
    expect(d.counters).toMatchObject({ sent: 0, batchesSent: 1, connects: 1 });
    await eventLoopTurns(1);
    expect(d.counters).toMatchObject({ sent: 5, batchesSent: 1, connects: 1 });
    expect(d.queue.length).toBe(0);

    // once connected, offers are no longer "queued until connected"
    offerMany(d, 'late', 2);
    await waitFor(() => t.current.writes.length === 2, 'the second write');
    expect(d.counters).toMatchObject({ attemptedRelays: 7, queuedUntilConnected: 5, sent: 7, batchesSent: 2 });
  });

  it('a transport that reports onConnect from inside connect() still gets the backlog written', async () => {
    // Transport's contract does not say its events come later than connect() returns;
    // a transport that is up at once (an in-process producer, say) may call onConnect right away.
    const t = new ConnectsAtOnce('message');
    const { d } = build(t, { maxDatapointsPerMessage: 10 });
    offerMany(d, 'backlog', 3);
    await d.start();
    expect(d.currentState).toBe('connected');
    await waitFor(() => d.queue.length === 0, 'the backlog written', 2000);
    expect(t.current.writes.map((w) => itemsOf(w.subarray(4)).map(([n]) => n))).toEqual([names('backlog', 3)]);
    expect(d.counters.sent).toBe(3);
  });

  it('an offer at the queue bound is dropped and counted as fullQueueDrops; the queue keeps the oldest', async () => {
    const t = new ScriptedTransport();
    const { d, entries } = build(t, {}, { limit: 3 });
    offerMany(d, 'm', 5);
    expect(d.counters).toMatchObject({ attemptedRelays: 5, fullQueueDrops: 2, queuedUntilConnected: 3, relayMaxQueueLength: 3, sent: 0 });
    expect(d.queue.length).toBe(3);
    expect([0, 1, 2].map((k) => d.queue.nameAt(k))).toEqual(names('m', 3));
    // a destination that is not connected drops at its bound and holds nobody back
    expect(d.admissionRoom).toBe(Infinity);
    await waitFor(() => entries.some((e) => e.message === 'destination queue full, dropping datapoints'), 'the queue-full warning');
    expect(entries.filter((e) => e.message === 'destination queue full, dropping datapoints')).toEqual([
      expect.objectContaining({ level: 'warn', destination: 'd.one', peer: 'scripted', maxQueueSize: 3, fullQueueDrops: 1 }),
    ]);
  });

  it('splits output into pickle frames of at most maxDatapointsPerMessage (real socket, real receiver)', async () => {
    const s = await server('pickle');
    const { d } = build(socketTo(s.port), { maxDatapointsPerMessage: 7 });
    await d.start();
    await waitFor(() => d.isConnected, 'connected');
    offerMany(d, 'frame', 50);
    await waitFor(() => s.datapoints.length === 50, '50 datapoints at the receiver');
    expect(itemCounts(s.frames)).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
    expect(s.datapoints).toEqual(Array.from({ length: 50 }, (_, i) => ({ name: `frame.${i}`, timestamp: TS + i, value: i })));
    expect(d.counters).toMatchObject({ sent: 50, batchesSent: 8, connects: 1, queuedUntilConnected: 0 });
  });
});

describe('Destination: backpressure', () => {
  it('write() returning false moves it to blocked; nothing more is written until onDrain', async () => {
    const t = new ScriptedTransport('message');
    const { d } = build(t, { maxDatapointsPerMessage: 10 });
    await d.start();
    t.current.connect();
    t.current.budget = 0;
    offerMany(d, 'bp', 30);
    await waitFor(() => t.current.writes.length === 1, 'the first write');
    expect(d.currentState).toBe('blocked');
    expect(d.isConnected).toBe(true);
    // the chunk write() pushed back on is still in the process's buffer: written, not yet sent
    expect(d.counters).toMatchObject({ sent: 0, batchesSent: 1 });
    expect(d.queue.length).toBe(20);

    offerMany(d, 'bp', 5, 30);
    await eventLoopTurns(3);
    expect(t.current.writes).toHaveLength(1);
    expect(d.currentState).toBe('blocked');

    t.current.drain();
    expect(d.currentState).toBe('connected');
    expect(t.current.writes).toHaveLength(4);
    expect(t.current.writesWhileBlocked).toBe(0);
    expect(t.current.writes.map((w) => itemCounts(splitFrames(w)))).toEqual([[10], [10], [10], [5]]);
    expect(t.current.writes.flatMap((w) => splitFrames(w).flatMap((f) => itemsOf(f).map(([n]) => n)))).toEqual(names('bp', 35));
    await eventLoopTurns(1);
    expect(d.counters).toMatchObject({ sent: 35, batchesSent: 4 });
    expect(d.queue.length).toBe(0);
  });

  it('on a byte stream, a false write() stops the flush after that chunk; onDrain writes the rest', async () => {
    const t = new ScriptedTransport('stream');
    const { d } = build(t, { maxDatapointsPerMessage: 500 }, { limit: 50_000 });
    await d.start();
    t.current.connect();
    t.current.budget = 0;
    // ~60 bytes a datapoint: about 1.8 MB, several 256 KiB write chunks
    offerMany(d, 'stream.backpressure.series', 30_000);
    await waitFor(() => t.current.writes.length === 1, 'the first write');
    expect(d.currentState).toBe('blocked');
    const first = splitFrames(t.current.writes[0]);
    expect(t.current.writes[0].length).toBeGreaterThanOrEqual(256 * 1024);
    const inFirst = itemCounts(first).reduce((a, b) => a + b, 0);
    expect(d.counters.sent).toBe(0);
    expect(d.queue.length).toBe(30_000 - inFirst);
    await eventLoopTurns(3);
    expect(t.current.writes).toHaveLength(1);

    t.current.drain();
    expect(d.currentState).toBe('connected');
    expect(t.current.writes.length).toBeGreaterThan(1);
    expect(t.current.writesWhileBlocked).toBe(0);
    const all = t.current.writes.flatMap((w) => splitFrames(w));
    expect(itemCounts(all).every((n) => n <= 500)).toBe(true);
    expect(all.flatMap((f) => itemsOf(f).map(([n]) => n))).toEqual(names('stream.backpressure.series', 30_000));
    await eventLoopTurns(1);
    expect(d.counters.sent).toBe(30_000);
    expect(d.counters.batchesSent).toBe(60);
  });

  it("a 'message' transport gets exactly one encoded message per write()", async () => {
    const t = new ScriptedTransport('message');
    const { d } = build(t, { maxDatapointsPerMessage: 4 });
    await d.start();
    t.current.connect();
    offerMany(d, 'msg', 10);
    await waitFor(() => d.queue.length === 0, 'queue flushed');
    expect(t.current.writes).toHaveLength(3);
    for (const chunk of t.current.writes) {
      // the chunk is one whole frame: its length prefix covers exactly the rest
      expect(chunk.readUInt32BE(0)).toBe(chunk.length - 4);
    }
    expect(t.current.writes.map((w) => itemsOf(w.subarray(4)).map(([n]) => n))).toEqual([names('msg', 4), names('msg', 4, 4), names('msg', 2, 8)]);
    expect(d.counters).toMatchObject({ sent: 10, batchesSent: 3 });
  });

  it("a 'stream' transport coalesces messages into one write()", async () => {
    const t = new ScriptedTransport('stream');
    const { d } = build(t, { maxDatapointsPerMessage: 4 });
    await d.start();
    t.current.connect();
    offerMany(d, 'msg', 10);
    await waitFor(() => d.queue.length === 0, 'queue flushed');
    expect(t.current.writes).toHaveLength(1);
    const frames = splitFrames(t.current.writes[0]);
    expect(frames.map((f) => itemsOf(f).map(([n]) => n))).toEqual([names('msg', 4), names('msg', 4, 4), names('msg', 2, 8)]);
    expect(d.counters).toMatchObject({ sent: 10, batchesSent: 3 });
  });
});

describe('Destination: pressure', () => {
  /** Connected, write() pushing back, one datapoint per message; the queue holds 100. */
  async function blockedDestination(over: Partial<DestinationOptions> = {}): Promise<Built & { t: ScriptedTransport }> {
    const t = new ScriptedTransport('message');
    const b = build(t, { maxDatapointsPerMessage: 1, highWaterMark: 10, lowWaterMark: 5, ...over }, { limit: 100 });
    await b.d.start();
    t.current.connect();
    t.current.budget = 0;
    b.d.offer('first', TS, 0);
    await waitFor(() => b.d.currentState === 'blocked', 'blocked');
    expect(b.d.queue.length).toBe(0);
    return { ...b, t };
  }

  it('crossing highWaterMark while connected calls onPressure(d, true); draining to lowWaterMark calls onPressure(d, false)', async () => {
    const { d, t, pressure, entries } = await blockedDestination();
    offerMany(d, 'p', 9);
    expect(pressure.calls).toEqual([]);
    expect(d.pressureState).toBe('normal');
    expect(d.admissionRoom).toBe(91);
    d.offer('p.9', TS, 9); // the 10th: at the high-water mark
    expect(pressure.calls).toEqual(['d.one:true']);
    expect(d.pressureState).toBe('high');
    expect(d.admissionRoom).toBe(90);

    t.current.drain(3); // three writes go through, the fourth pushes back: 10 -> 6
    expect(d.queue.length).toBe(6);
    expect(d.currentState).toBe('blocked');
    expect(pressure.calls).toEqual(['d.one:true']);
    expect(d.pressureState).toBe('high');

    t.current.drain(0); // one more: 6 -> 5, the low-water mark
    expect(d.queue.length).toBe(5);
    expect(pressure.calls).toEqual(['d.one:true', 'd.one:false']);
    expect(pressure.destinations.every((x) => x === d)).toBe(true);
    expect(d.pressureState).toBe('normal');
    await waitFor(() => pressureLog(entries).length === 2, 'pressure transitions logged');
    expect(pressureLog(entries)).toEqual(['normal->high', 'high->normal']);
  });

  it('a destination that connects with a backlog above highWaterMark asks for pressure, and lets go once it has drained', async () => {
    const t = new ScriptedTransport('message');
    const { d, pressure } = build(t, { maxDatapointsPerMessage: 1, highWaterMark: 10, lowWaterMark: 5 }, { limit: 100 });
    await d.start();
    offerMany(d, 'backlog', 20);
    expect(pressure.calls).toEqual([]); // not connected: holds nobody back
    t.current.connect();
    expect(d.queue.length).toBe(0);
    expect(pressure.calls).toEqual(['d.one:true', 'd.one:false']);
  });

  it('stallTimeout: a connected destination that does not drain goes stalled, releases receivers and drops at its bound', async () => {
    const { d, t, pressure, entries } = await blockedDestination({ stallTimeoutMs: 30 });
    offerMany(d, 's', 10);
    expect(d.pressureState).toBe('high');
    expect(pressure.calls).toEqual(['d.one:true']);
    expect(d.admissionRoom).toBe(90);

    await waitFor(() => d.pressureState === 'stalled', 'stalled');
    expect(pressure.calls).toEqual(['d.one:true', 'd.one:false']);
    expect(d.currentState).toBe('blocked'); // still connected: only the pressure state changed
    expect(d.admissionRoom).toBe(Infinity);
    await waitFor(() => entries.some((e) => e.message.startsWith('destination held the receivers')), 'the stall warning');
    expect(entries.find((e) => e.message.startsWith('destination held the receivers'))).toMatchObject({ level: 'warn', destination: 'd.one', queued: 10, stallTimeoutMs: 30, stalls: 1 });
    expect(d.counters.stalls).toBe(1);

    offerMany(d, 's', 100, 10); // 90 fit, 10 are dropped; nobody is asked to pause again
    expect(d.queue.length).toBe(100);
    expect(d.counters.fullQueueDrops).toBe(10);
    expect(pressure.calls).toEqual(['d.one:true', 'd.one:false']);

    t.current.drain(); // stalled -> normal tells nobody: receivers were already let go
    expect(d.queue.length).toBe(0);
    expect(d.pressureState).toBe('normal');
    expect(pressure.calls).toEqual(['d.one:true', 'd.one:false']);
    expect(d.admissionRoom).toBe(100);
    await waitFor(() => pressureLog(entries).length === 3, 'pressure transitions logged');
    expect(pressureLog(entries)).toEqual(['normal->high', 'high->stalled', 'stalled->normal']);
  });

  it('a destination that is down never calls onPressure, however full it gets', async () => {
    const [port] = await freePorts(1);
    const { d, pressure } = build(socketTo(port), { highWaterMark: 10, lowWaterMark: 5 }, { limit: 100 });
    await d.start();
    await waitFor(() => d.counters.connectFailures >= 2, 'two failed connects');
    offerMany(d, 'down', 150);
    expect(d.counters).toMatchObject({ attemptedRelays: 150, fullQueueDrops: 50, queuedUntilConnected: 100 });
    const failures = d.counters.connectFailures;
    await waitFor(() => d.counters.connectFailures > failures, 'another failed reconnect with a full queue');
    expect(pressure.calls).toEqual([]);
    expect(d.pressureState).toBe('normal');
    expect(d.admissionRoom).toBe(Infinity);
    expect(d.counters.connects).toBe(0);
  });

  it('losing the connection while under pressure lets receivers go', async () => {
    const { d, t, pressure } = await blockedDestination();
    offerMany(d, 'lost', 10);
    expect(pressure.calls).toEqual(['d.one:true']);
    t.current.close(new Error('reset by peer'));
    expect(d.currentState).toBe('backoff');
    expect(pressure.calls).toEqual(['d.one:true', 'd.one:false']);
    expect(d.admissionRoom).toBe(Infinity);
  });
});

describe('Destination: connection loss', () => {
  it('goes to backoff, reconnects and delivers the queue: sent + queued + dropped == offered, exactly', async () => {
    const first = await server('line');
    const port = first.port;
    const { d, entries } = build(socketTo(port), {}, { limit: 250, encoder: new LineEncoder() });
    await d.start();
    await waitFor(() => d.isConnected, 'connected');
    offerMany(d, 'before', 100);
    await waitFor(() => first.datapoints.length === 100, 'first delivery');
    servers.splice(servers.indexOf(first), 1);
    await first.close();
    await waitFor(() => d.currentState === 'backoff' || d.currentState === 'connecting', 'the loss noticed');
    await waitFor(() => stateLog(entries).includes('connected->backoff'), 'connected -> backoff logged');

    offerMany(d, 'during', 300);
    expect(d.counters).toMatchObject({ attemptedRelays: 400, sent: 100, fullQueueDrops: 50 });
    expect(d.queue.length).toBe(250);
    expect(d.counters.sent + d.queue.length + d.counters.fullQueueDrops).toBe(400);

    const second = await server('line', port);
    await waitFor(() => second.datapoints.length === 250, 'the queue delivered after reconnect');
    expect(second.datapoints.map((p) => p.name)).toEqual(names('during', 250));
    expect(first.datapoints.map((p) => p.name)).toEqual(names('before', 100));
    expect(d.queue.length).toBe(0);
    expect(d.counters).toMatchObject({ attemptedRelays: 400, sent: 350, fullQueueDrops: 50, queuedUntilConnected: 250, connects: 2 });
    expect(d.counters.sent + d.queue.length + d.counters.fullQueueDrops).toBe(d.counters.attemptedRelays);
  });
});

describe('Destination: stop', () => {
  it('drains the queue, ends the connection, and reports undelivered 0 (real socket)', async () => {
    const s = await server('pickle');
    const { d, entries } = build(socketTo(s.port));
    await d.start();
    await waitFor(() => d.isConnected, 'connected');
    offerMany(d, 'bye', 1000);
    const report = await settlesWithin(d.stop(Date.now() + 5000), 7000, 'stop');
    expect(report).toEqual({ name: 'd.one', undelivered: 0, spooled: 0, abandoned: [] });
    // stop resolves after the peer saw the end of the stream: everything is there
    expect(s.datapoints.map((p) => p.name)).toEqual(names('bye', 1000));
    expect(d.currentState).toBe('stopped');
    expect(d.counters).toMatchObject({ sent: 1000, undeliveredAtShutdown: 0 });
    await waitFor(() => stateLog(entries).length === 5, 'transitions logged');
    expect(stateLog(entries)).toEqual(['idle->connecting', 'connecting->connected', 'connected->draining', 'draining->idle', 'idle->stopped']);
  });

  it('ends (never destroys) a drained connection and resolves only once it has closed', async () => {
    const t = new ScriptedTransport('stream');
    const { d } = build(t);
    await d.start();
    t.current.connect();
    offerMany(d, 'end', 3);
    let report: unknown;
    const stopping = d.stop(Date.now() + 5000).then((r) => (report = r));
    await waitFor(() => t.current.ended, 'end() called');
    expect(d.currentState).toBe('draining');
    expect(t.current.writes.flatMap((w) => splitFrames(w).flatMap((f) => itemsOf(f).map(([n]) => n)))).toEqual(names('end', 3));
    await eventLoopTurns(3);
    expect(report).toBeUndefined();
    t.current.close();
    await stopping;
    expect(report).toEqual({ name: 'd.one', undelivered: 0, spooled: 0, abandoned: [] });
    expect(d.currentState).toBe('stopped');
    expect(t.current.destroyed).toBe(false);
    expect(t.connections).toHaveLength(1);
  });

  it('for an unreachable peer, resolves by the deadline reporting undelivered == queued', async () => {
    const [port] = await freePorts(1);
    const { d, entries } = build(socketTo(port));
    await d.start();
    await waitFor(() => d.counters.connectFailures >= 1, 'a failed connect');
    offerMany(d, 'never', 40);
    const deadline = Date.now() + 200;
    const report = await settlesWithin(d.stop(deadline), 2000, 'stop with the peer unreachable');
    expect(Date.now()).toBeLessThanOrEqual(deadline + 500);
    expect(report).toEqual({ name: 'd.one', undelivered: 40, spooled: 0, abandoned: [] });
    expect(d.counters.undeliveredAtShutdown).toBe(40);
    expect(d.queue.length).toBe(0);
    expect(d.currentState).toBe('stopped');
    await waitFor(() => entries.some((e) => e.message === 'undelivered datapoints at shutdown'), 'the shutdown error');
    expect(entries.filter((e) => e.message === 'undelivered datapoints at shutdown')).toEqual([
      expect.objectContaining({ level: 'error', destination: 'd.one', peer: `127.0.0.1:${port}`, undelivered: 40 }),
    ]);
  });

  it('a peer that stops reading: stop resolves by the deadline and sent + undelivered + dropped == offered', async () => {
    const s = await server('pickle');
    const { d } = build(socketTo(s.port), {}, { limit: 300_000 });
    await d.start();
    await waitFor(() => d.isConnected && s.connections === 1, 'connected');
    s.pauseReading();
    offerMany(d, 'stuck.receiver.series.with.a.longer.name', 300_000);
    await waitFor(() => d.currentState === 'blocked', 'blocked by the peer', 15_000);
    const deadline = Date.now() + 300;
    const report = await settlesWithin(d.stop(deadline), 2000, 'stop with the peer not reading');
    expect(Date.now()).toBeLessThanOrEqual(deadline + 500);
    expect(report.undelivered).toBeGreaterThan(0);
    expect(d.counters.undeliveredAtShutdown).toBe(report.undelivered);
    expect(d.counters.sent + report.undelivered + d.counters.fullQueueDrops).toBe(300_000);
    expect(d.currentState).toBe('stopped');
    // What was counted as sent had left the process: the peer gets all of it once it reads again.
    // (A message cut at the deadline may also arrive in part: TCP does not say how far into a write the kernel got.)
    s.resumeReading();
    await waitFor(() => s.closedConnections === 1, 'the cut connection read to its end', 15_000);
    expect(s.datapoints.length).toBeGreaterThanOrEqual(d.counters.sent);
    expect(s.datapoints.length).toBeLessThanOrEqual(d.counters.sent + report.undelivered);
  });

  it('after stop it never reconnects, and a late close of the old connection changes nothing', async () => {
    const t = new ScriptedTransport();
    const { d, entries } = build(t);
    await d.start();
    t.current.connect();
    t.current.budget = 0;
    offerMany(d, 'late', 3);
    await waitFor(() => d.currentState === 'blocked', 'blocked');
    offerMany(d, 'late', 2, 3);
    const report = await settlesWithin(d.stop(Date.now()), 2000, 'stop'); // deadline now: what is queued is undelivered
    // 2 queued, and the 3 of the chunk still in the process's buffer when the connection was cut
    expect(report).toEqual({ name: 'd.one', undelivered: 5, spooled: 0, abandoned: [] });
    expect(d.counters).toMatchObject({ sent: 0, undeliveredAtShutdown: 5 });
    expect(t.current.destroyed).toBe(true);
    t.current.close(new Error('closed after destroy'));
    await eventLoopTurns(3);
    expect(d.currentState).toBe('stopped');
    expect(t.connections).toHaveLength(1);
    expect(entries.filter((e) => e.level === 'error' && e.message.startsWith('destination: refused state transition'))).toEqual([]);
  });
});

describe('Destination: telemetry', () => {
  it('reportCounters visits every DESTINATION_COUNTERS key with its kind, then queueLength as a gauge', () => {
    const { d } = build(new ScriptedTransport(), {}, { limit: 3 });
    offerMany(d, 'c', 5);
    const expected: Record<string, number> = {
      attemptedRelays: 5,
      sent: 0,
      batchesSent: 0,
      fullQueueDrops: 2,
      queuedUntilConnected: 3,
      relayMaxQueueLength: 3,
      undeliveredAtShutdown: 0,
      connectFailures: 0,
      connects: 0,
      handedOver: 0,
      oversizedDrops: 0,
      lostInFlight: 0,
      closedByPeer: 0,
      stalls: 0,
      rejected: 0,
      rateLimitWaits: 0,
      rateLimitedSeconds: 0,
    };
    expect(reported(d)).toEqual([
      ...Object.entries(DESTINATION_COUNTERS).map(([key, kind]): [string, number, CounterKind] => [key, expected[key], kind]),
      ['queueLength', 3, 'gauge'],
      ['flushes', 0, 'counter'],
      ['flushSeconds', 0, 'counter'],
    ]);
    expect(reported(d).map(([key]) => key)).toEqual([...Object.keys(DESTINATION_COUNTERS), 'queueLength', 'flushes', 'flushSeconds']);
    expect(Object.fromEntries(reported(d).map(([k, , kind]) => [k, kind]))).toMatchObject({ relayMaxQueueLength: 'peak', sent: 'counter', connects: 'counter' });
    expect(d.counterPath).toBe('destinations.d_one');
  });

  it('resetPeaks sets relayMaxQueueLength to the current queue length', async () => {
    const t = new ScriptedTransport('message');
    const { d } = build(t, { maxDatapointsPerMessage: 5 }, { limit: 10 });
    await d.start();
    offerMany(d, 'peak', 8);
    expect(d.counters.relayMaxQueueLength).toBe(8);
    t.current.budget = 0;
    t.current.connect(); // one message of 5 is written, then write() pushes back
    expect(d.currentState).toBe('blocked');
    expect(d.queue.length).toBe(3);
    expect(d.counters.relayMaxQueueLength).toBe(8);
    d.resetPeaks();
    expect(d.counters.relayMaxQueueLength).toBe(3);
    d.offer('peak.8', TS, 8);
    expect(d.counters.relayMaxQueueLength).toBe(4);
    d.resetPeaks();
    expect(reported(d).find(([k]) => k === 'relayMaxQueueLength')).toEqual(['relayMaxQueueLength', 4, 'peak']);
  });
});

describe('Destination: debug log', () => {
  it('records every state transition', async () => {
    const t = new ScriptedTransport();
    const { d, entries } = build(t);
    await d.start();
    t.current.connect();
    t.current.budget = 0;
    d.offer('x', TS, 1);
    await waitFor(() => d.currentState === 'blocked', 'blocked');
    t.current.drain();
    t.current.close(new Error('connection reset'));
    expect(d.currentState).toBe('backoff');
    await waitFor(() => t.connections.length === 2, 'the retry connects again');
    expect(d.currentState).toBe('connecting');
    await settlesWithin(d.stop(Date.now()), 2000, 'stop');
    const want = [
      'idle->connecting',
      'connecting->connected',
      'connected->blocked',
      'blocked->connected',
      'connected->backoff',
      'backoff->connecting',
      'connecting->stopped',
    ];
    await waitFor(() => stateLog(entries).length >= want.length, 'transitions logged');
    expect(stateLog(entries)).toEqual(want);
    expect(entries.filter((e) => e.message === 'destination state').every((e) => e.level === 'debug' && e.destination === 'd.one')).toBe(true);
  });
});

describe('Destination: what a peer can be sent, and what it is counted as', () => {
  it('a pickle frame never exceeds maxFrameBytes; a datapoint too large for a frame of its own is dropped and counted', async () => {
    const t = new ScriptedTransport('stream');
    const { d, entries } = build(t, {}, { encoder: new PickleEncoder(NamePrefix.NONE, 2048) });
    await d.start();
    offerMany(d, 'fits.in.frames.of.two.kib', 200);
    d.offer(`huge.${'x'.repeat(5000)}`, TS, 1);
    d.offer('after.huge', TS, 2);
    t.current.connect();
    await eventLoopTurns(2);
    const frames = t.current.writes.flatMap((w) => splitFrames(w));
    expect(frames.length).toBeGreaterThan(1);
    for (const f of frames) expect(f.length + 4).toBeLessThanOrEqual(2048);
    expect(frames.flatMap((f) => itemsOf(f).map(([n]) => n))).toEqual([...names('fits.in.frames.of.two.kib', 200), 'after.huge']);
    expect(d.counters).toMatchObject({ oversizedDrops: 1, sent: 201, attemptedRelays: 202 });
    expect(entries.find((e) => e.message.startsWith('datapoint too large'))).toMatchObject({ level: 'warn', destination: 'd.one', nameBytes: 5005, name: `huge.${'x'.repeat(95)}` });
  });

  it('no plaintext line exceeds maxLineBytes: a longer one is dropped and counted, the lines around it go out', async () => {
    const t = new ScriptedTransport('stream');
    const { d } = build(t, {}, { encoder: new LineEncoder(NamePrefix.NONE, 64) });
    await d.start();
    d.offer('short.one', TS, 1);
    d.offer(`long.${'y'.repeat(60)}`, TS, 2);
    d.offer('short.two', TS, 3);
    t.current.connect();
    await eventLoopTurns(2);
    expect(Buffer.concat(t.current.writes).toString()).toBe(`short.one 1 ${TS}\nshort.two 3 ${TS}\n`);
    expect(d.counters).toMatchObject({ oversizedDrops: 1, sent: 2 });
  });

  it('a peer that hangs up with a chunk still in the process: those datapoints are lostInFlight, never sent, and the log names the last message', async () => {
    const t = new ScriptedTransport('stream');
    const { d, entries } = build(t);
    await d.start();
    t.current.connect();
    d.offer('delivered.first', TS, 0);
    await eventLoopTurns(2);
    expect(d.counters.sent).toBe(1);
    t.current.budget = 0;
    offerMany(d, 'poisoned.batch', 7);
    await eventLoopTurns(2);
    expect(d.currentState).toBe('blocked');
    expect(d.inFlight).toBe(7);
    t.current.close(); // the peer hung up (FIN): carbon's answer to input it rejects
    expect(d.counters).toMatchObject({ sent: 1, lostInFlight: 7, closedByPeer: 1 });
    expect(d.inFlight).toBe(0);
    expect(entries.find((e) => e.message.startsWith('destination closed the connection after receiving data'))).toMatchObject({
      level: 'warn',
      destination: 'd.one',
      reason: 'closed by peer',
      lastMessageDatapoints: 7,
      lastMessageFirstName: 'poisoned.batch.0',
      lostInFlight: 7,
    });
  });

  it('a connect that fails is not a peer hanging up', async () => {
    const t = new ScriptedTransport('stream');
    const { d } = build(t);
    await d.start();
    t.current.close(new Error('ECONNREFUSED'));
    expect(d.counters).toMatchObject({ closedByPeer: 0, lostInFlight: 0, connectFailures: 1 });
  });
});

describe('Destination: stallTimeout counts the time spent holding receivers, not one pause', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
  afterEach(() => jest.useRealTimers());

  /** Connected, with write() pushing back: the queue only moves when the test drains it. */
  async function held(stallTimeoutMs: number): Promise<Built & { t: ScriptedTransport }> {
    const t = new ScriptedTransport('message');
    const b = build(t, { maxDatapointsPerMessage: 1, highWaterMark: 10, lowWaterMark: 5, stallTimeoutMs }, { limit: 100 });
    await b.d.start();
    t.current.connect();
    t.current.budget = 0;
    b.d.offer('first', TS, 0);
    await eventLoopTurns(2);
    expect(b.d.currentState).toBe('blocked');
    return { ...b, t };
  }

  it('short pauses that never let the queue empty add up to a stall, which is counted and logged', async () => {
    const { d, t, pressure, entries } = await held(100);
    offerMany(d, 'a', 10);
    expect(d.pressureState).toBe('high');
    jest.advanceTimersByTime(60);
    t.current.drain(3);
    t.current.drain(0); // 10 -> 5: below the low-water mark, receivers resume; the queue is not empty
    expect(d.pressureState).toBe('normal');
    offerMany(d, 'b', 5);
    expect(d.pressureState).toBe('high'); // a second pause: 40 ms of the 100 are left
    jest.advanceTimersByTime(39);
    expect(d.pressureState).toBe('high');
    jest.advanceTimersByTime(2);
    expect(d.pressureState).toBe('stalled');
    expect(pressure.calls).toEqual(['d.one:true', 'd.one:false', 'd.one:true', 'd.one:false']);
    expect(d.counters.stalls).toBe(1);
    expect(entries.filter((e) => e.message.startsWith('destination held the receivers'))).toEqual([expect.objectContaining({ destination: 'd.one', stalls: 1 })]);
  });

  it('a queue that empties starts the count again', async () => {
    const { d, t } = await held(100);
    offerMany(d, 'a', 10);
    jest.advanceTimersByTime(60);
    t.current.drain(); // everything goes: the peer kept up after all
    await eventLoopTurns(2);
    expect(d.queue.length).toBe(0);
    t.current.budget = 0;
    d.offer('block', TS, 0);
    await eventLoopTurns(2);
    offerMany(d, 'b', 10);
    expect(d.pressureState).toBe('high');
    jest.advanceTimersByTime(99);
    expect(d.pressureState).toBe('high');
    jest.advanceTimersByTime(1);
    expect(d.pressureState).toBe('stalled');
  });
});

describe('Destination: maxRate', () => {
  it('sends a burst at most maxRate a second on the injected clock (a tenth of a second at once), every datapoint once, in order', async () => {
    const clock = new FakeClock(1_700_000_000_000);
    const s = await server('pickle');
    const { d } = build(socketTo(s.port), { maxRate: 1000 }, { clock });
    expect(d.maxRate).toBe(1000);
    await d.start();
    await waitFor(() => d.isConnected, 'connected');
    const start = clock.now();
    offerMany(d, 'rl', 1000);
    // the bucket starts with 100 (0.1 s of 1000/s); then 100 more each time the clock moves 100 ms
    for (let k = 1; k <= 10; k++) {
      await waitFor(() => s.datapoints.length >= 100 * k, `${100 * k} delivered`);
      expect(s.datapoints.length).toBe(100 * k);
      // what the sender may send by now on the injected clock: the saved-up tenth of a second, plus maxRate x elapsed
      expect(s.datapoints.length).toBeLessThanOrEqual(100 + ((clock.now() - start) / 1000) * 1000);
      if (k === 10) break;
      await waitFor(() => clock.pending.length === 1, 'the writer waits for tokens');
      expect(clock.pending).toEqual([100]);
      clock.advance(100);
    }
    expect(clock.now() - start).toBe(900);
    expect(s.datapoints.map((p) => p.name)).toEqual(names('rl', 1000));
    expect(s.frames.every((f) => parser.parse<unknown[]>(f).length <= 100)).toBe(true);
    await waitFor(() => d.counters.sent === 1000, 'all counted as sent');
    expect(clock.pending).toEqual([]);
    expect(d.counters).toMatchObject({ attemptedRelays: 1000, sent: 1000, fullQueueDrops: 0, rateLimitWaits: 9 });
    expect(d.counters.rateLimitedSeconds).toBeCloseTo(0.9, 9);
  });

  it('datapoints offered while it waits are sent when the wait ends, not in small messages on each offer; the queue holds them, and its water marks pause receivers as for any slow peer', async () => {
    const clock = new FakeClock(0);
    const s = await server('line');
    const { d, pressure } = build(socketTo(s.port), { maxRate: 50, highWaterMark: 20, lowWaterMark: 5 }, { clock, encoder: new LineEncoder() });
    await d.start();
    await waitFor(() => d.isConnected, 'connected');
    offerMany(d, 'w', 5);
    await waitFor(() => s.datapoints.length === 5 && clock.pending.length === 0, 'the first 5 (the burst of 50/s) sent at once');
    for (let i = 5; i < 30; i++) {
      d.offer(`w.${i}`, TS + i, i);
      await eventLoopTurns(2);
    }
    // nothing more without the clock: the bucket is empty and the writer waits
    expect(s.datapoints.length).toBe(5);
    expect(d.queue.length).toBe(25);
    expect(pressure.calls).toEqual(['d.one:true']);
    expect(clock.pending).toEqual([100]);
    for (let sent = 10; sent <= 30; sent += 5) {
      clock.advance(100);
      await waitFor(() => s.datapoints.length >= sent, `${sent} delivered`);
      expect(s.datapoints.length).toBe(sent);
    }
    expect(s.datapoints.map((p) => p.name)).toEqual(names('w', 30));
    expect(pressure.calls).toEqual(['d.one:true', 'd.one:false']);
    expect(d.counters).toMatchObject({ fullQueueDrops: 0, rateLimitWaits: 5 });
  });

  it('a burst beyond the queue spills to the spool (whenSlow: spool) and is replayed within maxRate: every datapoint arrives once, nothing is dropped', async () => {
    const clock = new FakeClock(1_700_000_000_000);
    const s = await server('line');
    const { log } = captureLog();
    const cfg = destinationSchema.parse({ name: 'limited', host: '127.0.0.1', port: s.port, protocol: 'line', maxRate: 10_000, maxQueueSize: 2000, spool: { mode: 'overflow' }, whenSlow: 'spool' });
    const d = buildDestination(cfg, { log, dataDir: newDir(), now: clock.now, timers: clock });
    created.push(d);
    await d.start();
    await waitFor(() => d.isConnected, 'connected');
    const n = 5000;
    offerMany(d, 'sp', n);
    const start = clock.now();
    while (s.datapoints.length < n) {
      // the writer is waiting for tokens, or for the spool to hand it the next records
      await waitFor(() => clock.pending.length === 1 || s.datapoints.length === n, 'the writer waits for tokens, or is done', 20_000);
      if (s.datapoints.length === n) break;
      clock.advance(100);
      // the saved-up tenth of a second (1000), plus maxRate x elapsed on the injected clock
      expect(s.datapoints.length).toBeLessThanOrEqual(1000 + ((clock.now() - start) / 1000) * 10_000);
    }
    expect(s.datapoints.map((p) => p.name).sort()).toEqual(names('sp', n).sort());
    expect(clock.now() - start).toBeGreaterThanOrEqual(400);
    const spool: Record<string, number> = {};
    d.reportCounters((key, value) => (spool[key] = value));
    expect(spool['spool.written']).toBeGreaterThan(0);
    expect(d.counters).toMatchObject({ fullQueueDrops: 0, lostInFlight: 0 });
  });

  it('stop waits for the limited writer until its deadline; what is left is counted as undelivered, and no timer is left behind', async () => {
    const clock = new FakeClock(0);
    const s = await server('line');
    const { d } = build(socketTo(s.port), { maxRate: 10 }, { clock, encoder: new LineEncoder() });
    await d.start();
    await waitFor(() => d.isConnected, 'connected');
    offerMany(d, 'st', 3);
    await waitFor(() => s.datapoints.length === 1 && clock.pending.length === 1, 'one sent (the burst of 10/s), the writer waiting');
    const report = await d.stop(Date.now() + 50);
    expect(report).toMatchObject({ undelivered: 2, spooled: 0 });
    expect(clock.pending).toEqual([]);
    expect(d.counters).toMatchObject({ sent: 1, undeliveredAtShutdown: 2, rateLimitWaits: 1 });
  });
});

describe('Destination: flushMaxWait gathers small batches into fuller writes', () => {
  it("a few datapoints wait; once a write's worth (8 messages on a byte stream) is queued it is written at once, in one write", async () => {
    const t = new ScriptedTransport('stream');
    // far beyond the test's timeout: only reaching a write's worth can write these
    const { d } = build(t, { flushMaxWaitMs: 600_000, maxDatapointsPerMessage: 10 });
    await d.start();
    t.current.connect();
    offerMany(d, 'few', 5);
    await eventLoopTurns(3);
    expect(t.current.writes).toHaveLength(0);
    expect(d.queue.length).toBe(5);
    offerMany(d, 'few', 75, 5);
    await waitFor(() => t.current.writes.length === 1, 'the write of 80 datapoints');
    expect(itemCounts(splitFrames(t.current.writes[0]))).toEqual([10, 10, 10, 10, 10, 10, 10, 10]);
    expect(d.queue.length).toBe(0);
  });

  it('a message transport (Kafka, HTTP) waits for one full message', async () => {
    const t = new ScriptedTransport('message');
    const { d } = build(t, { flushMaxWaitMs: 600_000, maxDatapointsPerMessage: 10 });
    await d.start();
    t.current.connect();
    offerMany(d, 'm', 9);
    await eventLoopTurns(3);
    expect(t.current.writes).toHaveLength(0);
    offerMany(d, 'm', 1, 9);
    await waitFor(() => t.current.writes.length === 1, 'one message of 10');
    expect(itemsOf(t.current.writes[0].subarray(4)).map(([n]) => n)).toEqual(names('m', 10));
  });

  it('what waits is written when flushMaxWait runs out', async () => {
    const sink = await server('pickle');
    const { d } = build(socketTo(sink.port), { flushMaxWaitMs: 20 });
    await d.start();
    await waitFor(() => d.currentState === 'connected', 'connected');
    offerMany(d, 'late', 3);
    await waitFor(() => sink.datapoints.length === 3, 'the 3 datapoints after flushMaxWait');
    expect(sink.datapoints.map((p) => p.name)).toEqual(names('late', 3));
    expect(d.counters).toMatchObject({ sent: 3, batchesSent: 1 });
  });

  it('stop() writes what waits at once instead of waiting flushMaxWait out', async () => {
    const sink = await server('pickle');
    const { d } = build(socketTo(sink.port), { flushMaxWaitMs: 600_000 });
    await d.start();
    await waitFor(() => d.currentState === 'connected', 'connected');
    offerMany(d, 'stop', 4);
    const report = await d.stop(Date.now() + 10_000);
    expect(report).toMatchObject({ undelivered: 0 });
    await waitFor(() => sink.datapoints.length === 4, 'the 4 datapoints');
    expect(d.counters.sent).toBe(4);
  });

  it('never waits for more than half the high-water mark, so gathering a write never pauses receivers', async () => {
    const t = new ScriptedTransport('stream');
    const { d, pressure } = build(t, { flushMaxWaitMs: 600_000, maxDatapointsPerMessage: 500, highWaterMark: 20 });
    await d.start();
    t.current.connect();
    offerMany(d, 'hw', 10);
    await waitFor(() => t.current.writes.length === 1, 'the write at half the high-water mark');
    expect(itemCounts(splitFrames(t.current.writes[0]))).toEqual([10]);
    expect(pressure.calls).toEqual([]);
  });
});
