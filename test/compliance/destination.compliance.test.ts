import fs from 'node:fs';
import path from 'node:path';
import { destinationSchema, type DestinationConfig, type DestinationKind } from '../../src/config/destinations';
import type { Destination } from '../../src/output/destination';
import { buildDestination } from '../../src/output/kinds';
import { DESTINATION_COUNTERS, type CounterKind } from '../../src/telemetry/counters';
import { silentLogger } from '../../src/telemetry/logger';
import { freePorts } from '../helpers/carbon';
import { eventually } from '../helpers/poll';
import { tempDirsRemovedAfterAll } from '../helpers/relay';
import { BackpressureAudit } from '../helpers/scripted-transport';
import { CaptureServer, waitFor } from '../helpers/sink';
import { settlesWithin } from '../helpers/deadline';
import { MockKafka, TopicReader, uniqueTopic } from '../helpers/kafka';

/**
 * The contract every destination kind keeps, checked the same way for each.
 * A new kind (kafka, ...) is one more entry in KINDS: its `type`, and a peer
 * that starts down, can be brought up, and tells what it received.
 */

/** The far end of one destination, as this suite drives it. */
interface Peer {
  /** This kind's own config keys, pointing at the peer. */
  readonly target: Record<string, unknown>;
  /** Make the peer reachable (it starts down: nothing listening, no such directory, ...). */
  up(): Promise<void>;
  /** How many datapoints the peer holds so far (cheap: polled while waiting). */
  receivedCount(): number;
  /** The names of the datapoints the peer holds, in arrival order. */
  receivedNames(): string[];
  /** Once a destination is connected: stop reading, so writes push back (a no-op where the peer cannot). */
  stall(): Promise<void>;
  unstall(): void;
  close(): Promise<void>;
}

interface KindCase {
  /** For test names and the destination's name: letters, digits and - only. */
  readonly id: string;
  readonly type: DestinationKind;
  peer(): Promise<Peer>;
  /** Counters the kind's transport adds after the common ones (`kafka.messages`). */
  readonly transportCounters?: readonly string[];
}

const KINDS = [
  { id: 'carbon-pickle', type: 'carbon', peer: () => carbonPeer('pickle') },
  { id: 'carbon-line', type: 'carbon', peer: () => carbonPeer('line') },
  { id: 'file', type: 'file', peer: () => filePeer() },
  { id: 'kafka', type: 'kafka', peer: () => kafkaPeer(), transportCounters: ['kafka.messages'] },
] as const satisfies readonly KindCase[];

/** Compile-time: every kind in the registry (config/destinations.ts) has at least one entry above. */
type Uncovered = Exclude<DestinationKind, (typeof KINDS)[number]['type']>;
const EVERY_KIND_COVERED: [Uncovered] extends [never] ? true : Uncovered = true;

// --- peers ---

/** A Carbon receiver (CaptureServer) on a port of 127.0.0.1 that is free until up(). */
async function carbonPeer(protocol: 'pickle' | 'line'): Promise<Peer> {
  const [port] = await freePorts(1);
  const capture = new CaptureServer(protocol);
  let listening = false;
  return {
    target: { host: '127.0.0.1', port, protocol, connectTimeout: '5s' },
    async up() {
      await capture.listen(port);
      listening = true;
    },
    receivedCount: () => capture.datapoints.length,
    receivedNames: () => capture.datapoints.map((p) => p.name),
    async stall() {
      await waitFor(() => capture.connections > 0, 'the receiver accepted the connection');
      capture.pauseReading();
    },
    unstall: () => capture.resumeReading(),
    async close() {
      if (listening) await capture.close();
    },
  };
}

/**
 * A one-partition topic (so arrival order is total) on librdkafka's mock
 * cluster, whose brokers are down until up(); stall() takes them down again.
 */
async function kafkaPeer(): Promise<Peer> {
  const mock = await MockKafka.start(1);
  const topic = uniqueTopic('compliance');
  await mock.topic(topic, 1);
  await mock.down();
  let reader: TopicReader | undefined;
  return {
    // small in-flight bytes, so a stalled cluster pushes back within a few writes
    target: { brokers: mock.brokerList, topic, connectTimeout: '1s', maxInFlightBytes: '64KiB', linger: '1ms' },
    async up() {
      await mock.up();
      reader = new TopicReader(mock.bootstrap, topic, 1);
      await reader.start();
    },
    receivedCount: () => reader?.lines().length ?? 0,
    receivedNames: () => (reader?.lines() ?? []).map((l) => l.line.split(' ')[0]!),
    async stall() {
      await mock.down();
    },
    unstall() {
      void mock.up();
    },
    async close() {
      await reader?.stop();
      await mock.stop();
    },
  };
}

