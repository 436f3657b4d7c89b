import fs from 'node:fs';
import { kafkaSecurity, requireKafkaClient, type KafkaConfig, type KafkaDeliveryReport, type KafkaError, type KafkaModule, type KafkaProducer, type KafkaSasl, type KafkaTls } from '../../common/kafka-client';
import { readKafkaRecords, type KafkaRecord } from '../../codec/kafka-records';
import type { CounterVisitor } from '../../telemetry/counters';
import type { Logger } from '../../telemetry/logger';
import { RateLimitedLog } from '../../telemetry/rate-limited-log';
import type { Connection, Transport, TransportEvents } from './transport';

export interface KafkaTransportOptions {
  /** `host:port` of the bootstrap brokers. */
  brokers: readonly string[];
  topic: string;
  clientId: string;
  compression: 'lz4' | 'snappy' | 'zstd' | 'gzip' | 'none';
  lingerMs: number;
  connectTimeoutMs: number;
  /** Bytes of records produced but not yet acknowledged before write() says wait (then 'drain' at half). */
  maxInFlightBytes: number;
  /** Largest record value the encoder makes (the producer's message.max.bytes is set above it). */
  maxMessageBytes: number;
  tls?: KafkaTls;
  sasl?: KafkaSasl;
  /** Further librdkafka properties (validated by the config schema: never the ones set here for delivery guarantees). */
  librdkafka: Readonly<Record<string, string | number | boolean>>;
  /** How often the topic's partition count is read again (partitions added to a topic move keys, as in every Kafka client). */
  metadataRefreshMs: number;
}

/** Delivery reports are served from librdkafka's queue this often. */
const POLL_MS = 10;
/** While every broker is down, the cluster's metadata is asked this often, to see it back without waiting for traffic. */
const DOWN_PROBE_MS = 1000;
/** librdkafka's error when no broker is reachable (ERR__ALL_BROKERS_DOWN). */
const ALL_BROKERS_DOWN = /all broker connections are down|all brokers are down/i;

/** One record in flight, the opaque of its produce() call. */
interface InFlight {
  readonly chunk: ChunkState;
  readonly datapoints: number;
  readonly bytes: number;
}

/** One write(): its records, and what the destination is told when the last is acknowledged. */
interface ChunkState {
  remaining: number;
  rejected: number;
  readonly flushed: ((rejected?: number) => void) | undefined;
}

/**
 * The producer settings that carry the delivery guarantees: every record
 * acknowledged by all in-sync replicas, idempotent (retries never duplicate
 * or reorder within a partition), and retried for as long as the brokers are
 * away (message.timeout.ms 0), so an outage fills the destination's queue and
 * spool instead of losing records.
 */
export const KAFKA_FIXED_PROPERTIES = ['bootstrap.servers', 'acks', 'request.required.acks', 'enable.idempotence', 'message.timeout.ms', 'dr_cb', 'dr_msg_cb'] as const;

/**
 * A Kafka topic as a destination's connection: each write() carries records
 * from KafkaRecordEncoder (one per partition batch), produced with the
 * partition the encoder chose; the write is flushed once the brokers have
 * acknowledged all of them. Backpressure is by bytes in flight. A broker
 * outage does not close the connection: librdkafka keeps retrying, writes
 * stop being acknowledged, and the destination's queue (and spool) take up
 * the slack, as with a TCP peer that stops reading.
 */
export class KafkaTransport implements Transport {
  readonly description: string;
  readonly framing = 'message';
  /** The topic's partition count as last read; 0 until connected. The encoder reads it. */
  partitions = 0;
  /** Records acknowledged. */
  private messages = 0;
  /** Records refused for good, by librdkafka error name. */
  private readonly errors = new Map<string, number>();
  private readonly limited: RateLimitedLog;
  private readonly security: KafkaConfig;

  constructor(
    private readonly opts: KafkaTransportOptions,
    private readonly log: Logger,
  ) {
    this.description = `kafka://${opts.brokers.join(',')}/${opts.topic}`;
    this.limited = new RateLimitedLog(log);
    // read now, so a missing file is a start-up error naming it rather than a producer that never connects
    this.security = kafkaSecurity(opts.tls, opts.sasl, (f) => fs.readFileSync(f, 'utf8'));
  }

  reportCounters(visit: CounterVisitor): void {
    visit('kafka.messages', this.messages, 'counter');
    for (const [kind, n] of this.errors) visit(`kafka.deliveryErrors.${kind}`, n, 'counter');
  }

