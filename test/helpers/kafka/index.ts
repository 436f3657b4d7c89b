import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireKafkaClient, type KafkaConfig, type KafkaConsumer, type KafkaMessage } from '../../../src/common/kafka-client';

/** librdkafka as @confluentinc/kafka-javascript built it (headers and shared library). */
const DEPS = path.join(path.dirname(require.resolve('@confluentinc/kafka-javascript/package.json')), 'build', 'deps');
const SOURCE = path.join(__dirname, 'mock-cluster.c');

/** The mock-cluster program, compiled once per source and library version (atomically: jest workers race). */
function mockClusterBinary(): string {
  const id = crypto.createHash('sha256').update(fs.readFileSync(SOURCE)).update(String(fs.statSync(path.join(DEPS, 'librdkafka.so')).mtimeMs)).digest('hex').slice(0, 12);
  const bin = path.join(os.tmpdir(), `carbon-fanout-kafka-mock-${id}`);
  if (fs.existsSync(bin)) return bin;
  const tmp = `${bin}.${process.pid}`;
  execFileSync('gcc', ['-O1', '-o', tmp, SOURCE, `-I${path.join(DEPS, 'include')}`, `-L${DEPS}`, '-lrdkafka', `-Wl,-rpath,${DEPS}`]);
  fs.renameSync(tmp, bin);
  return bin;
}

/**
 * librdkafka's mock Kafka cluster (brokers on 127.0.0.1, ids 1..n), with
 * topics of a chosen partition count and brokers that go down and up.
 * It is not a real broker: use it for exact counts and placement, not speed.
 */
export class MockKafka {
  private answers: ((line: string) => void)[] = [];
  private stdout = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly bootstrap: string,
    readonly brokers: number,
  ) {}

  static async start(brokers = 3): Promise<MockKafka> {
    const child = spawn(mockClusterBinary(), [String(brokers)], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr!.resume();
    const bootstrap = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`mock cluster exited (${code})`)));
      child.stdout!.on('data', function first(d: Buffer) {
        out += d.toString();
        const m = /BOOTSTRAP=(\S+)\n/.exec(out);
        if (m === null) return;
        child.stdout!.off('data', first);
        resolve(m[1]!);
      });
    });
    child.removeAllListeners('exit');
    const mock = new MockKafka(child, bootstrap, brokers);
    child.stdout!.on('data', (d: Buffer) => mock.read(d));
    return mock;
  }

  get brokerList(): string[] {
    return this.bootstrap.split(',');
  }

  async topic(name: string, partitions: number): Promise<void> {
    await this.command(`topic ${name} ${partitions}`);
  }

  async down(...ids: number[]): Promise<void> {
    for (const id of ids.length > 0 ? ids : this.ids()) await this.command(`down ${id}`);
  }

  async up(...ids: number[]): Promise<void> {
    for (const id of ids.length > 0 ? ids : this.ids()) await this.command(`up ${id}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end('quit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  private ids(): number[] {
    return Array.from({ length: this.brokers }, (_, i) => i + 1);
  }

  private command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.answers.push((answer) => (answer.startsWith('OK') ? resolve(answer) : reject(new Error(`${line}: ${answer}`))));
      this.child.stdin!.write(`${line}\n`);
    });
  }

  private read(d: Buffer): void {
    this.stdout += d.toString();
    for (let nl = this.stdout.indexOf('\n'); nl >= 0; nl = this.stdout.indexOf('\n')) {
      const line = this.stdout.slice(0, nl);
      this.stdout = this.stdout.slice(nl + 1);
      this.answers.shift()?.(line);
    }
  }
}

/** A consumed record. */
export interface ReadRecord {
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly value: Buffer;
}

interface AssigningConsumer extends KafkaConsumer {
  assign(partitions: { topic: string; partition: number; offset: number }[]): unknown;
}

/** librdkafka's "from the first offset". */
const OFFSET_BEGINNING = -2;

/**
 * Reads every partition of a topic from its first offset, without a consumer
 * group (no rebalance to wait for), into `records`, until stopped.
 */
export class TopicReader {
  readonly records: ReadRecord[] = [];
  private consumer: AssigningConsumer | undefined;
  private running = false;

  constructor(
    private readonly bootstrap: string,
    private readonly topic: string,
    private readonly partitions: number,
  ) {}

  async start(): Promise<void> {
    const kafka = requireKafkaClient();
    const conf: KafkaConfig = { 'bootstrap.servers': this.bootstrap, 'group.id': `reader-${crypto.randomUUID()}`, 'enable.auto.commit': false };
    const consumer = new kafka.KafkaConsumer(conf) as AssigningConsumer;
    this.consumer = consumer;
    await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 10_000 }, (err) => (err ? reject(err) : resolve())));
    consumer.assign(Array.from({ length: this.partitions }, (_, partition) => ({ topic: this.topic, partition, offset: OFFSET_BEGINNING })));
    consumer.setDefaultConsumeTimeout(50);
    this.running = true;
    const loop = (): void => {
      if (!this.running) return;
      consumer.consume(1000, (err, messages: KafkaMessage[]) => {
        if (err === null || err === undefined) {
          for (const m of messages) this.records.push({ partition: m.partition, offset: m.offset, key: m.key === null || m.key === undefined ? '' : m.key.toString(), value: m.value ?? Buffer.alloc(0) });
        }
        setImmediate(loop);
      });
    };
    loop();
  }

  /** The plaintext lines of every record read so far. */
  lines(): { partition: number; key: string; line: string }[] {
    return this.records.flatMap((r) =>
      r.value
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((line) => ({ partition: r.partition, key: r.key, line })),
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    const c = this.consumer;
    if (c === undefined) return;
    await new Promise<void>((resolve) => c.disconnect(() => resolve()));
  }
}

/** A topic name no other test uses. */
export const uniqueTopic = (prefix: string): string => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** Produces the records (to their partition, else by key, else partition 0) and resolves once every one is acknowledged. */
export async function produce(bootstrap: string, topic: string, records: readonly { value: string | Buffer; key?: string; partition?: number }[]): Promise<void> {
  const kafka = requireKafkaClient();
  const producer = new kafka.Producer({ 'bootstrap.servers': bootstrap, dr_cb: true, 'linger.ms': 1, 'enable.idempotence': true });
  await new Promise<void>((resolve, reject) => producer.connect({ timeout: 10_000 }, (err) => (err ? reject(err) : resolve())));
  producer.setPollInterval(10);
  let pending = records.length;
  let failure: Error | undefined;
  const done = new Promise<void>((resolve) => {
    producer.on('delivery-report', (err) => {
      if (err) failure = err;
      if (--pending === 0) resolve();
    });
    if (pending === 0) resolve();
  });
  for (const r of records) {
    const value = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    producer.produce(topic, r.partition ?? (r.key === undefined ? 0 : null), value, r.key ?? null, null);
  }
  await done;
  await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
  if (failure !== undefined) throw failure;
}
