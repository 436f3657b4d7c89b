import { ByteWriter } from '../../src/codec/byte-writer';
import { NamePrefix } from '../../src/codec/name-prefix';
import { PickleEncoder } from '../../src/codec/pickle-encoder';
import { DatapointQueue } from '../../src/output/queue';
import { fromPyRepr, runPythonJson } from '../helpers/python';

/**
 * Our pickle output, decoded by CPython itself: the stdlib `pickle.loads` and
 * carbon's own SafeUnpickler (the class every carbon daemon uses on its pickle
 * port). Python also re-does the framing (struct '!L'), so a wrong length
 * prefix fails there as well as in our own check.
 */

interface Point {
  name: string;
  timestamp: number;
  value: number;
}

/** What Python saw in one frame. Each item: [item type, name, pair type, ts type, repr(ts), value type, repr(value)]. */
interface PyFrame {
  declaredLength: number;
  payloadLength: number;
  /** Highest pickle protocol among the opcodes (pickletools.genops). */
  protocol: number;
  container: string;
  items: [string, string, string, string, string, string, string][];
  /** repr(pickle.loads(p)) == repr(SafeUnpickler.loads(p)); repr keeps -0.0 and nan apart. */
  safeUnpicklerAgrees: boolean;
}

const DECODE = String.raw`
import json, pickle, pickletools, struct, sys
from carbon.util import SafeUnpickler
data = sys.stdin.buffer.read()
frames, pos = [], 0
while pos < len(data):
    if len(data) - pos < 4:
        raise SystemExit('trailing bytes after the last frame: %r' % data[pos:])
    (n,) = struct.unpack('!L', data[pos:pos + 4])
    payload = data[pos + 4:pos + 4 + n]
    if len(payload) != n:
        raise SystemExit('frame at %d declares %d bytes, only %d follow' % (pos, n, len(payload)))
    pos += 4 + n
    obj = pickle.loads(payload)
    safe = SafeUnpickler.loads(payload)
    tn = lambda x: type(x).__name__
    items = [[tn(it), it[0], tn(it[1]), tn(it[1][0]), repr(it[1][0]), tn(it[1][1]), repr(it[1][1])] for it in obj]
    frames.append({
        'declaredLength': n,
        'payloadLength': len(payload),
        'protocol': max(op.proto for op, arg, p in pickletools.genops(payload)),
        'container': tn(obj),
        'items': items,
        'safeUnpicklerAgrees': repr(obj) == repr(safe),
    })
print(json.dumps(frames))
`;

/** Encode every point the way a Destination does: frames of at most `max` datapoints appended to one reused writer. */
function encodeStream(points: readonly Point[], prefix: string, max: number): Buffer {
  const queue = new DatapointQueue(points.length);
  for (const p of points) expect(queue.push(p.name, p.timestamp, p.value)).toBe(true);
  const encoder = new PickleEncoder(new NamePrefix(prefix, 'always'));
  const writer = new ByteWriter(16); // tiny, so the writer has to grow mid-frame
  while (queue.length > 0) {
    const n = encoder.encode(queue, max, writer);
    expect(n).toBe(Math.min(max, queue.length));
    queue.shift(n);
  }
  expect(encoder.encode(queue, max, writer)).toBe(0);
  return writer.take();
}

/** Our own reading of the framing: 4-byte unsigned big-endian payload length, frames back to back. */
function frameLengths(stream: Buffer): number[] {
  const lengths: number[] = [];
  let pos = 0;
  while (pos < stream.length) {
    expect(stream.length - pos).toBeGreaterThanOrEqual(4);
    const len = stream.readUInt32BE(pos);
    expect(pos + 4 + len).toBeLessThanOrEqual(stream.length);
    expect(stream.subarray(pos + 4, pos + 6)).toEqual(Buffer.from([0x80, 0x02])); // PROTO 2
    expect(stream[pos + 4 + len - 1]).toBe(0x2e); // STOP ends exactly where the prefix says
    lengths.push(len);
    pos += 4 + len;
  }
  return lengths;
}

function decodeWithPython(stream: Buffer): Promise<PyFrame[]> {
  return runPythonJson<PyFrame[]>(DECODE, { input: stream });
}

/** Python's view of one item, as exact numbers. */
function asPoint(item: PyFrame['items'][number]): Point {
  return { name: item[1], timestamp: fromPyRepr(item[4]), value: fromPyRepr(item[6]) };
}

/** [name, timestamp, value, Python repr(timestamp), Python repr(value)] */
const EDGE_CASES: [string, number, number, string, string][] = [
  ['servers.web01.cpu.user', 1700000000, 42.5, '1700000000.0', '42.5'],
  ['métrique.ü', 1700000010, -3.25, '1700000010.0', '-3.25'],
  ['指标.延迟.p99', 1700000020, 0, '1700000020.0', '0.0'],
  ['emoji.😀.count', 1700000030, 7, '1700000030.0', '7.0'],
  ['int.negative', 1700000040, -123456789, '1700000040.0', '-123456789.0'],
  ['int.2_53', 1700000050, 2 ** 53, '1700000050.0', '9007199254740992.0'],
  ['float.1e16', 1700000060, 1e16, '1700000060.0', '1e+16'],
  ['float.neg_zero', 1700000070, -0, '1700000070.0', '-0.0'],
  ['float.huge', 1700000080, 1e300, '1700000080.0', '1e+300'],
  ['float.denormal', 1700000090, 5e-324, '1700000090.0', '5e-324'],
  ['float.point_one', 1700000100, 0.1, '1700000100.0', '0.1'],
  ['float.inf', 1700000110, Infinity, '1700000110.0', 'inf'],
  ['float.neg_inf', 1700000120, -Infinity, '1700000120.0', '-inf'],
  ['float.nan', 1700000130, NaN, '1700000130.0', 'nan'],
  ['ts.quarter', 1700000000.25, 1, '1700000000.25', '1.0'],
  ['ts.micro', 1700000000.123456, 2, '1700000000.123456', '2.0'],
  ['ts.zero', 0, 3, '0.0', '3.0'],
  ['ts.negative', -1.5, 4, '-1.5', '4.0'],
  [`long.${'n'.repeat(300)}`, 1700000140, 5, '1700000140.0', '5.0'],
  ['x', 1700000150, 6, '1700000150.0', '6.0'],
];

