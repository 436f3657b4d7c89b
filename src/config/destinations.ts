import { z } from 'zod';
import { byteSize, duration, kafkaBrokers, kafkaProperties, kafkaSasl, kafkaTls, kafkaTopic, port, tlsClient } from './schema-types';

/**
 * Destination kinds, chosen by `type`. Each kind is a schema slice here and a
 * factory in src/output/kinds/ (registered in its index.ts). A destination
 * written without `type` is `file` when it has `file:`, else `carbon`, so
 * every config from before kinds existed keeps working.
 */

/** The name every kind has. */
const name =
  // brackets for IPv6 entries written as in carbon's DESTINATIONS ([::1]:2004:a)
  z.string().regex(/^[A-Za-z0-9_.:[\]-]+$/, 'use letters, digits, and _ . : - [ ]');

/** Keys every kind has, in two parts so each kind lists its own keys where they read best. */
const naming = {
  /** The `<d>` in self-metrics `destinations.<d>.sent` etc. Default: the name with dots as underscores. */
  metricName: z.string().regex(/^[^.\s]+$/, 'no dots or whitespace').optional(),
  /** Prefixed to the names sent here (`KEY.my.metric`), as Hosted Graphite requires. */
  apiKey: z.string().min(1).optional(),
  /** prefixIfMissing: a name that already starts with `KEY.` (a client following Hosted Graphite's instructions) is sent as is; always: every name gets it. */
  apiKeyMode: z.enum(['prefixIfMissing', 'always']).default('prefixIfMissing'),
};

/** The queue, flow control and reconnect. */
const delivery = {
  maxQueueSize: z.number().int().positive().default(100_000),
  maxDatapointsPerMessage: z.number().int().min(1).max(100_000).default(500),
  /**
   * Longest a datapoint waits for a fuller write, as carbon-relay-ng's flushMaxWait: once about a write's worth
   * is queued (8 x maxDatapointsPerMessage over TCP/TLS, one message over Kafka/HTTP) it is written at once.
   * 0: written on every turn of the event loop. Capped: a plain number is seconds, and `flushMaxWait: 50` would hold
   * every datapoint for 50 s.
   */
  flushMaxWait: duration.refine((ms) => ms <= 5000, 'at most 5s (a plain number is seconds: write 50ms)').default(50),
  /** Fractions of maxQueueSize: above high, a connected destination pauses TCP receivers; below low, they resume. */
  highWaterMark: z.number().gt(0).lte(1).default(0.5),
  lowWaterMark: z.number().gte(0).lt(1).default(0.25),
  /**
   * A connected destination that holds receivers paused this long in all
   * (pause episodes add up until its queue is empty once) is treated as down
   * (0 = never), so a slow peer cannot hold every other destination at its pace.
   */
  stallTimeout: duration.default(30_000),
  /**
   * Most datapoints sent per second (unset: no limit). What is over it waits in
   * the queue (and the spool); the limit itself drops nothing.
   */
  maxRate: z.number().positive().optional(),
  reconnect: z
    .strictObject({
      /** At least 10 ms: a zero delay would make a down destination a busy reconnect loop. */
      initialDelay: duration.pipe(z.number().min(10, 'must be at least 10ms')).default(200),
      maxDelay: duration.default(5000),
    })
    .default({ initialDelay: 200, maxDelay: 5000 }),
};

/**
 * The disk spool of a network destination (needs `dataDir`). `mode` left
 * unset is `overflow` when a data directory is configured, else `off`.
 */
