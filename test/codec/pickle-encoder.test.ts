import { ByteWriter } from '../../src/codec/byte-writer';
import { NamePrefix } from '../../src/codec/name-prefix';
import { PickleDecoder } from '../../src/codec/pickle-decoder';
import { PickleEncoder } from '../../src/codec/pickle-encoder';
import { DatapointQueue } from '../../src/output/queue';
import { MetricBatch } from '../../src/model/metric';
import { batchDatapoints, seededRandom, strictPickleParser, type Datapoint } from '../helpers/fixtures';

/** pickle-sample.md Example 6: the minimal encoder's frame for the Example 1 datapoints. */
const EXAMPLE_6_HEX =
  '0000007a80025d285816000000736572766572732e77656230312e6370752e757365724741d954fc400000004740454000000000008686' +
  '5807000000666f6f2e6261724741d954fc42800000473ff00000000000008686' +
  '580c0000006dc3a97472697175652ec3bc4741d954fc4500000047c00a0000000000008686652e';
const EXAMPLE_1: Datapoint[] = [
  { name: 'servers.web01.cpu.user', timestamp: 1700000000.0, value: 42.5 },
  { name: 'foo.bar', timestamp: 1700000010.0, value: 1.0 },
  { name: 'm\u00e9trique.\u00fc', timestamp: 1700000020.0, value: -3.25 },
];

const parser = strictPickleParser();

function queueOf(points: readonly Datapoint[], limit = Math.max(1, points.length)): DatapointQueue {
  const q = new DatapointQueue(limit);
  for (const p of points) expect(q.push(p.name, p.timestamp, p.value)).toBe(true);
  return q;
}

function encodeAll(points: readonly Datapoint[], prefix = '', max = 500, writer = new ByteWriter(64)): Buffer {
  const q = queueOf(points);
  expect(new PickleEncoder(new NamePrefix(prefix, 'always')).encode(q, max, writer)).toBe(Math.min(max, points.length));
  return writer.take();
}