const newDir = tempDirsRemovedAfterAll();

/** A file in a directory that does not exist until up(). */
async function filePeer(): Promise<Peer> {
  const dir = path.join(newDir(), 'not-yet');
  const file = path.join(dir, 'out.txt');
  const text = (): string => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
  return {
    target: { file },
    async up() {
      fs.mkdirSync(dir);
    },
    receivedCount() {
      if (!fs.existsSync(file)) return 0;
      const bytes = fs.readFileSync(file);
      let n = 0;
      for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1)) n++;
      return n;
    },
    receivedNames: () =>
      text()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split(' ')[0]),
    async stall() {},
    unstall() {},
    async close() {},
  };
}

// --- the suite ---

const destinations: Destination[] = [];
const peers: Peer[] = [];

afterEach(async () => {
  await Promise.all(destinations.splice(0).map((d) => settlesWithin(d.stop(Date.now()), 2000, `stop ${d.name}`).catch(() => undefined)));
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function peerFor(kind: KindCase): Promise<Peer> {
  const p = await kind.peer();
  peers.push(p);
  return p;
}

function configFor(kind: KindCase, peer: Peer, over: Record<string, unknown> = {}): DestinationConfig {
  return destinationSchema.parse({
    type: kind.type,
    name: `cmp.${kind.id}`,
    ...peer.target,
    reconnect: { initialDelay: '10ms', maxDelay: '50ms' },
    ...over,
  });
}

function build(kind: KindCase, peer: Peer, over: Record<string, unknown> = {}): Destination {
  const d = buildDestination(configFor(kind, peer, over), { log: silentLogger() });
  destinations.push(d);
  return d;
}

/**
 * Put an auditing pass-through around the transport the kind built (before
 * start()). Destination keeps its deps private; this reaches them on purpose.
 */
function interposeAudit(d: Destination): BackpressureAudit {
  const deps = d['deps'];
  const audit = new BackpressureAudit(deps.transport);
  deps.transport = audit;
  return audit;
}

function offerMany(d: Destination, prefix: string, n: number): void {
  for (let i = 0; i < n; i++) d.offer(`${prefix}.${i}`, 1_700_000_000 + i, i);
}

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}.${i}`);

/**
 * The per-destination self-metrics the README's table documents: the rows
 * whose first cell is `destinations.<d>.NAME` / `NAME` / ...
 */
function documentedCounters(): string[] {
  const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
  const found: string[] = [];
  for (const line of readme.split('\n')) {
    if (!line.startsWith('| `destinations.<d>.')) continue;
    const cell = line.split('|')[1];
    for (const m of cell.matchAll(/`([^`]+)`/g)) found.push(m[1].replace(/^destinations\.<d>\./, ''));
  }
  return found;
}

/** What reportCounters visits, by key. */
function reported(d: Destination): Map<string, { value: number; kind: CounterKind }> {
  const m = new Map<string, { value: number; kind: CounterKind }>();
  d.reportCounters((key, value, kind) => {
    if (m.has(key)) throw new Error(`${key} reported twice`);
    m.set(key, { value, kind });
  });
  return m;
}

/** Every datapoint offered is sent, still queued, or counted as dropped for one reason. */
function accounted(d: Destination): number {
  const c = reported(d);
  const get = (k: string): number => c.get(k)?.value ?? NaN;
  return get('sent') + get('queueLength') + get('fullQueueDrops');
}

it('every destination kind in the registry has an entry in KINDS', () => {
  expect(EVERY_KIND_COVERED).toBe(true);
});

describe.each(KINDS)('destination kind $id', (kind) => {
  it('datapoints in = sent + queued + dropped, exactly: offered over maxQueueSize while the peer is down, then delivered once it is up', async () => {
    const peer = await peerFor(kind);
    const d = build(kind, peer, { maxQueueSize: 1000, maxDatapointsPerMessage: 100 });
    await d.start();
    await waitFor(() => d.counters.connectFailures >= 1, 'the peer is down: a connect failed');
    expect(d.isConnected).toBe(false);

    offerMany(d, 'acct', 1500);
    expect(d.counters).toMatchObject({ attemptedRelays: 1500, fullQueueDrops: 500, queuedUntilConnected: 1000, relayMaxQueueLength: 1000, sent: 0, connects: 0 });
    expect(d.queue.length).toBe(1000);
    expect(accounted(d)).toBe(1500);

    await peer.up();
    await eventually(async () => peer.receivedCount(), (n) => n >= 1000, 'the queue delivered once the peer is up', { timeoutMs: 15_000, intervalMs: 20 });
    expect(peer.receivedNames()).toEqual(names('acct', 1000));
    // a reader can see what was written (a file's bytes) a tick before the write's callback counts it as sent
    await eventually(async () => d.counters.sent, (n) => n >= 1000, 'the writes completed', { timeoutMs: 15_000, intervalMs: 5 });
    expect(d.counters).toMatchObject({ attemptedRelays: 1500, sent: 1000, batchesSent: 10, fullQueueDrops: 500, connects: 1 });
    expect(d.queue.length).toBe(0);
    expect(accounted(d)).toBe(1500);
  });

  it('stop(deadline) resolves by the deadline when the peer is unreachable, reporting what stayed queued', async () => {
    const peer = await peerFor(kind);
    const d = build(kind, peer);
    await d.start();
    await waitFor(() => d.counters.connectFailures >= 1, 'the peer is down: a connect failed');
    offerMany(d, 'stranded', 50);
    const deadline = Date.now() + 300;
    const report = await settlesWithin(d.stop(deadline), 2000, 'stop with the peer unreachable');
    // by the deadline, plus an allowance for closing (generous, so the test is not timing-flaky)
    expect(Date.now()).toBeLessThanOrEqual(deadline + 500);
    expect(report).toEqual({ name: `cmp.${kind.id}`, undelivered: 50, spooled: 0, abandoned: [] });
    expect(d.counters.undeliveredAtShutdown).toBe(50);
    expect(d.counters.sent).toBe(0);
    expect(d.currentState).toBe('stopped');
  });

  it('stop(deadline) delivers everything queued to a peer that is up, then reports undelivered 0', async () => {
    const peer = await peerFor(kind);
    await peer.up();
    const d = build(kind, peer);
    await d.start();
    await waitFor(() => d.isConnected, 'connected');
    offerMany(d, 'flushed', 2000);
    const report = await settlesWithin(d.stop(Date.now() + 10_000), 12_000, 'stop');
    expect(report).toEqual({ name: `cmp.${kind.id}`, undelivered: 0, spooled: 0, abandoned: [] });
    // stop resolved once the connection was closed after the last byte: the peer holds everything
    // (a Kafka topic held it when the brokers acknowledged it; our reader of the topic catches up after)
    if (kind.type === 'kafka') await eventually(async () => peer.receivedCount(), (n) => n >= 2000, 'the reader caught up', { timeoutMs: 15_000, intervalMs: 20 });
    expect(peer.receivedNames()).toEqual(names('flushed', 2000));
    expect(d.counters).toMatchObject({ sent: 2000, undeliveredAtShutdown: 0 });
    expect(d.currentState).toBe('stopped');
  });

  it('respects write() returning false: nothing is written until onDrain (several MB through the real transport)', async () => {
    const peer = await peerFor(kind);
    await peer.up();
    const total = 250_000;
    const d = build(kind, peer, { maxQueueSize: total });
    const audit = interposeAudit(d);
    await d.start();
    await waitFor(() => d.isConnected, 'connected');
    await peer.stall();
    offerMany(d, 'compliance.backpressure.series', total);
    await waitFor(() => audit.falseReturns > 0, 'the transport pushed back', 30_000);
    peer.unstall();
    await eventually(async () => peer.receivedCount(), (n) => n >= total, 'everything delivered', { timeoutMs: 60_000, intervalMs: 100 });
    expect(audit.bytes).toBeGreaterThan(4 * 1024 * 1024);
    expect(audit.drains).toBeGreaterThan(0);
    expect(audit.writesWhileBlocked).toBe(0);
    expect(peer.receivedNames()).toEqual(names('compliance.backpressure.series', total));
    await eventually(async () => d.counters.sent, (n) => n >= total, 'the writes completed', { timeoutMs: 15_000, intervalMs: 5 });
    expect(d.counters).toMatchObject({ attemptedRelays: total, sent: total, fullQueueDrops: 0 });
  }, 90_000);

  it('reports its counters under the documented names and kinds, at destinations.<metricName>', async () => {
    const peer = await peerFor(kind);
    const d = build(kind, peer);
    const c = reported(d);
    expect([...c.keys()]).toEqual([...Object.keys(DESTINATION_COUNTERS), 'queueLength', 'flushes', 'flushSeconds', ...((kind as KindCase).transportCounters ?? [])]);
    // the README documents every kind's transport counters; this kind reports its own (per-kind ones like kafka.deliveryErrors.<kind> only once counted)
    const own = (k: string): boolean => !k.startsWith('kafka.') || ((kind as KindCase).transportCounters ?? []).includes(k);
    expect([...c.keys()].sort()).toEqual(documentedCounters().filter(own).sort());
    for (const [key, kindOf] of Object.entries(DESTINATION_COUNTERS)) expect([key, c.get(key)?.kind]).toEqual([key, kindOf]);
    expect(c.get('queueLength')?.kind).toBe('gauge');
    // the default metricName is the name with dots as underscores
    expect(d.metricName).toBe(`cmp_${kind.id}`);
    expect(d.counterPath).toBe(`destinations.cmp_${kind.id}`);
    const named = build(kind, peer, { name: `other.${kind.id}`, metricName: 'explicit_name' });
    expect(named.counterPath).toBe('destinations.explicit_name');
  });
});

/**
 * A network destination with its disk spool on (dataDir, overflow): the same
 * accounting, where "queued" now includes what waits on disk and nothing is
 * dropped at the memory bound; what is left at stop is spooled, not lost.
 */
describe('carbon destination with a spool (overflow)', () => {
  function buildSpooled(peer: Peer, dataDir: string): Destination {
    const cfg = destinationSchema.parse({ type: 'carbon', name: 'cmp.spooled', ...peer.target, maxQueueSize: 1000, maxDatapointsPerMessage: 100, reconnect: { initialDelay: '10ms', maxDelay: '50ms' } });
    const d = buildDestination(cfg, { log: silentLogger(), dataDir });
    destinations.push(d);
    return d;
  }

  it('datapoints in = sent + queued in memory + pending on disk, exactly, with no drop at the memory bound', async () => {
    const peer = await carbonPeer('pickle');
    const d = buildSpooled(peer, newDir());
    await d.start();
    await waitFor(() => d.counters.connectFailures >= 1, 'the peer is down: a connect failed');
    offerMany(d, 'spooled', 1500);
    await eventually(
      async () => reported(d),
      (c) => c.get('spool.written')?.value === 1500,
      'everything written to the spool',
    );
    const c = reported(d);
    expect([c.get('fullQueueDrops')?.value, c.get('queueLength')?.value, c.get('spool.pending')?.value]).toEqual([0, 0, 1500]);
    await peer.up();
    await waitFor(() => peer.receivedCount() === 1500, 'the backlog delivered once the peer is up', 15_000);
    const after = reported(d);
    expect((after.get('sent')?.value ?? 0) + (after.get('queueLength')?.value ?? 0) + (after.get('spool.pending')?.value ?? 0)).toBe(1500);
    expect(new Set(peer.receivedNames())).toEqual(new Set(names('spooled', 1500)));
    await d.stop(Date.now() + 1000);
    await peer.close();
  });

  it('stop(deadline) with the peer down keeps everything on disk: undelivered 0, spooled = what was held in memory', async () => {
    const peer = await carbonPeer('line');
    const d = buildSpooled(peer, newDir());
    await d.start();
    await waitFor(() => d.counters.connectFailures >= 1, 'the peer is down');
    offerMany(d, 'kept', 300);
    const report = await settlesWithin(d.stop(Date.now() + 100), 2000, 'stop');
    expect(report.undelivered).toBe(0);
    expect(d.counters.undeliveredAtShutdown).toBe(0);
    await peer.close();
  });
});
