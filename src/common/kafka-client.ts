/**
 * The parts of @confluentinc/kafka-javascript (librdkafka's node binding) the
 * Kafka destination and source use, typed here: the package is an optional
 * dependency (it builds librdkafka from source, which needs Debian's -dev
 * libraries and CKJS_LINKING=dynamic), so the relay must build and run
 * without it, and load it only when a config asks for Kafka.
 */

import { readCaDirectory } from './ca-certificates';

export type KafkaConfigValue = string | number | boolean;
export type KafkaConfig = Record<string, KafkaConfigValue | ((...args: never[]) => void)>;

/** librdkafka's error as the binding reports it. */
export interface KafkaError extends Error {
  readonly code: number;
  readonly origin?: string;
}

export interface KafkaDeliveryReport {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly opaque?: unknown;
}

export interface KafkaMetadata {
  readonly brokers: readonly { readonly id: number; readonly host: string; readonly port: number }[];
  readonly topics: readonly { readonly name: string; readonly partitions: readonly { readonly id: number }[] }[];
}

interface KafkaClientBase {
  connect(options: { timeout?: number }, cb: (err: KafkaError | null) => void): unknown;
  disconnect(cb?: (err: unknown) => void): unknown;
  disconnect(timeout: number, cb?: (err: unknown) => void): unknown;
  getMetadata(options: { topic?: string; timeout?: number }, cb: (err: KafkaError | null, data: KafkaMetadata) => void): unknown;
  isConnected(): boolean;
  on(event: 'event.error', listener: (err: KafkaError) => void): unknown;
  on(event: 'event.log', listener: (log: { severity: number; fac: string; message: string }) => void): unknown;
}

export interface KafkaProducer extends KafkaClientBase {
  produce(topic: string, partition: number | null, value: Buffer, key: Buffer | string | null, timestamp: number | null, opaque?: unknown): unknown;
  setPollInterval(ms: number): unknown;
  flush(timeout: number, cb: (err: KafkaError | null) => void): unknown;
  on(event: 'delivery-report', listener: (err: KafkaError | null, report: KafkaDeliveryReport) => void): unknown;
  on(event: 'event.error', listener: (err: KafkaError) => void): unknown;
  on(event: 'event.log', listener: (log: { severity: number; fac: string; message: string }) => void): unknown;
}

export interface KafkaMessage {
  readonly value: Buffer | null;
  readonly key?: Buffer | string | null;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export interface KafkaTopicPartition {
  readonly topic: string;
  readonly partition: number;
  readonly offset?: number;
}

export interface KafkaConsumer extends KafkaClientBase {
  subscribe(topics: string[]): unknown;
  consume(count: number, cb: (err: KafkaError | null, messages: KafkaMessage[]) => void): unknown;
  commitSync(offsets: KafkaTopicPartition[]): unknown;
  commit(offsets: KafkaTopicPartition[]): unknown;
  pause(partitions: KafkaTopicPartition[]): unknown;
  resume(partitions: KafkaTopicPartition[]): unknown;
  assignments(): KafkaTopicPartition[];
  setDefaultConsumeTimeout(ms: number): unknown;
  on(event: 'rebalance', listener: (err: KafkaError, assignment: KafkaTopicPartition[]) => void): unknown;
  on(event: 'event.error', listener: (err: KafkaError) => void): unknown;
  on(event: 'event.log', listener: (log: { severity: number; fac: string; message: string }) => void): unknown;
}

export interface KafkaModule {
  readonly librdkafkaVersion: string;
  readonly features: readonly string[];
  readonly Producer: new (conf: KafkaConfig) => KafkaProducer;
  readonly KafkaConsumer: new (conf: KafkaConfig) => KafkaConsumer;
  readonly CODES: { readonly ERRORS: Readonly<Record<string, number>> };
}

export const KAFKA_PACKAGE = '@confluentinc/kafka-javascript';

/** TLS to the brokers: PEM files (read when the config is built, so a missing file fails at start, naming it). */
export interface KafkaTls {
  readonly ca?: string;
  /** A directory of CA certificates (see readCaDirectory), added to `ca`'s. */
  readonly caPath?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized: boolean;
}

export interface KafkaSasl {
  readonly mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  readonly username: string;
  readonly password: string;
}

/** librdkafka's security properties for a producer or a consumer. */
export function kafkaSecurity(
  tls: KafkaTls | undefined,
  sasl: KafkaSasl | undefined,
  readFile: (path: string) => string,
  readCaDir: (dir: string) => string[] = readCaDirectory,
): KafkaConfig {
  const c: KafkaConfig = {};
  if (tls === undefined && sasl === undefined) return c;
  c['security.protocol'] = tls !== undefined ? (sasl !== undefined ? 'sasl_ssl' : 'ssl') : 'sasl_plaintext';
  if (tls !== undefined) {
    c['enable.ssl.certificate.verification'] = tls.rejectUnauthorized;
    const cas = [...(tls.ca !== undefined ? [readFile(tls.ca)] : []), ...(tls.caPath !== undefined ? readCaDir(tls.caPath) : [])];
    if (cas.length > 0) c['ssl.ca.pem'] = cas.join('\n');
    if (tls.cert !== undefined) c['ssl.certificate.pem'] = readFile(tls.cert);
    if (tls.key !== undefined) c['ssl.key.pem'] = readFile(tls.key);
  }
  if (sasl !== undefined) {
    c['sasl.mechanisms'] = sasl.mechanism;
    c['sasl.username'] = sasl.username;
    c['sasl.password'] = sasl.password;
  }
  return c;
}

/** What to do when the client is not installed (it is optional: see the README, "Kafka"). */
export const KAFKA_MISSING =
  `${KAFKA_PACKAGE} is not installed (it is optional and builds librdkafka from source): ` +
  'apt-get install libssl-dev zlib1g-dev liblz4-dev libzstd-dev libsasl2-dev pkg-config, then CKJS_LINKING=dynamic npm ci';

/** The client, or undefined when the optional package is not installed or did not build. */
export function loadKafkaClient(): KafkaModule | undefined {
  try {
    // a plain require: the package is optional, so neither its types nor a static import may be needed to build
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(KAFKA_PACKAGE) as KafkaModule;
  } catch {
    return undefined;
  }
}

/** The client, or an error saying how to install it. */
export function requireKafkaClient(): KafkaModule {
  const k = loadKafkaClient();
  if (k === undefined) throw new Error(KAFKA_MISSING);
  return k;
}