/** Split a byte string into 4-byte-length-prefixed frames; the whole buffer must be consumed. */
function frames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  while (p < buf.length) {
    const len = buf.readUInt32BE(p);
    expect(p + 4 + len).toBeLessThanOrEqual(buf.length);
    out.push(buf.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return out;
}

/** pickleparser (independent of our code) reading one frame payload. */
function oracle(payload: Buffer): Datapoint[] {
  const items = parser.parse<[string, [number, number]][]>(payload);
  return items.map(([name, [timestamp, value]]) => ({ name, timestamp, value }));
}

function ours(payload: Buffer): Datapoint[] {
  const batch = new MetricBatch();
  new PickleDecoder().decode(payload, batch, 0);
  return batchDatapoints(batch);
}

describe('PickleEncoder: bytes on the wire', () => {
  it('matches pickle-sample.md Example 6 (the minimal encoder) byte for byte', () => {
    expect(encodeAll(EXAMPLE_1).toString('hex')).toBe(EXAMPLE_6_HEX);
  });

  it('uses MARK/APPENDS even for one datapoint (carbon would write APPEND)', () => {
    const hex = encodeAll([{ name: 'x.y', timestamp: 1700000000.0, value: 0.1 }]).toString('hex');
    expect(hex).toBe('00000022' + '80025d28' + '5803000000782e79' + '4741d954fc40000000' + '473fb999999999999a' + '8686' + '652e');
  });

  it('writes integral numbers as BINFLOAT too', () => {
    const hex = encodeAll([{ name: 'i', timestamp: 1, value: 0 }]).toString('hex');
    expect(hex).toBe('00000020' + '80025d28' + '580100000069' + '473ff0000000000000' + '470000000000000000' + '8686652e');
  });

  it('writes nothing for an empty queue', () => {
    const w = new ByteWriter(16);
    expect(new PickleEncoder().encode(new DatapointQueue(10), 500, w)).toBe(0);
    expect(w.pos).toBe(0);
  });

  it('writes nothing when max is 0', () => {
    const w = new ByteWriter(16);
    expect(new PickleEncoder().encode(queueOf(EXAMPLE_1), 0, w)).toBe(0);
    expect(w.pos).toBe(0);
  });

  it('declares the payload length in the 4-byte big-endian header', () => {
    const names = ['a', 'b'.repeat(300), '\u{1f4c8}'.repeat(100), 'c'.repeat(70_000)];
    const buf = encodeAll(names.map((name, i) => ({ name, timestamp: i, value: i })));
    const expectedLen = 4 + 2 + names.reduce((n, s) => n + 5 + Buffer.byteLength(s) + 20, 0);
    expect(buf.readUInt32BE(0)).toBe(expectedLen);
    expect(buf.length).toBe(4 + expectedLen);
  });
});

describe('PickleEncoder: batching', () => {
  const points: Datapoint[] = Array.from({ length: 7 }, (_, i) => ({ name: `m.${i}`, timestamp: 1700000000 + i, value: i / 2 }));

  it('encodes at most `max` datapoints from the head and leaves the queue alone', () => {
    const q = queueOf(points);
    const w = new ByteWriter(32);
    const enc = new PickleEncoder();
    expect(enc.encode(q, 3, w)).toBe(3);
    expect(q.length).toBe(7);
    q.shift(3);
    expect(enc.encode(q, 3, w)).toBe(3);
    q.shift(3);
    expect(enc.encode(q, 3, w)).toBe(1);
    q.shift(1);
    expect(enc.encode(q, 3, w)).toBe(0);
    const fs = frames(w.take());
    expect(fs.map(oracle)).toEqual([points.slice(0, 3), points.slice(3, 6), points.slice(6)]);
  });

  it('appends after what the writer already holds', () => {
    const w = new ByteWriter(8);
    w.bytes(Buffer.from('HEAD'));
    new PickleEncoder().encode(queueOf(EXAMPLE_1), 500, w);
    const out = w.take();
    expect(out.subarray(0, 4).toString()).toBe('HEAD');
    expect(out.subarray(4).toString('hex')).toBe(EXAMPLE_6_HEX);
  });

  it.each([1, 2, 500, 1000, 5000])('one frame of %i datapoints decodes to the same list', (n) => {
    const rnd = seededRandom(n);
    const pts: Datapoint[] = Array.from({ length: n }, (_, i) => ({
      name: `servers.host${i % 50}.cpu.metric${Math.floor(i / 50)}`,
      timestamp: 1700000000 + i,
      value: rnd() * 100,
    }));
    const fs = frames(encodeAll(pts, '', n, new ByteWriter(1)));
    expect(fs).toHaveLength(1);
    expect(oracle(fs[0])).toEqual(pts);
    expect(ours(fs[0])).toEqual(pts);
  });
});

describe('PickleEncoder: prefix (Hosted Graphite API key)', () => {
  it('goes before every name and is counted in the BINUNICODE length', () => {
    const buf = encodeAll(EXAMPLE_1, 'abc-123.');
    const payload = frames(buf)[0];
    expect(oracle(payload)).toEqual(EXAMPLE_1.map((p) => ({ ...p, name: `abc-123.${p.name}` })));
    // First BINUNICODE right after 80 02 5d 28: length 8 + 22.
    expect(payload.subarray(4, 9).toString('hex')).toBe('58' + '1e000000');
    expect(payload.subarray(9, 9 + 30).toString()).toBe('abc-123.servers.web01.cpu.user');
  });

  it('is UTF-8 encoded, and the length counts bytes', () => {
    const payload = frames(encodeAll([{ name: '\u00fc', timestamp: 1, value: 2 }], 'cl\u00e9.'))[0];
    expect(payload.subarray(4, 9).toString('hex')).toBe('58' + '07000000');
    expect(oracle(payload)).toEqual([{ name: 'cl\u00e9.\u00fc', timestamp: 1, value: 2 }]);
  });

  it('an empty prefix changes nothing', () => {
    expect(encodeAll(EXAMPLE_1, '').toString('hex')).toBe(EXAMPLE_6_HEX);
  });
});

describe('PickleEncoder: values pickleparser and our decoder read back exactly', () => {
  const special: Datapoint[] = [
    { name: 'neg.zero', timestamp: 1700000000, value: -0 },
    { name: 'inf', timestamp: 1700000000, value: Infinity },
    { name: 'ninf', timestamp: 1700000000, value: -Infinity },
    { name: 'tiny', timestamp: 1700000000.5, value: 5e-324 },
    { name: 'huge', timestamp: 1700000000.25, value: 1.7976931348623157e308 },
    { name: 'neg.ts', timestamp: -12345.678, value: -1e-300 },
    { name: 'big.int', timestamp: 4102444800, value: 2 ** 53 + 2 },
    { name: 'm\u00e9trique.\u00fc.\u6307\u6807.\u{1f4c8}', timestamp: 1, value: 0.1 },
    { name: 'x'.repeat(300), timestamp: 2, value: 3 },
  ];

  it('round-trips through pickleparser (strict resolver)', () => {
    expect(oracle(frames(encodeAll(special))[0])).toEqual(special);
  });

  it('round-trips through PickleDecoder', () => {
    expect(ours(frames(encodeAll(special))[0])).toEqual(special);
  });

  it('NaN is written as a NaN BINFLOAT', () => {
    const payload = frames(encodeAll([{ name: 'n', timestamp: 1, value: NaN }]))[0];
    expect(oracle(payload)[0].value).toBeNaN();
  });

  it('a lone surrogate in a name becomes U+FFFD (3 bytes), keeping the frame valid', () => {
    const payload = frames(encodeAll([{ name: 'a\ud800b', timestamp: 1, value: 2 }]))[0];
    expect(payload.subarray(4, 9).toString('hex')).toBe('58' + '05000000');
    expect(oracle(payload)).toEqual([{ name: 'a\ufffdb', timestamp: 1, value: 2 }]);
  });

  it('seeded random names and numbers round-trip through both decoders', () => {
    const rnd = seededRandom(42);
    const alphabet = ['a', 'b', '.', '_', '-', '\u00e9', '\u4e2d', '\u{1f4c8}', '0', 'Z', ';', '='];
    const pts: Datapoint[] = [];
    for (let i = 0; i < 300; i++) {
      let name = '';
      const len = 1 + Math.floor(rnd() * 40);
      for (let k = 0; k < len; k++) name += alphabet[Math.floor(rnd() * alphabet.length)];
      const bits = Buffer.alloc(8);
      bits.writeUInt32BE(Math.floor(rnd() * 2 ** 32), 0);
      bits.writeUInt32BE(Math.floor(rnd() * 2 ** 32), 4);
      let value = bits.readDoubleBE(0);
      if (Number.isNaN(value)) value = i;
      pts.push({ name, timestamp: Math.floor(rnd() * 2 ** 32) + rnd(), value });
    }
    for (const max of [1, 7, 300]) {
      const w = new ByteWriter(1);
      const q = queueOf(pts);
      const enc = new PickleEncoder();
      while (q.length > 0) q.shift(enc.encode(q, max, w));
      const fs = frames(w.take());
      expect(fs).toHaveLength(Math.ceil(300 / max));
      expect(fs.flatMap(oracle)).toEqual(pts);
      expect(fs.flatMap(ours)).toEqual(pts);
    }
  });
});

describe('PickleEncoder: frames stay under carbon\'s 2^20-byte pickle limit', () => {
  it('500 names of 2,200 bytes (1.1 MB at the datapoint cap) go out in frames of at most maxFrameBytes, every datapoint once', () => {
    const points = Array.from({ length: 500 }, (_, i) => ({ name: `long.${String(i).padStart(3, '0')}.${'n'.repeat(2191)}`, timestamp: 1700000000 + i, value: i }));
    const q = queueOf(points);
    const w = new ByteWriter();
    const enc = new PickleEncoder();
    const sizes: number[] = [];
    while (q.length > 0) {
      const n = enc.encode(q, 500, w);
      expect(n).toBeGreaterThan(0);
      q.shift(n);
      sizes.push(w.pos);
      const all = frames(w.take());
      expect(all).toHaveLength(1);
    }
    expect(sizes.length).toBe(2);
    for (const s of sizes) expect(s).toBeLessThanOrEqual(1_000_000);
  });

  it('a datapoint that cannot fit a frame of its own encodes nothing and leaves the writer as it was', () => {
    const w = new ByteWriter(64);
    w.byte(7);
    const q = queueOf([{ name: 'x'.repeat(2000), timestamp: 1, value: 1 }]);
    expect(new PickleEncoder(NamePrefix.NONE, 1024).encode(q, 500, w)).toBe(0);
    expect(w.pos).toBe(1);
  });
});

describe('ByteWriter', () => {
  it('gives back a buffer that one large message grew, once it is taken', () => {
    const w = new ByteWriter(1024);
    w.bytes(Buffer.alloc(1024 * 1024));
    expect(w.buf.length).toBeGreaterThanOrEqual(1024 * 1024);
    expect(w.take()).toHaveLength(1024 * 1024);
    expect(w.buf.length).toBe(1024);
  });
});
