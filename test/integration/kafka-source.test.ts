import type { Relay } from '../../src/relay/relay';
import type { KafkaSource } from '../../src/sources/kafka/kafka-source';
import { stopRelay } from '../helpers/cleanup';
import { MockKafka, produce, uniqueTopic } from '../helpers/kafka';
import { startRelay } from '../helpers/relay';
import { CaptureServer, waitFor } from '../helpers/sink';

const TS = 1_700_000_000;

/** `count` lines `<prefix>.<i % series> i TS`, numbered from `from`, `perMessage` to a message. */
function messages(prefix: string, from: number, count: number, perMessage: number, series = 50): string[] {
  const out: string[] = [];
  for (let i = from; i < from + count; i += perMessage) {
    let text = '';
    for (let k = i; k < Math.min(from + count, i + perMessage); k++) text += `${prefix}.s${k % series} ${k} ${TS}\n`;
    out.push(text);
  }
  return out;
}

/**
 * The Kafka source against librdkafka's mock cluster: a store-tier relay
 * consuming a topic and writing to a carbon receiver. At least once, counted
 * exactly: no datapoint lost, none read twice when offsets were committed,
 * bad messages skipped and counted, consumption paused under pressure.
 */
describe('Kafka source', () => {
  let kafka: MockKafka;
  const relays: Relay[] = [];
  const captures: CaptureServer[] = [];

  beforeAll(async () => {
    kafka = await MockKafka.start(3);
  });
  afterAll(async () => kafka.stop());
  afterEach(async () => {
    for (const r of relays.splice(0)) await stopRelay(r, 5000);
    for (const c of captures.splice(0)) await c.close();
  });

  async function capture(): Promise<CaptureServer> {
    const c = new CaptureServer('pickle');
    await c.listen();
    captures.push(c);
    return c;
  }

  async function storeRelay(out: CaptureServer, topic: string, groupId: string, over: Record<string, unknown> = {}, dest: Record<string, unknown> = {}): Promise<Relay> {
    const relay = await startRelay({
      sources: [{ type: 'kafka', name: 'edge', brokers: kafka.brokerList, topics: [topic], groupId, sessionTimeout: '6s', ...over }],
      destinations: [{ name: 'cache', host: '127.0.0.1', port: out.port, ...dest }],
      rules: [{ default: true, destinations: ['cache'] }],
    });
    relays.push(relay);
    return relay;
  }
  const source = (r: Relay): KafkaSource => r.sources.get('edge') as KafkaSource;

  it('reads every line of every message once; malformed lines and oversized messages are counted and skipped', async () => {
    const topic = uniqueTopic('src');
    await kafka.topic(topic, 4);
    const good = messages('in', 0, 5000, 100);
    const bad = ['not a line\nin.bad 1 1700000000\nin.nan 1 nan\n', 'x'.repeat(3000) + '\n'];
    await produce(kafka.bootstrap, topic, [...good.map((value, i) => ({ value, partition: i % 4 })), { value: bad[0]!, partition: 0 }, { value: bad[1]!, partition: 1 }]);
    const out = await capture();
    const relay = await storeRelay(out, topic, `g-${topic}`, { maxMessageBytes: 2900 });
    await waitFor(() => out.datapoints.length >= 5001, 'all good datapoints delivered', 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}: ${out.datapoints.length} ${JSON.stringify(source(relay).counters)} ${JSON.stringify(relay.destinations.get('cache')!.counters)}`);
    });
    const values = out.datapoints.filter((d) => d.name.startsWith('in.s')).map((d) => d.value);
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(out.datapoints.filter((d) => d.name === 'in.bad')).toHaveLength(1);
    const c = source(relay).counters;
    await waitFor(() => c.messages === good.length + 2, 'every message read');
    expect([c.datapoints, c.invalidLines, c.invalidMessages]).toEqual([5001, 2, 1]);
    expect(relay.counters.metricsReceived).toBe(5001);
  }, 60_000);

  it('a restart resumes from the committed offsets: nothing lost, nothing read twice', async () => {
    const topic = uniqueTopic('resume');
    await kafka.topic(topic, 3);
    await produce(kafka.bootstrap, topic, messages('r', 0, 3000, 100).map((value, i) => ({ value, partition: i % 3 })));
    const out = await capture();
    const first = await storeRelay(out, topic, `g-${topic}`);
    await waitFor(() => out.datapoints.length === 3000, 'first run delivered', 30_000);
    relays.splice(relays.indexOf(first), 1);
    await stopRelay(first, 5000);
    await produce(kafka.bootstrap, topic, messages('r', 3000, 2000, 100).map((value, i) => ({ value, partition: i % 3 })));
    const second = await storeRelay(out, topic, `g-${topic}`);
    await waitFor(() => out.datapoints.length >= 5000, 'second run delivered', 60_000);
    const values = out.datapoints.map((d) => d.value).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(source(second).counters.datapoints).toBe(2000);
  });

  it('rebalances lose nothing: a second member joins mid-stream, then the first leaves; every datapoint arrives, duplicates only from uncommitted offsets', async () => {
    const topic = uniqueTopic('rebalance');
    await kafka.topic(topic, 6);
    const out = await capture();
    const group = `g-${topic}`;
    const a = await storeRelay(out, topic, group);
    let sent = 0;
    const batch = async (n: number): Promise<void> => {
      await produce(kafka.bootstrap, topic, messages('rb', sent, n, 50, 200).map((value, i) => ({ value, partition: i % 6 })));
      sent += n;
    };
    await batch(3000);
    await waitFor(() => out.datapoints.length >= 3000, 'the first member read the first batch', 30_000);
    const b = await storeRelay(out, topic, group);
    await batch(3000);
    await waitFor(() => source(b).counters.rebalances >= 1 && source(a).counters.rebalances >= 2, 'both members were assigned partitions', 30_000);
    await batch(3000);
    relays.splice(relays.indexOf(a), 1);
    await stopRelay(a, 5000);
    await batch(3000);
    await waitFor(() => new Set(out.datapoints.map((d) => d.value)).size === sent, 'every datapoint delivered', 60_000);
    const values = out.datapoints.map((d) => d.value);
    expect(new Set(values).size).toBe(12_000);
    // at least once, counted exactly: what arrived is what the two members handed over; a datapoint arrives twice only
    // if a rebalance gave its message to the other member before its offset was committed
    await waitFor(() => out.datapoints.length === source(a).counters.datapoints + source(b).counters.datapoints, 'everything handed over delivered', 30_000);
    expect(source(b).counters.datapoints).toBeGreaterThan(0);
  }, 120_000);

  it('pauses consumption while the destination is pressured, as a TCP receiver stops reading; nothing dropped', async () => {
    const topic = uniqueTopic('pause');
    await kafka.topic(topic, 2);
    const N = 300_000;
    await produce(kafka.bootstrap, topic, messages('p', 0, N, 1000, 1000).map((value, i) => ({ value, partition: i % 2 })));
    const out = await capture();
    out.pauseReading();
    const relay = await storeRelay(out, topic, `g-${topic}`, {}, { maxQueueSize: 20_000 });
    await waitFor(() => source(relay).counters.pauses >= 1, 'the source paused', 60_000);
    out.resumeReading();
    await waitFor(() => out.datapoints.length >= N, 'everything delivered after the peer read again', 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}: ${out.datapoints.length} ${JSON.stringify(source(relay).counters)} ${JSON.stringify(relay.destinations.get('cache')!.counters)} q=${relay.destinations.get('cache')!.queue.length} paused=${relay.pipeline.paused}`);
    });
    expect(out.datapoints).toHaveLength(N);
    const d = relay.destinations.get('cache')!.counters;
    expect([d.fullQueueDrops, d.sent]).toEqual([0, N]);
    expect(source(relay).counters.datapoints).toBe(N);
  }, 180_000);
});
