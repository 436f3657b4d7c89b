import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { murmur2Partition } from '../../src/common/murmur2';
import type { Relay } from '../../src/relay/relay';
import { stopRelay } from '../helpers/cleanup';
import { eventually } from '../helpers/poll';
import { startRelay } from '../helpers/relay';
import { CaptureServer, sendTcp } from '../helpers/sink';

const KCAT = '/usr/bin/kcat';
const TS = 1_700_000_000;

/**
 * Our Kafka destination and source against an independent Kafka client:
 * Debian's kcat, and the mock cluster it starts (kcat's own librdkafka,
 * `-X test.mock.num.brokers=3`, which auto-creates topics with 4 partitions).
 * kcat reads what we produce; we consume what kcat produces.
 */
describe('Kafka interop with kcat', () => {
  let cluster: ChildProcess;
  let bootstrap = '';
  const relays: Relay[] = [];
  const captures: CaptureServer[] = [];

  beforeAll(async () => {
    // the consumer keeps the mock cluster alive; -d mock makes it print the brokers' addresses
    cluster = spawn(KCAT, ['-b', 'x:1', '-C', '-t', 'keepalive', '-X', 'test.mock.num.brokers=3', '-d', 'mock'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    bootstrap = await new Promise<string>((resolve, reject) => {
      cluster.once('exit', (code) => reject(new Error(`kcat exited ${code}: ${err.slice(-2000)}`)));
      cluster.stderr!.on('data', (d: Buffer) => {
        if (bootstrap !== '') return; // keep draining: the debug log never stops
        err += d.toString();
        const m = /bootstrap\.servers=(\S+)/.exec(err);
        if (m !== null) resolve(m[1]!);
      });
    });
    cluster.removeAllListeners('exit');
  });

  afterAll(async () => {
    for (const r of relays.splice(0)) await stopRelay(r, 5000);
    for (const c of captures.splice(0)) await c.close();
    cluster.kill('SIGKILL');
  });

  /** Everything in the topic now, as kcat prints it: partition, key and value of each record. */
  function kcatRead(topic: string): { partition: number; key: string; value: string }[] {
    const r = spawnSync(KCAT, ['-b', bootstrap, '-C', '-t', topic, '-e', '-q', '-f', '%p\t%k\t%S\t%s<<EOR>>'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`kcat -C: ${r.stderr}`);
    return r.stdout
      .split('<<EOR>>')
      .filter((x) => x !== '')
      .map((rec) => {
        const [p, key, size, ...rest] = rec.split('\t');
        const value = rest.join('\t');
        expect(Buffer.byteLength(value)).toBe(Number(size));
        return { partition: Number(p), key: key!, value };
      });
  }

  it('kcat reads our records: every line once, on the partition Java\'s partitioner gives its name', async () => {
    const topic = 'from-relay';
    const relay = await startRelay({
      destinations: [{ type: 'kafka', name: 'k', brokers: bootstrap.split(','), topic, linger: '1ms' }],
      rules: [{ default: true, destinations: ['k'] }],
    });
    relays.push(relay);
    const d = relay.destinations.get('k')!;
    await eventually(async () => d.healthy, (h) => h, 'producer connected', { timeoutMs: 30_000 });
    let text = '';
    for (let i = 0; i < 2000; i++) text += `kcat.series${i % 200} ${i} ${TS}\n`;
    await sendTcp(relay.listeners.line!.port, text);
    await eventually(async () => d.counters.sent, (n) => n === 2000, 'acknowledged', { timeoutMs: 30_000 });
    const records = await eventually(
      async () => kcatRead(topic),
      (rs) => rs.reduce((n, r) => n + r.value.split('\n').filter((l) => l !== '').length, 0) >= 2000,
      'kcat reads all 2000 lines',
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    const values: number[] = [];
    for (const r of records) {
      const key = Buffer.from(r.key);
      expect(murmur2Partition(key, 0, key.length, 4)).toBe(r.partition);
      for (const line of r.value.split('\n').filter((l) => l !== '')) {
        const [name, value, ts] = line.split(' ');
        const b = Buffer.from(name!);
        expect([name, murmur2Partition(b, 0, b.length, 4)]).toEqual([name, r.partition]);
        expect(Number(ts)).toBe(TS);
        values.push(Number(value));
      }
    }
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  }, 90_000);

  it('our source reads what kcat produces: one line per message, exactly once', async () => {
    const topic = 'from-kcat';
    let input = '';
    for (let i = 0; i < 1500; i++) input += `kcat.in${i % 30} ${i} ${TS}\n`;
    const p = spawnSync(KCAT, ['-b', bootstrap, '-P', '-t', topic], { input, encoding: 'utf8', timeout: 30_000 });
    expect([p.status, p.stderr]).toEqual([0, '']);
    const out = new CaptureServer('pickle');
    await out.listen();
    captures.push(out);
    const relay = await startRelay({
      sources: [{ type: 'kafka', name: 'k', brokers: bootstrap.split(','), topics: [topic], groupId: 'interop', sessionTimeout: '6s' }],
      destinations: [{ name: 'cache', host: '127.0.0.1', port: out.port }],
      rules: [{ default: true, destinations: ['cache'] }],
    });
    relays.push(relay);
    await eventually(async () => out.datapoints.length, (n) => n >= 1500, 'all 1500 delivered', { timeoutMs: 60_000 });
    expect(out.datapoints.map((d) => d.value).sort((a, b) => a - b)).toEqual(Array.from({ length: 1500 }, (_, i) => i));
    expect(out.datapoints.every((d) => d.timestamp === TS && /^kcat\.in\d+$/.test(d.name))).toBe(true);
  }, 90_000);
});
