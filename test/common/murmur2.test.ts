import { murmur2, murmur2Partition } from '../../src/common/murmur2';

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('murmur2 (Kafka Utils.murmur2)', () => {
  it("matches Apache Kafka's own test vectors", () => {
    // UtilsTest.testMurmur2 in Apache Kafka
    const vectors: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of vectors) expect([key, murmur2(bytes(key))]).toEqual([key, hash]);
  });

  it('hashes a slice of a larger buffer the same as the key alone', () => {
    const buf = Buffer.concat([bytes('xx'), bytes('foobar'), bytes('yyy')]);
    expect(murmur2(buf, 2, 8)).toBe(murmur2(bytes('foobar')));
  });

  it('chooses the partitions librdkafka murmur2_random chose for the same keys (recorded from librdkafka 2.15.1 delivery reports)', () => {
    // key -> partitions for 1, 3, 8 and 100 partitions, read from the producer's delivery reports against a mock cluster
    const golden: [string, number[]][] = [
      ['foo', [0, 2, 0, 16]],
      ['a.b.c', [0, 1, 7, 67]],
      ['carbon.agents.host1.cpu', [0, 2, 3, 11]],
      ['', [0, 0, 1, 81]],
      ['bar', [0, 0, 1, 45]],
      ['a', [0, 1, 4, 24]],
      ['a.b.c.0', [0, 0, 5, 69]],
      ['a.b.c.9999', [0, 1, 2, 90]],
      ['carbon.agents.host2.memUsage', [0, 0, 6, 46]],
      ['servers.web-01.loadavg.1min', [0, 1, 6, 62]],
      ['ümlaut.ä.ß', [0, 1, 2, 30]],
      ['metric.with.a.rather.long.name.beyond.sixteen.bytes', [0, 2, 5, 45]],
    ];
    for (const [key, parts] of golden) {
      const b = bytes(key);
      expect([key, [1, 3, 8, 100].map((n) => murmur2Partition(b, 0, b.length, n))]).toEqual([key, parts]);
    }
  });
});