const edgePoints: Point[] = EDGE_CASES.map(([name, timestamp, value]) => ({ name, timestamp, value }));

describe('our pickle frames, decoded by CPython (pickle.loads and carbon SafeUnpickler)', () => {
  it('matches carbon\'s reference minimal frame byte for byte (pickle-sample.md example 6)', async () => {
    const stream = encodeStream(
      [
        { name: 'servers.web01.cpu.user', timestamp: 1700000000, value: 42.5 },
        { name: 'foo.bar', timestamp: 1700000010, value: 1 },
        { name: 'métrique.ü', timestamp: 1700000020, value: -3.25 },
      ],
      '',
      500,
    );
    expect(stream.toString('hex')).toBe(
      '0000007a80025d285816000000736572766572732e77656230312e6370752e757365724741d954fc4000000047404540000000000086865807000000666f6f2e6261724741d954fc42800000473ff00000000000008686580c0000006dc3a97472697175652ec3bc4741d954fc4500000047c00a0000000000008686652e',
    );
    const frames = await decodeWithPython(stream);
    expect(frames.map((f) => f.items)).toEqual([
      [
        ['tuple', 'servers.web01.cpu.user', 'tuple', 'float', '1700000000.0', 'float', '42.5'],
        ['tuple', 'foo.bar', 'tuple', 'float', '1700000010.0', 'float', '1.0'],
        ['tuple', 'métrique.ü', 'tuple', 'float', '1700000020.0', 'float', '-3.25'],
      ],
    ]);
  });

  it('decodes names, timestamps and values exactly, all as floats, in one protocol-2 list frame', async () => {
    const stream = encodeStream(edgePoints, '', 500);
    const lengths = frameLengths(stream);
    expect(lengths).toHaveLength(1);
    expect(4 + lengths[0]).toBe(stream.length);

    const frames = await decodeWithPython(stream);
    expect(frames).toHaveLength(1);
    const [f] = frames;
    expect(f.declaredLength).toBe(lengths[0]);
    expect(f.payloadLength).toBe(lengths[0]);
    expect(f.protocol).toBe(2); // readable by Python-2 carbon too
    expect(f.container).toBe('list');
    expect(f.safeUnpicklerAgrees).toBe(true);
    expect(f.items).toEqual(EDGE_CASES.map(([name, , , ts, v]) => ['tuple', name, 'tuple', 'float', ts, 'float', v]));
    expect(f.items.map(asPoint)).toEqual(edgePoints); // toEqual tells -0 from 0
  });

  it.each([
    ['an ASCII API key', 'abc-123.'],
    ['a non-ASCII prefix', 'ключ-😀.'],
  ])('prefixes every name with %s, across several frames', async (_label, prefix) => {
    const stream = encodeStream(edgePoints, prefix, 3);
    const lengths = frameLengths(stream);
    expect(lengths).toHaveLength(Math.ceil(edgePoints.length / 3));

    const frames = await decodeWithPython(stream);
    expect(frames.map((f) => f.declaredLength)).toEqual(lengths);
    expect(frames.map((f) => f.items.length)).toEqual(lengths.map((_l, i) => Math.min(3, edgePoints.length - 3 * i)));
    for (const f of frames) {
      expect(f.protocol).toBe(2);
      expect(f.container).toBe('list');
      expect(f.safeUnpicklerAgrees).toBe(true);
    }
    const items = frames.flatMap((f) => f.items);
    expect(items).toEqual(EDGE_CASES.map(([name, , , ts, v]) => ['tuple', prefix + name, 'tuple', 'float', ts, 'float', v]));
  });

  it('splits 1234 datapoints into frames of 500, 500 and 234 that each decode exactly', async () => {
    const points: Point[] = [];
    for (let i = 0; i < 1234; i++) {
      points.push({
        name: i % 7 === 0 ? `bulk.ü${i}.value` : `bulk.m${i}.value`,
        timestamp: 1700000000 + i * 0.5,
        value: i % 2 === 0 ? i * 1.1 - 300 : -i / 3,
      });
    }
    const stream = encodeStream(points, '', 500);
    const lengths = frameLengths(stream);
    expect(lengths).toHaveLength(3);

    const frames = await decodeWithPython(stream);
    expect(frames.map((f) => f.items.length)).toEqual([500, 500, 234]);
    expect(frames.map((f) => f.declaredLength)).toEqual(lengths);
    expect(frames.map((f) => f.payloadLength)).toEqual(lengths);
    for (const f of frames) {
      expect(f.protocol).toBe(2);
      expect(f.container).toBe('list');
      expect(f.safeUnpicklerAgrees).toBe(true);
    }
    const items = frames.flatMap((f) => f.items);
    expect(items.every((it) => it[0] === 'tuple' && it[2] === 'tuple' && it[3] === 'float' && it[5] === 'float')).toBe(true);
    expect(items.map(asPoint)).toEqual(points);
  });
});