  connect(events: TransportEvents): Connection {
    return new KafkaConnection(this, requireKafkaClient(), events);
  }

  /** librdkafka's configuration for this destination. */
  config(): KafkaConfig {
    const o = this.opts;
    const c: KafkaConfig = {
      'client.id': o.clientId,
      'compression.codec': o.compression,
      'linger.ms': o.lingerMs,
      'socket.connection.setup.timeout.ms': Math.max(1000, o.connectTimeoutMs),
      'message.max.bytes': Math.max(1_000_000, o.maxMessageBytes + 64 * 1024),
      'queue.buffering.max.kbytes': Math.max(1024, Math.ceil((2 * o.maxInFlightBytes) / 1024)),
      'queue.buffering.max.messages': 1_000_000,
      'reconnect.backoff.max.ms': 5000,
      'topic.metadata.refresh.interval.ms': o.metadataRefreshMs,
      ...o.librdkafka,
      'bootstrap.servers': o.brokers.join(','),
      'request.required.acks': -1,
      'enable.idempotence': true,
      'message.timeout.ms': 0,
      dr_cb: true,
      ...this.security,
    };
    return c;
  }

  get options(): KafkaTransportOptions {
    return this.opts;
  }

  /** Counts a record the brokers refused for good and logs it, rate-limited. */
  countError(err: KafkaError, kafka: KafkaModule, datapoints: number): void {
    const kind = errorKind(err, kafka);
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
    this.limited.error(`kafka:${this.opts.topic}:${kind}`, 'Kafka refused a record for good; its datapoints are dropped', () => ({
      topic: this.opts.topic,
      error: err.message,
      kind,
      datapoints,
    }));
  }

  countAcknowledged(): void {
    this.messages++;
  }

  warn(key: string, message: string, fields: () => Record<string, unknown>): void {
    this.limited.warn(`kafka:${this.opts.topic}:${key}`, message, fields);
  }

  info(message: string, fields: Record<string, unknown>): void {
    this.log.info(message, { destination: this.description, ...fields });
  }
}

/** librdkafka's name for an error code (`msg_size_too_large`), a bounded set; `other` when unknown. */
function errorKind(err: KafkaError, kafka: KafkaModule): string {
  for (const [name, code] of Object.entries(kafka.CODES.ERRORS)) {
    if (code === err.code) return name.replace(/^ERR_+/, '').toLowerCase();
  }
  return 'other';
}

class KafkaConnection implements Connection {
  private readonly producer: KafkaProducer;
  /** Records accepted by write() and not yet handed to produce() (librdkafka's queue was full). */
  private readonly waiting: { record: KafkaRecord; chunk: ChunkState }[] = [];
  private inFlightBytes = 0;
  private wantsDrain = false;
  private closed = false;
  private ending = false;
  private refresh: NodeJS.Timeout | null = null;
  private up = true;
  private probe: NodeJS.Timeout | null = null;

  constructor(
    private readonly transport: KafkaTransport,
    private readonly kafka: KafkaModule,
    private readonly events: TransportEvents,
  ) {
    const opts = transport.options;
    this.producer = new kafka.Producer(transport.config());
    this.producer.on('delivery-report', (err, report) => this.delivered(err, report));
    this.producer.on('event.error', (err) => {
      // librdkafka reconnects by itself; records wait in its queue meanwhile
      transport.warn(`error:${err.message}`, 'Kafka client error (it keeps retrying)', () => ({ error: err.message }));
      // the binding reports every client error with code -1: the message is what tells
      if (ALL_BROKERS_DOWN.test(err.message)) this.reachable(false);
    });
    this.producer.connect({ timeout: opts.connectTimeoutMs }, (err) => {
      if (err !== null && err !== undefined) return this.fail(new Error(`Kafka connect: ${err.message}`));
      this.readPartitions((e) => {
        if (e !== undefined) return this.fail(e);
        this.producer.setPollInterval(POLL_MS);
        this.refresh = setInterval(() => this.readPartitions((x) => x && transport.warn('metadata', 'Kafka metadata refresh failed', () => ({ error: x.message }))), opts.metadataRefreshMs);
        this.refresh.unref();
        transport.info('Kafka producer connected', { partitions: transport.partitions });
        this.events.onConnect();
      });
    });
  }

  get pendingBytes(): number {
    return this.inFlightBytes;
  }