export const spoolSchema = z.strictObject({
  /** off: memory only; overflow: to disk while the destination is down or slow; always: every datapoint is written to disk before it is sent. */
  mode: z.enum(['off', 'overflow', 'always']).optional(),
  /** Most bytes on disk for this destination. */
  maxBytes: byteSize.pipe(z.number().min(1024 * 1024, 'must be at least 1MiB')).default(1024 ** 3),
  /** Segments whose records are all older than this are deleted (0 = keep until maxBytes). */
  maxAge: duration.default(0),
  /** A segment file is closed and a new one begun at this size. */
  segmentBytes: byteSize.pipe(z.number().min(64 * 1024, 'must be at least 64KiB')).default(64 * 1024 ** 2),
  /** fsync (and persist the delivery cursor) this often; a power cut loses at most this much of what was spooled. */
  syncInterval: duration.pipe(z.number().min(10, 'must be at least 10ms')).default(1000),
  /** At maxBytes: delete the oldest whole segment, refuse new datapoints, or pause the receivers. */
  whenFull: z.enum(['drop_oldest', 'drop_newest', 'block']).default('drop_oldest'),
  /** Most spooled datapoints replayed per second, on top of live traffic. */
  replayRate: z.number().int().positive().default(50_000),
  /** Stop writing while the filesystem has less free space than this. */
  minFreeBytes: byteSize.default(512 * 1024 ** 2),
});

/** A Carbon receiver over TCP or TLS: carbon-cache, carbon-relay, Hosted Graphite. */
export const carbonDestinationSchema = z.strictObject({
  type: z.literal('carbon'),
  name,
  host: z.string().min(1),
  port,
  ...naming,
  /** carbon's DESTINATIONS instance (`host:port:instance`): part of the hash-ring key in groups. */
  instance: z.string().min(1).optional(),
  protocol: z.enum(['pickle', 'line']).default('pickle'),
  /**
   * Largest pickle frame sent, length header included. Carbon's receiver drops
   * the connection (and what was in flight) on frames over 2^20 bytes.
   */
  maxFrameBytes: byteSize.pipe(z.number().min(1024, 'must be at least 1KiB')).default(1_000_000),
  /** Largest plaintext line sent, newline included; carbon's line receiver drops the connection past 16384. */
  maxLineBytes: z.number().int().min(64).default(16_384),
  tls: tlsClient.default(false),
  connectTimeout: duration.default(10_000),
  ...delivery,
  spool: spoolSchema.default({ maxBytes: 1024 ** 3, maxAge: 0, segmentBytes: 64 * 1024 ** 2, syncInterval: 1000, whenFull: 'drop_oldest', replayRate: 50_000, minFreeBytes: 512 * 1024 ** 2 }),
  /**
   * A connected destination past its high-water mark: `spool` spills to disk
   * (receivers keep their pace), `pause` pauses the receivers until it drains.
   * Default: spool when the spool is on, else pause.
   */
  whenSlow: z.enum(['spool', 'pause']).optional(),
});

/** librdkafka properties the relay sets itself: they carry its delivery guarantees (see KafkaTransport). */
const KAFKA_FIXED = ['bootstrap.servers', 'acks', 'request.required.acks', 'enable.idempotence', 'message.timeout.ms', 'delivery.timeout.ms', 'dr_cb', 'dr_msg_cb', 'partitioner'];

