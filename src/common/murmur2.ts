const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/**
 * Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2): the hash the
 * Java client's default partitioner, kafkajs and librdkafka's murmur2_random
 * take of a record key. Signed 32-bit, as Java returns it.
 */
export function murmur2(data: Uint8Array, start = 0, end = data.length): number {
  const length = end - start;
  let h = (SEED ^ length) | 0;
  const whole = start + (length & ~3);
  let i = start;
  for (; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= data[i + 2]! << 16;
  if (rest >= 2) h ^= data[i + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ data[i]!, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Kafka's Java-compatible partitioners choose for a key: toPositive(murmur2(key)) % partitions. */
export function murmur2Partition(key: Uint8Array, start: number, end: number, partitions: number): number {
  return (murmur2(key, start, end) & 0x7fffffff) % partitions;
}
