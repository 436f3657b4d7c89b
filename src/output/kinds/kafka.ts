import type { KafkaDestinationConfig } from '../../config/schema';
import { jumpFnv1aBucket } from '../../common/jump-fnv1a';
import { murmur2Partition } from '../../common/murmur2';
import { KafkaRecordEncoder, type KafkaPartitioner } from '../../codec/kafka-records';
import type { Destination } from '../destination';
import { KafkaTransport } from '../transport/kafka';
import { apiKeyPrefix, assembleDestination, type DestinationKindDeps } from './options';
import { destinationQueue } from './spool-queue';

/** How often a Kafka destination reads its topic's partition count again. */
const METADATA_REFRESH_MS = 60_000;

/** The partitioners a Kafka destination offers, by config name. */
export const KAFKA_PARTITIONERS: Readonly<Record<KafkaDestinationConfig['partitioner'], KafkaPartitioner>> = {
  murmur2_random: murmur2Partition,
  // jump_fnv1a_ch hashes the key as a string, as the relay's groups do
  jump_fnv1a_ch: (key, start, end, partitions) => jumpFnv1aBucket(Buffer.from(key.buffer, key.byteOffset + start, end - start).toString('utf8'), partitions),
};

/** `type: kafka`: records to a Kafka topic, partitioned by metric name. */
export function buildKafkaDestination(d: KafkaDestinationConfig, deps: DestinationKindDeps): Destination {
  const tls = d.tls === false ? undefined : d.tls === true ? { rejectUnauthorized: true } : d.tls;
  if (tls && !tls.rejectUnauthorized) {
    deps.log.warn('TLS certificate verification is OFF for this Kafka destination; anyone on the path can read and alter the data', { destination: d.name });
  }
  const transport = new KafkaTransport(
    {
      brokers: d.brokers,
      topic: d.topic,
      clientId: d.clientId,
      compression: d.compression,
      lingerMs: d.linger,
      connectTimeoutMs: d.connectTimeout,
      maxInFlightBytes: d.maxInFlightBytes,
      maxMessageBytes: d.maxMessageBytes,
      tls,
      sasl: d.sasl,
      librdkafka: d.librdkafka,
      metadataRefreshMs: METADATA_REFRESH_MS,
    },
    deps.log,
  );
  const encoder = new KafkaRecordEncoder({
    format: d.format,
    prefix: apiKeyPrefix(d),
    maxMessageBytes: d.maxMessageBytes,
    maxLineBytes: d.maxLineBytes,
    partitioner: KAFKA_PARTITIONERS[d.partitioner],
    partitions: () => transport.partitions,
  });
  return assembleDestination(d, { transport, encoder, queue: destinationQueue(d, deps) }, deps);
}