  write(chunk: Buffer, flushed?: (rejected?: number) => void): boolean {
    const records = readKafkaRecords(chunk);
    const state: ChunkState = { remaining: records.length, rejected: 0, flushed };
    if (records.length === 0) {
      flushed?.(0);
      return true;
    }
    for (const record of records) this.waiting.push({ record, chunk: state });
    this.produceWaiting();
    const ok = this.waiting.length === 0 && this.inFlightBytes < this.transport.options.maxInFlightBytes;
    if (!ok) this.wantsDrain = true;
    return ok;
  }

  end(): void {
    this.ending = true;
    this.closeIfDone();
  }

  destroy(): void {
    this.close(undefined);
  }

  private produceWaiting(): void {
    const { topic } = this.transport.options;
    let i = 0;
    for (; i < this.waiting.length; i++) {
      const { record, chunk } = this.waiting[i]!;
      const flight: InFlight = { chunk, datapoints: record.datapoints, bytes: record.value.length };
      try {
        this.producer.produce(topic, record.partition, record.value, record.key, null, flight);
      } catch (err) {
        const e = err as KafkaError;
        if (e.code === this.kafka.CODES.ERRORS.ERR__QUEUE_FULL) break; // retried when deliveries make room
        this.transport.countError(e, this.kafka, record.datapoints);
        this.settle(chunk, record.datapoints);
        continue;
      }
      this.inFlightBytes += flight.bytes;
    }
    this.waiting.splice(0, i);
  }

  private delivered(err: KafkaError | null, report: KafkaDeliveryReport): void {
    const flight = report.opaque as InFlight;
    this.inFlightBytes -= flight.bytes;
    if (err !== null && err !== undefined) this.transport.countError(err, this.kafka, flight.datapoints);
    else {
      this.transport.countAcknowledged();
      this.reachable(true);
    }
    this.settle(flight.chunk, err ? flight.datapoints : 0);
    if (this.waiting.length > 0) this.produceWaiting();
    if (this.wantsDrain && this.waiting.length === 0 && this.inFlightBytes <= this.transport.options.maxInFlightBytes / 2 && !this.closed) {
      this.wantsDrain = false;
      this.events.onDrain();
    }
    this.closeIfDone();
  }

  /** One record of the chunk is done; the chunk is flushed once all are (never after the connection closed). */
  private settle(chunk: ChunkState, rejected: number): void {
    chunk.rejected += rejected;
    if (--chunk.remaining === 0 && !this.closed) chunk.flushed?.(chunk.rejected);
  }

  private closeIfDone(): void {
    if (this.ending && this.waiting.length === 0 && this.inFlightBytes === 0) this.close(undefined);
  }

  private readPartitions(done: (err: Error | undefined) => void): void {
    const { topic, connectTimeoutMs } = this.transport.options;
    this.producer.getMetadata({ topic, timeout: connectTimeoutMs }, (err, md) => {
      if (this.closed) return;
      if (err !== null && err !== undefined) return done(new Error(`Kafka metadata for ${topic}: ${err.message}`));
      const t = md.topics.find((x) => x.name === topic);
      const n = t?.partitions.length ?? 0;
      if (n === 0) return done(new Error(`Kafka topic ${topic} has no partitions (does it exist? auto-creation off?)`));
      this.transport.partitions = n;
      done(undefined);
    });
  }

  /** Tells the destination whether the brokers are reachable; while they are not, probes the metadata until they are. */
  private reachable(up: boolean): void {
    if (up === this.up || this.closed) return;
    this.up = up;
    this.transport.info(up ? 'Kafka brokers reachable again' : 'all Kafka brokers unreachable; records wait (memory queue, then spool)', {});
    this.events.onPeerReachable?.(up);
    if (up) {
      if (this.probe !== null) clearInterval(this.probe);
      this.probe = null;
      return;
    }
    let asking = false;
    this.probe = setInterval(() => {
      if (asking) return;
      asking = true;
      this.readPartitions((e) => {
        asking = false;
        if (e === undefined) this.reachable(true);
      });
    }, DOWN_PROBE_MS);
    this.probe.unref();
  }

  private fail(err: Error): void {
    this.close(err);
  }

  private close(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    if (this.refresh !== null) clearInterval(this.refresh);
    if (this.probe !== null) clearInterval(this.probe);
    // disconnecting waits for nothing: what was not acknowledged is the destination's to count (undelivered, or spooled)
    try {
      this.producer.disconnect(0, () => undefined);
    } catch {
      // never connected: nothing to disconnect (the binding throws "Producer not connected")
    }
    // as a socket's 'close' does: never from inside the destination's own call to end() or destroy()
    setImmediate(() => this.events.onClose(err));
  }
}