/** A Kafka topic: go-carbon's Kafka receiver, or a store tier of relays with a Kafka source, reads it. */
export const kafkaDestinationSchema = z.strictObject({
  type: z.literal('kafka'),
  name,
  ...naming,
  /** Bootstrap brokers, `host:port`. */
  brokers: kafkaBrokers,
  topic: kafkaTopic,
  /** `line`: newline-terminated plaintext lines per record (go-carbon's Kafka receiver); `pickle`: one carbon pickle payload per record. */
  format: z.enum(['line', 'pickle']).default('line'),
  /**
   * `murmur2_random`: Java's default partitioner on the key (the same partition as from Java producers, kafkajs and librdkafka);
   * `jump_fnv1a_ch`: the same hash as the relay's jump_fnv1a_ch groups, with the partitions as members.
   */
  partitioner: z.enum(['murmur2_random', 'jump_fnv1a_ch']).default('murmur2_random'),
  /** Largest record value (lines, or a pickle payload); keep it within the topic's max.message.bytes. */
  maxMessageBytes: byteSize.pipe(z.number().min(1024, 'must be at least 1KiB').max(100 * 1024 ** 2, 'at most 100MiB')).default(1_000_000),
  maxLineBytes: z.number().int().min(64).default(16_384),
  compression: z.enum(['lz4', 'snappy', 'zstd', 'gzip', 'none']).default('lz4'),
  /** How long the producer gathers records into a batch per partition. */
  linger: duration.default(5),
  clientId: z.string().min(1).default('carbon-fanout'),
  tls: kafkaTls,
  sasl: kafkaSasl,
  connectTimeout: duration.default(10_000),
  /** Bytes produced and not yet acknowledged before the destination waits (its queue and spool hold the rest). */
  maxInFlightBytes: byteSize.pipe(z.number().min(64 * 1024, 'must be at least 64KiB')).default(16 * 1024 ** 2),
  /** Other librdkafka producer properties, for what the relay does not set (socket options, SASL OAUTHBEARER, ...). */
  librdkafka: kafkaProperties(KAFKA_FIXED),
  ...delivery,
  spool: spoolSchema.default({ maxBytes: 1024 ** 3, maxAge: 0, segmentBytes: 64 * 1024 ** 2, syncInterval: 1000, whenFull: 'drop_oldest', replayRate: 50_000, minFreeBytes: 512 * 1024 ** 2 }),
  whenSlow: z.enum(['spool', 'pause']).optional(),
});

/** Plaintext lines appended to a file, or written to stdout for `-`. */
export const fileDestinationSchema = z.strictObject({
  type: z.literal('file'),
  name,
  ...naming,
  file: z.string().min(1),
  protocol: z.literal('line', 'file destinations write plaintext lines').optional(),
  ...delivery,
});

const kinds = z.discriminatedUnion('type', [carbonDestinationSchema, fileDestinationSchema, kafkaDestinationSchema]);

/** The kind a destination written without `type` had before kinds existed. */
function withKind(d: unknown): unknown {
  if (typeof d !== 'object' || d === null || Array.isArray(d) || 'type' in d) return d;
  return { type: 'file' in d ? 'file' : 'carbon', ...d };
}

/** What may be written: either kind, `type` optional. */
export type DestinationInput =
  | (Omit<z.input<typeof carbonDestinationSchema>, 'type'> & { type?: 'carbon' })
  | (Omit<z.input<typeof fileDestinationSchema>, 'type'> & { type?: 'file' })
  | z.input<typeof kafkaDestinationSchema>;

// preprocess types its input as unknown; the cast restores what may be written
export const destinationSchema = z
  .preprocess(withKind, kinds)
  .superRefine((d, ctx) => {
    if (d.lowWaterMark >= d.highWaterMark) ctx.addIssue({ code: 'custom', path: ['lowWaterMark'], message: 'must be below highWaterMark' });
  }) as unknown as z.ZodType<z.output<typeof kinds>, DestinationInput>;

/** The `name` rule alone (carbon.conf conversion names destinations by it when it can). */
export const destinationName = name;

export type DestinationConfig = z.infer<typeof destinationSchema>;
export type CarbonDestinationConfig = z.infer<typeof carbonDestinationSchema>;
export type FileDestinationConfig = z.infer<typeof fileDestinationSchema>;
export type KafkaDestinationConfig = z.infer<typeof kafkaDestinationSchema>;
/** The kinds that reach a peer over the network: they have a spool. */
export type NetworkDestinationConfig = CarbonDestinationConfig | KafkaDestinationConfig;
export type DestinationKind = DestinationConfig['type'];

/** The spool mode in force: as configured, else overflow when the relay has a data directory. */
export function spoolMode(d: NetworkDestinationConfig, dataDir: string | undefined): 'off' | 'overflow' | 'always' {
  return d.spool.mode ?? (dataDir === undefined ? 'off' : 'overflow');
}
export type SpoolConfig = z.infer<typeof spoolSchema>;
