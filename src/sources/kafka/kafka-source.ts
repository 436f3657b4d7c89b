import fs from 'node:fs';
import { Backoff } from '../../common/backoff';
import { kafkaSecurity, requireKafkaClient, type KafkaConfig, type KafkaConsumer, type KafkaError, type KafkaMessage, type KafkaModule, type KafkaTopicPartition } from '../../common/kafka-client';
import { decodeLine, isAccepted, LineVerdict } from '../../codec/line-decoder';
import { PickleDecodeError, PickleDecoder } from '../../codec/pickle-decoder';
import type { KafkaSourceConfig } from '../../config/schema';
import { MetricBatch } from '../../model/metric';
import type { CounterVisitor } from '../../telemetry/counters';
import { RateLimitedLog } from '../../telemetry/rate-limited-log';
import type { PollResult, Source, SourceDeps, SourceStopReport } from '../source';

/** Messages taken per consume() call. */
const BATCH = 100;
/** How long one consume() waits for messages before returning what it has. */
const CONSUME_WAIT_MS = 100;

/** Plain numeric counters of one Kafka source. */
export class KafkaSourceCounters {
  /** Messages read. */
  messages = 0;
  /** Datapoints handed to the pipeline. */
  datapoints = 0;
  /** Messages skipped whole: over maxMessageBytes, or a pickle payload that does not decode. */
  invalidMessages = 0;
  /** Lines skipped in line messages (malformed, too long, NaN/inf timestamp). */
  invalidLines = 0;
  /** Offset commits sent / failed. */
  commits = 0;
  commitErrors = 0;
  /** Partition assignments received (group rebalances). */
  rebalances = 0;
  /** Times the source stopped consuming because destinations were pressured. */
  pauses = 0;

  visit(visit: CounterVisitor): void {
    visit('messages', this.messages, 'counter');
    visit('datapoints', this.datapoints, 'counter');
    visit('invalidMessages', this.invalidMessages, 'counter');
    visit('invalidLines', this.invalidLines, 'counter');
    visit('commits', this.commits, 'counter');
    visit('commitErrors', this.commitErrors, 'counter');
    visit('rebalances', this.rebalances, 'counter');
    visit('pauses', this.pauses, 'counter');
  }
}

/**
 * A Kafka consumer group as a source. Each message's datapoints go to the
 * sink (the pipeline, which queues or spools them for every destination
 * before it returns); only then is the message's offset committed, so a
 * crash or a rebalance re-reads at most what was not yet committed (at least
 * once; Graphite overwrites the duplicates). While destinations are
 * pressured, its partitions are paused, as the TCP receivers stop reading.
 * A malformed message is counted and skipped, never retried.
 */
