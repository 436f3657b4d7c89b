import net from 'node:net';
import { jumpFnv1aBucket } from '../../src/common/jump-fnv1a';
import { murmur2Partition } from '../../src/common/murmur2';
import type { Relay } from '../../src/relay/relay';
import { stopRelay } from '../helpers/cleanup';
import { MockKafka, TopicReader, uniqueTopic } from '../helpers/kafka';
import { startRelay, tempDirsRemovedAfterAll } from '../helpers/relay';
import { sendTcp, waitFor } from '../helpers/sink';

const TS = 1_700_000_000;
const partitionOf = (name: string, n: number): number => {
  const b = Buffer.from(name, 'utf8');
  return murmur2Partition(b, 0, b.length, n);
};

/**
 * The Kafka destination against librdkafka's mock cluster: every datapoint
 * lands exactly once, on the partition its name hashes to, in order per
 * series; outages fill the queue and are delivered after, without duplicates.
 */
describe('Kafka destination', () => {
  let kafka: MockKafka;
  const relays: Relay[] = [];
  const readers: TopicReader[] = [];

  beforeAll(async () => {
    kafka = await MockKafka.start(3);
  });
  afterAll(async () => {
    await kafka.stop();
  });
  afterEach(async () => {
    for (const r of relays.splice(0)) await stopRelay(r, 5000);
    for (const r of readers.splice(0)) await r.stop();
    await kafka.up();
  });

  async function setup(partitions: number, over: Record<string, unknown> = {}): Promise<{ relay: Relay; reader: TopicReader; topic: string }> {
    const topic = uniqueTopic('dest');
    await kafka.topic(topic, partitions);
    const relay = await startRelay({
      destinations: [{ type: 'kafka', name: 'k', brokers: kafka.brokerList, topic, linger: '1ms', reconnect: { initialDelay: '50ms', maxDelay: '200ms' }, ...over }],
      rules: [{ default: true, destinations: ['k'] }],
    });
    relays.push(relay);
    const reader = new TopicReader(kafka.bootstrap, topic, partitions);
    readers.push(reader);
    await reader.start();
    return { relay, reader, topic };
  }

  it('line format: 10,000 datapoints, each exactly once, on its murmur2 partition, in order per series, keyed by a name in the record', async () => {
    const { relay, reader } = await setup(8);
    await waitFor(() => relay.destinations.get('k')!.healthy, 'producer connected', 20_000);
    // 1,000 series x 10 points, interleaved
    let text = '';
    for (let v = 0; v < 10; v++) for (let s = 0; s < 1000; s++) text += `kafka.s${s} ${v} ${TS + v}\n`;
    await sendTcp(relay.listeners.line!.port, text);
    await waitFor(() => reader.lines().length >= 10_000, 'all 10,000 read back', 30_000);
    const lines = reader.lines();
    expect(lines).toHaveLength(10_000);
    const bySeries = new Map<string, number[]>();
    for (const { partition, key, line } of lines) {
      const [name, value, ts] = line.split(' ');
      expect([name, partition]).toEqual([name, partitionOf(name!, 8)]);
      // the key is one of the record's names, and hashes to the same partition
      expect(partitionOf(key, 8)).toBe(partition);
      expect(Number(ts)).toBe(TS + Number(value));
      bySeries.set(name!, [...(bySeries.get(name!) ?? []), Number(value)]);
    }
    expect(bySeries.size).toBe(1000);
    for (const values of bySeries.values()) expect(values).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const c = relay.destinations.get('k')!.counters;
    await waitFor(() => c.sent === 10_000, 'acknowledged');
    expect([c.attemptedRelays, c.sent, c.fullQueueDrops, c.rejected, c.lostInFlight]).toEqual([10_000, 10_000, 0, 0, 0]);
    // records batch lines: far fewer records than datapoints
    expect(reader.records.length).toBeLessThan(1000);
  });

  it('jump_fnv1a_ch places each name on the partition the relay\'s jump hash picks; apiKey prefixes names and keys', async () => {
    const { relay, reader } = await setup(5, { partitioner: 'jump_fnv1a_ch', apiKey: 'KEY' });
    await waitFor(() => relay.destinations.get('k')!.healthy, 'producer connected', 20_000);
    let text = '';
    for (let s = 0; s < 500; s++) text += `jump.s${s} ${s} ${TS}\n`;
    await sendTcp(relay.listeners.line!.port, text);
    await waitFor(() => reader.lines().length >= 500, 'read back', 30_000);
    for (const { partition, key, line } of reader.lines()) {
      const name = line.split(' ')[0]!;
      expect(name.startsWith('KEY.jump.s')).toBe(true);
      expect([name, partition]).toEqual([name, jumpFnv1aBucket(name, 5)]);
      expect(key.startsWith('KEY.')).toBe(true);
    }
  });

  it('pickle format: each record is one carbon pickle payload (no length header) that python-compatible unpicklers read', async () => {
    const { relay, reader } = await setup(3, { format: 'pickle' });
    await waitFor(() => relay.destinations.get('k')!.healthy, 'producer connected', 20_000);
    let text = '';
    for (let s = 0; s < 300; s++) text += `pk.s${s} ${s + 0.5} ${TS + s}\n`;
    await sendTcp(relay.listeners.line!.port, text);
    await waitFor(() => reader.records.reduce((n, r) => n + r.value.length, 0) > 0 && relay.destinations.get('k')!.counters.sent === 300, 'acknowledged', 30_000);
    await waitFor(() => decodeAll(reader).length === 300, 'read back', 30_000);
    const got = decodeAll(reader);
    for (const d of got) expect(partitionOf(d.name, 3)).toBe(d.partition);
    expect(got.map((d) => [d.name, d.value, d.timestamp]).sort()).toEqual(Array.from({ length: 300 }, (_, s) => [`pk.s${s}`, s + 0.5, TS + s]).sort());
  });

  const newDir = tempDirsRemovedAfterAll();

  it('brokers down past the memory queue: the disk spool takes the rest, survives a restart, and everything is delivered once', async () => {
    const topic = uniqueTopic('spool');
    await kafka.topic(topic, 3);
    const dataDir = newDir();
    const config = {
      dataDir,
      destinations: [{ type: 'kafka', name: 'k', brokers: kafka.brokerList, topic, linger: '1ms', maxQueueSize: 2000, maxInFlightBytes: '64KiB', reconnect: { initialDelay: '50ms', maxDelay: '200ms' } }],
      rules: [{ default: true, destinations: ['k'] }],
    };
    await kafka.down();
    const first = await startRelay(config);
    relays.push(first);
    const N = 30_000;
    let text = '';
    for (let i = 0; i < N; i++) text += `spooled.s${i % 300} ${i} ${TS}
`;
    await sendTcp(first.listeners.line!.port, text);
    await waitFor(() => first.counters.metricsReceived === N, 'received', 30_000);
    const d = first.destinations.get('k')!;
    expect(d.counters.fullQueueDrops).toBe(0);
    relays.splice(relays.indexOf(first), 1);
    const report = await first.stop(Date.now() + 1000);
    // nothing lost at the stop: what was not acknowledged is on disk (spilled while down, or spooled at the stop)
    expect(report.undelivered).toBe(0);
    expect(d.counters.sent).toBe(0);
    await kafka.up();
    const second = await startRelay(config);
    relays.push(second);
    const reader = new TopicReader(kafka.bootstrap, topic, 3);
    readers.push(reader);
    await reader.start();
    await waitFor(() => reader.lines().length >= N, 'every spooled datapoint delivered after the restart', 60_000);
    const values = reader.lines().map((l) => Number(l.line.split(' ')[1]));
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
  }, 120_000);

  it('all brokers down: the destination is down (status, failover groups) without closing, and up again when they return', async () => {
    const { relay } = await setup(2);
    const d = relay.destinations.get('k')!;
    await waitFor(() => d.healthy, 'producer connected', 20_000);
    await kafka.down();
    await waitFor(() => !d.healthy, 'reported down once librdkafka sees every broker gone', 30_000);
    expect(d.isConnected).toBe(true); // the producer stays; librdkafka keeps retrying
    await kafka.up();
    await waitFor(() => d.healthy, 'up again without traffic (metadata probe)', 30_000);
    expect(d.counters.connects).toBe(1);
  }, 90_000);

  it('all brokers down: datapoints wait in the queue (nothing lost, nothing dropped); back up, every one is delivered once', async () => {
    const { relay, reader } = await setup(4, { maxInFlightBytes: '64KiB', maxQueueSize: 1_000_000 });
    const d = relay.destinations.get('k')!;
    await waitFor(() => d.healthy, 'producer connected', 20_000);
    await kafka.down();
    const N = 20_000;
    const client = net.connect(relay.listeners.line!.port, '127.0.0.1');
    await new Promise<void>((r) => client.once('connect', () => r()));
    let text = '';
    for (let i = 0; i < N; i++) text += `out.s${i % 100} ${i} ${TS}\n`;
    await new Promise<void>((r) => client.end(text, () => r()));
    await waitFor(() => relay.counters.metricsReceived === N, 'received', 30_000);
    expect(d.counters.sent).toBeLessThan(N);
    await kafka.up();
    await waitFor(() => d.counters.sent === N, 'every datapoint acknowledged after the outage', 60_000);
    await waitFor(() => reader.lines().length >= N, 'read back', 60_000);
    const values = reader.lines().map((l) => Number(l.line.split(' ')[1]));
    expect(values).toHaveLength(N);
    expect(new Set(values).size).toBe(N);
    expect([d.counters.fullQueueDrops, d.counters.rejected, d.counters.lostInFlight]).toEqual([0, 0, 0]);
  });
});

/** Every datapoint of every pickle record (a protocol 2 list of (name, (ts, value)) tuples), read by pickleparser, an unpickler that is not ours. */
function decodeAll(reader: TopicReader): { partition: number; name: string; value: number; timestamp: number }[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Parser } = require('pickleparser') as { Parser: new () => { parse(b: Buffer): unknown } };
  const out: { partition: number; name: string; value: number; timestamp: number }[] = [];
  for (const r of reader.records) {
    const items = new Parser().parse(r.value) as [string, [number, number]][];
    for (const [name, [timestamp, value]] of items) out.push({ partition: r.partition, name, value, timestamp });
  }
  return out;
}
