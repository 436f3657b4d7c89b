import { ByteWriter } from '../../src/codec/byte-writer';
import { KafkaRecordEncoder } from '../../src/codec/kafka-records';
import { LineEncoder } from '../../src/codec/line-encoder';
import { NamePrefix, type ApiKeyMode } from '../../src/codec/name-prefix';
import { PickleEncoder } from '../../src/codec/pickle-encoder';
import { DatapointQueue } from '../../src/output/queue';
import { strictPickleParser } from '../helpers/fixtures';

/** Names as a client following Hosted Graphite's instructions sends them, and as one that leaves the key to the relay. */
const NAMES = ['KEY.foo', 'foo', 'KEY', 'KEYfoo.bar', 'KEY.KEY.x', 'key.lower'];

function queueOf(names: readonly string[]): DatapointQueue {
  const q = new DatapointQueue(names.length);
  names.forEach((n, i) => q.push(n, 1700000000 + i, i));
  return q;
}

const SENT: Record<ApiKeyMode, string[]> = {
  // only a name starting with the whole prefix, dot included, already carries it (case-sensitive, like Graphite names)
  prefixIfMissing: ['KEY.foo', 'KEY.foo', 'KEY.KEY', 'KEY.KEYfoo.bar', 'KEY.KEY.x', 'KEY.key.lower'],
  always: ['KEY.KEY.foo', 'KEY.foo', 'KEY.KEY', 'KEY.KEYfoo.bar', 'KEY.KEY.KEY.x', 'KEY.key.lower'],
};

describe('NamePrefix (a destination\'s apiKey)', () => {
  it.each<ApiKeyMode>(['prefixIfMissing', 'always'])('%s: the line encoder', (mode) => {
    const w = new ByteWriter(64);
    expect(new LineEncoder(new NamePrefix('KEY.', mode)).encode(queueOf(NAMES), 100, w)).toBe(NAMES.length);
    expect(w.take().toString('utf8')).toBe(SENT[mode].map((n, i) => `${n} ${i} ${1700000000 + i}\n`).join(''));
  });

  it.each<ApiKeyMode>(['prefixIfMissing', 'always'])('%s: the pickle encoder (BINUNICODE lengths count only what is written)', (mode) => {
    const w = new ByteWriter(64);
    expect(new PickleEncoder(new NamePrefix('KEY.', mode)).encode(queueOf(NAMES), 100, w)).toBe(NAMES.length);
    const frame = w.take();
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
    const items = strictPickleParser().parse<[string, [number, number]][]>(frame.subarray(4));
    expect(items.map(([name]) => name)).toEqual(SENT[mode]);
  });

  it.each<ApiKeyMode>(['prefixIfMissing', 'always'])('%s: Kafka records (the key is the name as sent)', (mode) => {
    const w = new ByteWriter(64);
    const encoder = new KafkaRecordEncoder({ format: 'line', prefix: new NamePrefix('KEY.', mode), maxMessageBytes: 64, maxLineBytes: 64, partitioner: () => 0, partitions: () => 1 });
    expect(encoder.encode(queueOf(NAMES), 100, w)).toBe(NAMES.length);
    // records: partition u32, datapoints u32, key length u32, key, value length u32, value
    const buf = w.take();
    const records: { key: string; names: string[] }[] = [];
    for (let at = 0; at < buf.length; ) {
      const keyLength = buf.readUInt32BE(at + 8);
      const valueAt = at + 12 + keyLength;
      const valueLength = buf.readUInt32BE(valueAt);
      const lines = buf.toString('utf8', valueAt + 4, valueAt + 4 + valueLength).split('\n').filter((l) => l !== '');
      records.push({ key: buf.toString('utf8', at + 12, valueAt), names: lines.map((l) => l.split(' ')[0]!) });
      at = valueAt + 4 + valueLength;
    }
    expect(records.flatMap((r) => r.names)).toEqual(SENT[mode]);
    for (const r of records) expect(r.key).toBe(r.names[0]);
  });

  it('without an apiKey nothing is written before the names', () => {
    expect(NAMES.map((n) => NamePrefix.NONE.appliesTo(n))).toEqual(NAMES.map(() => false));
  });
});