export class KafkaSource implements Source {
  readonly type = 'kafka';
  readonly name: string;
  readonly counterPath: string;
  readonly counters = new KafkaSourceCounters();
  private consumer: KafkaConsumer | undefined;
  private kafka: KafkaModule | undefined;
  private running = false;
  private paused = false;
  private consuming = false;
  private connected = false;
  /** Messages consumed but not yet handed over: the rest of a batch when the destinations pushed back mid-way. */
  private held: KafkaMessage[] = [];
  /** Highest offset + 1 handed to the sink, per topic/partition, not yet committed. */
  private readonly uncommitted = new Map<string, KafkaTopicPartition>();
  private readonly batch = new MetricBatch(512);
  private readonly decoder = new PickleDecoder();
  private readonly limited: RateLimitedLog;
  private readonly backoff = new Backoff({ initialMs: 500, maxMs: 10_000, factor: 2, jitter: 0.2 });
  private retry: unknown = null;
  /** Resolves when the consume() in progress has returned. */
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly cfg: KafkaSourceConfig,
    private readonly deps: SourceDeps,
  ) {
    this.name = cfg.name;
    this.counterPath = `sources.${cfg.name}`;
    this.limited = new RateLimitedLog(deps.log);
  }

  reportCounters(visit: CounterVisitor): void {
    this.counters.visit(visit);
  }

  async start(): Promise<void> {
    this.kafka = requireKafkaClient();
    this.running = true;
    this.connect();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.counters.pauses++;
    const c = this.consumer;
    if (c !== undefined && this.connected) c.pause(c.assignments());
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const c = this.consumer;
    if (c !== undefined && this.connected) {
      c.resume(c.assignments());
      this.loop();
    }
  }

  /** One consume() now (for `poll-once`): what it read is handed to the sink and committed. */
  async pollNow(): Promise<PollResult> {
    const before = this.counters.datapoints;
    if (this.consumer === undefined || !this.connected) return { ok: false, datapoints: 0, calls: 0, failedCalls: 0, deferredCalls: 1 };
    await this.consumeOnce();
    return { ok: true, datapoints: this.counters.datapoints - before, calls: 1, failedCalls: 0, deferredCalls: 0 };
  }

  async stop(deadline: number): Promise<SourceStopReport> {
    this.running = false;
    if (this.retry !== null) this.deps.timers.clearTimeout(this.retry);
    const c = this.consumer;
    let abandoned = false;
    if (c !== undefined) {
      // the consume() in flight hands its messages over and queues their commit before we leave
      abandoned = !(await within(this.idle, deadline));
      // consumed but never handed over (paused at the end): not committed, so read again after a restart
      this.held.length = 0;
      this.commit(true);
      await within(new Promise<void>((resolve) => c.disconnect(() => resolve())), deadline);
      this.consumer = undefined;
    }
    return { name: this.name, undelivered: 0, abandoned: abandoned ? ['a consume() was still running at the deadline'] : [], abandonedPoll: abandoned };
  }

  private connect(): void {
    const kafka = this.kafka as KafkaModule;
    const consumer = new kafka.KafkaConsumer(this.config(kafka));
    this.consumer = consumer;
    consumer.on('event.error', (err) => this.limited.warn(`kafka-source:${this.name}:${err.message}`, 'Kafka consumer error (it keeps retrying)', () => ({ source: this.name, error: err.message })));
    consumer.connect({ timeout: this.cfg.connectTimeout }, (err) => {
      if (!this.running) return;
      if (err !== null && err !== undefined) {
        this.limited.warn(`kafka-source:${this.name}:connect`, 'Kafka consumer could not connect; retrying', () => ({ source: this.name, error: err.message }));
        try {
          consumer.disconnect();
        } catch {
          // never connected
        }
        this.retry = this.deps.timers.setTimeout(() => this.running && this.connect(), this.backoff.next());
        return;
      }
      this.backoff.reset();
      this.connected = true;
      consumer.setDefaultConsumeTimeout(CONSUME_WAIT_MS);
      consumer.subscribe([...this.cfg.topics]);
      this.deps.log.info('Kafka source connected', { source: this.name, topics: this.cfg.topics, groupId: this.cfg.groupId });
      this.loop();
    });
  }

  private config(kafka: KafkaModule): KafkaConfig {
    const c = this.cfg;
    const conf: KafkaConfig = {
      'client.id': c.clientId,
      'session.timeout.ms': c.sessionTimeout,
      'socket.connection.setup.timeout.ms': Math.max(1000, c.connectTimeout),
      ...c.librdkafka,
      'bootstrap.servers': c.brokers.join(','),
      'group.id': c.groupId,
      'enable.auto.commit': false,
      'auto.offset.reset': c.startFrom,
      // assignments go through here so that partitions assigned while paused start paused
      rebalance_cb: (err: KafkaError, assignment: KafkaTopicPartition[]) => this.rebalance(kafka, err, assignment),
      offset_commit_cb: (err: KafkaError | null) => {
        if (err !== null && err !== undefined && err.code !== kafka.CODES.ERRORS.ERR__NO_OFFSET) {
          this.counters.commitErrors++;
          this.limited.warn(`kafka-source:${this.name}:commit`, 'Kafka offset commit failed (those messages may be read again)', () => ({ source: this.name, error: err.message }));
        }
      },
      ...kafkaSecurity(c.tls === false ? undefined : c.tls === true ? { rejectUnauthorized: true } : c.tls, c.sasl, (f) => fs.readFileSync(f, 'utf8')),
    };
    return conf;
  }

  private rebalance(kafka: KafkaModule, err: KafkaError, assignment: KafkaTopicPartition[]): void {
    const c = this.consumer as KafkaConsumer & { assign(p: KafkaTopicPartition[]): unknown; unassign(): unknown };
    if (err.code === kafka.CODES.ERRORS.ERR__ASSIGN_PARTITIONS) {
      this.counters.rebalances++;
      c.assign(assignment);
      if (this.paused) c.pause(assignment);
    } else {
      // what was handed to the sink is committed before another member takes the partitions; what was held
      // back is not, and is left to the new owner (handing it over here too would only duplicate it)
      this.held.length = 0;
      this.commit(true);
      c.unassign();
    }
  }

  private loop(): void {
    if (!this.running || this.paused || this.consuming || !this.connected) return;
    if (this.held.length > 0) {
      this.takeAll(this.held.splice(0));
      setImmediate(() => this.loop());
      return;
    }
    void this.consumeOnce().then(() => setImmediate(() => this.loop()));
  }

  /**
   * Hands messages over one at a time; once the destinations push back (the
   * pipeline pauses us from inside accept()), the rest waits in `held`, not
   * committed, until resume. A batch can therefore overshoot the high-water
   * mark by at most one message.
   */
  private takeAll(messages: readonly KafkaMessage[]): void {
    let i = 0;
    while (i < messages.length && !this.paused) this.take(messages[i++]!);
    if (i < messages.length) this.held.push(...messages.slice(i));
    this.commit(false);
  }

  private consumeOnce(): Promise<void> {
    const c = this.consumer;
    if (c === undefined || this.consuming) return this.idle;
    this.consuming = true;
    this.idle = new Promise<void>((resolve) => {
      c.consume(BATCH, (err, messages) => {
        this.consuming = false;
        if (err !== null && err !== undefined) {
          this.limited.warn(`kafka-source:${this.name}:consume`, 'Kafka consume failed', () => ({ source: this.name, error: err.message }));
        } else {
          this.takeAll(messages);
        }
        resolve();
      });
    });
    return this.idle;
  }

  /** One message: its datapoints to the sink, its offset marked for the next commit. */
  private take(m: KafkaMessage): void {
    this.counters.messages++;
    const key = `${m.topic}\u0000${m.partition}`;
    this.uncommitted.set(key, { topic: m.topic, partition: m.partition, offset: m.offset + 1 });
    const value = m.value;
    if (value === null || value.length === 0) return;
    const origin = `kafka:${m.topic}/${m.partition}`;
    if (value.length > this.cfg.maxMessageBytes) {
      this.invalidMessage(origin, `message of ${value.length} bytes is over maxMessageBytes ${this.cfg.maxMessageBytes}`);
      return;
    }
    const nowSeconds = this.deps.now() / 1000;
    const b = this.batch;
    b.clear();
    if (this.cfg.format === 'pickle') {
      try {
        const s = this.decoder.decode(value, b, nowSeconds);
        this.counters.invalidLines += s.badShape + s.badName + s.badNumber + s.badTimestamp;
      } catch (err) {
        b.clear();
        if (!(err instanceof PickleDecodeError)) throw err;
        this.invalidMessage(origin, `not a carbon pickle: ${err.message}`);
        return;
      }
    } else {
      this.decodeLines(value, nowSeconds, origin);
    }
    if (b.length === 0) return;
    this.counters.datapoints += b.length;
    this.deps.sink.accept(b, origin);
    b.clear();
  }

  private decodeLines(value: Buffer, nowSeconds: number, origin: string): void {
    let start = 0;
    while (start < value.length) {
      let nl = value.indexOf(0x0a, start);
      if (nl < 0) nl = value.length;
      let end = nl;
      if (end > start && value[end - 1] === 0x0d) end--;
      if (end > start) {
        const v = end - start > this.cfg.maxLineLength ? LineVerdict.Malformed : decodeLine(value, start, end, this.batch, nowSeconds, this.cfg.timestampOptional);
        if (!isAccepted(v) && v !== LineVerdict.NanValue) {
          this.counters.invalidLines++;
          const line = value.subarray(start, Math.min(end, start + 200)).toString('utf8');
          this.limited.warn(`kafka-source:${this.name}:line`, 'invalid line in a Kafka message, skipping it', () => ({ source: this.name, origin, line: JSON.stringify(line) }));
        }
      }
      start = nl + 1;
    }
  }

  private invalidMessage(origin: string, why: string): void {
    this.counters.invalidMessages++;
    this.limited.warn(`kafka-source:${this.name}:message`, 'skipping a Kafka message', () => ({ source: this.name, origin, why }));
  }

  /** Commits what was handed over (asynchronously; `sync` waits, for shutdown and revocation). */
  private commit(sync: boolean): void {
    const c = this.consumer;
    if (c === undefined || this.uncommitted.size === 0 || !this.connected) return;
    const offsets = [...this.uncommitted.values()];
    this.uncommitted.clear();
    this.counters.commits++;
    try {
      if (sync) c.commitSync(offsets);
      else c.commit(offsets);
    } catch (err) {
      this.counters.commitErrors++;
      this.limited.warn(`kafka-source:${this.name}:commit`, 'Kafka offset commit failed (those messages may be read again)', () => ({ source: this.name, error: (err as Error).message }));
    }
  }
}

/** Whether `p` settled by `deadline` (epoch ms). */
async function within(p: Promise<void>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
  const done = await Promise.race([p.then(() => true), late]);
  clearTimeout(timer);
  return done;
}
