import { PickleDecodeError, PickleDecoder, PickleTooDeepError, type PickleItemStats } from '../../src/codec/pickle-decoder';
import { parsePyFloat } from '../../src/common/python/float';
import { MetricBatch } from '../../src/model/metric';
import {
  batchDatapoints,
  expectedDatapoints,
  pickleFixtures,
  seededBytes,
  seededRandom,
  strictPickleParser,
  type Datapoint,
  type ItemStats,
  type PickleFixture,
} from '../helpers/fixtures';

const NOW = 1_700_001_234.5;
const all = pickleFixtures();
const benign = all.filter((f) => f.rejected !== true);
const hostile = all.filter((f) => f.rejected === true);
const fixture = (id: string): PickleFixture => {
  const f = all.find((x) => x.id === id);
  if (f === undefined) throw new Error(`no fixture ${id}`);
  return f;
};
const payload = (f: PickleFixture): Buffer => Buffer.from(f.hex, 'hex');

interface Decoded {
  points: Datapoint[];
  stats: ItemStats;
}

const statsOf = (s: PickleItemStats): ItemStats => ({
  accepted: s.accepted,
  badShape: s.badShape,
  badName: s.badName,
  badNumber: s.badNumber,
  badTimestamp: s.badTimestamp,
  nanValue: s.nanValue,
});

function decode(frame: Buffer, decoder = new PickleDecoder()): Decoded {
  const batch = new MetricBatch(4);
  const stats = statsOf(decoder.decode(frame, batch, NOW));
  return { points: batchDatapoints(batch), stats };
}

/** The PickleDecodeError a frame is rejected with (fails the test if it decodes or throws anything else). */
function rejection(frame: Buffer, decoder = new PickleDecoder()): string {
  try {
    decoder.decode(frame, new MetricBatch(4), NOW);
  } catch (err) {
    if (err instanceof PickleDecodeError) return err.message;
    throw err;
  }
  throw new Error(`frame ${frame.subarray(0, 40).toString('hex')}... decoded instead of being rejected`);
}

/** The message of the PickleTooDeepError a frame is rejected with (fails the test otherwise). */
function tooDeep(frame: Buffer, decoder = new PickleDecoder()): string {
  try {
    decoder.decode(frame, new MetricBatch(4), NOW);
  } catch (err) {
    if (err instanceof PickleTooDeepError) return err.message;
    throw err;
  }
  throw new Error(`frame ${frame.subarray(0, 40).toString('hex')}... decoded instead of being rejected as too deep`);
}

const stats = (over: Partial<ItemStats>): ItemStats => ({ accepted: 0, badShape: 0, badName: 0, badNumber: 0, badTimestamp: 0, nanValue: 0, ...over });
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const bin = (s: string): Buffer => Buffer.from(s, 'latin1');
const f64 = (v: number): string => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b.toString('hex');
};
const u32 = (n: number): string => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b.toString('hex');
};
const binunicode = (s: string): string => `58${u32(Buffer.byteLength(s))}${Buffer.from(s).toString('hex')}`;
/** PROTO 2, EMPTY_LIST, MARK, items..., APPENDS, STOP */
const p2list = (...items: string[]): Buffer => hex(`80025d28${items.join('')}652e`);
/** (name, (ts, value)) with BINUNICODE name and BINFLOAT numbers. */
const item = (name: string, ts: number, value: number): string => `${binunicode(name)}47${f64(ts)}47${f64(value)}8686`;

/** Hex of allowed opcodes with plausible arguments, for structured fuzzing. */
const ALLOWED_PIECES = [
  '28', '5d', '29', '6c', '74', '85', '86', '87', '61', '65', '30', '31', '2e', '4e', '88', '89', '94',
  '7100', '7101', '68 00', '68 01', '6a 00000000', '72 01000000', '4b07', '4dffff', '4affffffff', '8a01ff', '8a00',
  `47${f64(1.5)}`, `47${f64(NaN)}`, binunicode('n'), binunicode('\u00e9'), '5501c3', '8c0161', '9508000000000000000000',
  Buffer.from('I12\n').toString('hex'), Buffer.from("S'x'\n").toString('hex'), Buffer.from('Vx\n').toString('hex'),
  Buffer.from('p1\n').toString('hex'), Buffer.from('g1\n').toString('hex'), Buffer.from('F2.5\n').toString('hex'),
];

describe('python-generated fixtures', () => {
  it('cover protocols 0 to 5, Python 2 strings, statsd, memo reuse and LONG1', () => {
    expect(new Set(benign.map((f) => f.protocol))).toEqual(new Set([0, 1, 2, 3, 4, 5]));
    const opcodes = new Set(benign.flatMap((f) => f.opcodes));
    for (const op of ['BINGET', 'LONG_BINGET', 'GET', 'MEMOIZE', 'FRAME', 'LONG1', 'LONG', 'INT', 'FLOAT', 'SHORT_BINSTRING', 'BINSTRING', 'STRING', 'UNICODE', 'SHORT_BINUNICODE', 'BINUNICODE8', 'TUPLE1', 'TUPLE3', 'EMPTY_TUPLE', 'NONE', 'NEWTRUE', 'NEWFALSE']) {
      expect([op, opcodes.has(op)]).toEqual([op, true]);
    }
  });

  it.each(benign.map((f) => [f.id, f] as const))('%s decodes to what carbon reads', (_id, f) => {
    expect(decode(payload(f))).toEqual({ points: expectedDatapoints(f, NOW), stats: f.stats });
  });
});

describe('specific values (checked here by hand, not only against the fixture)', () => {
  const point = (f: PickleFixture, name: string): Datapoint | undefined => decode(payload(f)).points.find((p) => p.name === name);

  it.each([0, 1, 2, 3, 4, 5])('protocol %i: ints, LONG1 both signs, bools, numeric strings, -1 timestamps', (proto) => {
    const f = fixture(`basic-p${proto}`);
    expect(point(f, 'long.neg')).toEqual({ name: 'long.neg', timestamp: 1700000030, value: -3000000000 });
    expect(point(f, 'long.pos')).toEqual({ name: 'long.pos', timestamp: 4102444800, value: 2147483648 });
    expect(point(f, 'long.min64')?.value).toBe(-9223372036854775808);
    expect(point(f, 'int.min32')?.value).toBe(-2147483648);
    expect(point(f, 'int.65535')?.value).toBe(65535);
    expect(point(f, 'value.true')?.value).toBe(1);
    expect(point(f, 'value.false')?.value).toBe(0);
    expect(point(f, 'value.str')?.value).toBe(4.5);
    expect(point(f, 'value.str.spaced')?.value).toBe(1000);
    expect(point(f, 'value.str.inf')?.value).toBe(Infinity);
    expect(point(f, 'value.inf')?.value).toBe(Infinity);
    expect(point(f, 'value.negzero')?.value).toBe(-0);
    expect(point(f, 'ts.str')?.timestamp).toBe(1700000080);
    expect(point(f, 'ts.now.int')?.timestamp).toBe(NOW);
    expect(point(f, 'ts.now.float')?.timestamp).toBe(NOW);
    expect(point(f, 'ts.kept.half')?.timestamp).toBe(-0.5);
    expect(point(f, 'ts.kept.two')?.timestamp).toBe(-2);
    expect(point(f, 'm\u00e9trique.\u00fc')?.value).toBe(-3.25);
    expect(point(f, 'emoji.\u{1f4c8}.\u4e2d\u6587')?.value).toBe(0.1);
    expect(point(f, 'list.item')).toEqual({ name: 'list.item', timestamp: 1700000200, value: 12 });
    expect(decode(payload(f)).points.filter((p) => p.name === 'same.object').map((p) => p.value)).toEqual([5, 6]);
    expect(point(f, 'shared.tuple')).toEqual({ name: 'shared.tuple', timestamp: 1700000100, value: 5 });
  });

  it.each(['memo-long-p1', 'memo-long-p2', 'memo-long-p4'])('%s: names reused through LONG_BINGET and BINGET', (id) => {
    const f = fixture(id);
    expect(f.opcodes).toContain('LONG_BINGET');
    const pts = decode(payload(f)).points;
    expect(pts).toHaveLength(102);
    expect(pts.slice(-2)).toEqual([
      { name: 'memo.m099', timestamp: 1700000999, value: 99.5 },
      { name: 'memo.m000', timestamp: 1700001000, value: 0.5 },
    ]);
  });

  it('Python 2 SHORT_BINSTRING and BINSTRING names are UTF-8', () => {
    expect(decode(payload(fixture('py2-binstring'))).points.map((p) => p.name)).toEqual([
      's\u00e9rvers.h\u00f4st.cpu',
      'plain.ascii',
      `${'\u00fc'.repeat(150)}.long`,
    ]);
  });

  it('Python 2 protocol 0 STRING escapes and quotes', () => {
    expect(decode(payload(fixture('py2-p0-string')))).toEqual({
      points: [
        { name: 'caf\u00e9.latency', timestamp: 1700000000, value: 12.5 },
        { name: "it's.quoted", timestamp: 1700000001, value: 3 },
        { name: 'back\\slash.tab\there', timestamp: 1700000002, value: 0 },
        { name: 'octal\u00fc', timestamp: 1700000003.5, value: 1 },
        { name: 'caf\u00e9.latency', timestamp: 1700000004, value: -0 },
      ],
      stats: stats({ accepted: 5 }),
    });
  });

  it('the Etsy statsd protocol-0 frame with string values', () => {
    const f = fixture('statsd-p0');
    expect(payload(f).toString('latin1').startsWith("(l(S'stats.counters.foo.count'\n(L1795309415L\nS'10'\ntta(S'")).toBe(true);
    expect(decode(payload(f))).toEqual({
      points: [
        { name: 'stats.counters.foo.count', timestamp: 1795309415, value: 10 },
        { name: 'stats.counters.foo.rate', timestamp: 1795309415, value: 0.5 },
        { name: 'stats.timers.api.mean_90', timestamp: 1795309415, value: 12.345 },
        { name: 'stats.gauges.neg', timestamp: 1795309415, value: -7 },
        { name: 'statsd.numStats', timestamp: 1795309415, value: 4 },
      ],
      stats: stats({ accepted: 5 }),
    });
  });

  it('LONG1 values of 5 to 8 bytes, both signs', () => {
    expect(decode(payload(fixture('long1-p2'))).points.map((p) => p.value)).toEqual([
      2 ** 31, -(2 ** 31) - 1, 2 ** 32, -(2 ** 32), 2 ** 40 + 7, -(2 ** 40) - 7, 2 ** 53, -(2 ** 53),
      9223372036854775807, -9223372036854775808, 4102444800, -3000000000, 2 ** 55 + 2 ** 10, -(2 ** 56) + 2 ** 12,
    ]);
    expect(decode(payload(fixture('long1-ts-p2'))).points.map((p) => p.timestamp)).toEqual([4102444800, -3000000000]);
  });

  it('items carbon skips are counted by reason', () => {
    for (const id of ['skipped-p0', 'skipped-p2', 'skipped-p4']) {
      expect(decode(payload(fixture(id)))).toEqual({
        points: [
          { name: 'ok.first', timestamp: 1700000000, value: 1 },
          { name: 'ok.last', timestamp: 1700000001, value: 2 },
        ],
        // None/'abc'/[1.0] values and a None timestamp; int/None/float/tuple names;
        // flat, short and long shapes, non-sequence items; nan/inf timestamps; nan values.
        stats: stats({ accepted: 2, badNumber: 4, badName: 4, badShape: 9, badTimestamp: 4, nanValue: 2 }),
      });
    }
  });
});

describe('hand-built frames', () => {
  it.each<[string, Buffer, Decoded]>([
    ['int name -> badName', p2list(`4b07` + `47${f64(1)}47${f64(2)}8686`, item('ok', 1, 2)), { points: [{ name: 'ok', timestamp: 1, value: 2 }], stats: stats({ accepted: 1, badName: 1 }) }],
    ['None name -> badName', p2list(`4e` + `47${f64(1)}47${f64(2)}8686`), { points: [], stats: stats({ badName: 1 }) }],
    ['None value -> badNumber', p2list(`${binunicode('n')}47${f64(1)}4e8686`), { points: [], stats: stats({ badNumber: 1 }) }],
    ['NaN value -> nanValue', p2list(`${binunicode('n')}47${f64(1)}47${f64(NaN)}8686`), { points: [], stats: stats({ nanValue: 1 }) }],
    ['NaN timestamp -> badTimestamp', p2list(`${binunicode('n')}47${f64(NaN)}47${f64(1)}8686`), { points: [], stats: stats({ badTimestamp: 1 }) }],
    ['flat 3-tuple -> badShape', p2list(`${binunicode('n')}47${f64(1)}47${f64(2)}87`), { points: [], stats: stats({ badShape: 1 }) }],
    ['int timestamp (BININT), bool value', p2list(`${binunicode('b')}4a${'00f15365'}888686`), { points: [{ name: 'b', timestamp: 1700000000, value: 1 }], stats: stats({ accepted: 1 }) }],
    ['BININT2 and BININT1', p2list(`${binunicode('i')}4dffff4bff8686`), { points: [{ name: 'i', timestamp: 65535, value: 255 }], stats: stats({ accepted: 1 }) }],
    ['negative BININT', p2list(`${binunicode('i')}4a000000804affffffff8686`), { points: [{ name: 'i', timestamp: -2147483648, value: -1 }], stats: stats({ accepted: 1 }) }],
    ['LONG1 0xff = -1 as a timestamp means now', p2list(`${binunicode('i')}8a01ff4b058686`), { points: [{ name: 'i', timestamp: NOW, value: 5 }], stats: stats({ accepted: 1 }) }],
    ['LONG1 of 8 bytes 0x80..00 = -2**63', p2list(`${binunicode('i')}4b018a080000000000000080 8686`), { points: [{ name: 'i', timestamp: 1, value: -(2 ** 63) }], stats: stats({ accepted: 1 }) }],
    ['numeric-string value and timestamp', p2list(`${binunicode('s')}${binunicode(' 1_700_000_000 ')}${binunicode('\u0661\u0662')}8686`), { points: [{ name: 's', timestamp: 1700000000, value: 12 }], stats: stats({ accepted: 1 }) }],
    ['lists instead of tuples (LIST, APPEND)', bin('(l(lVn\na(lF1.5\naF2.5\naaa.'), { points: [{ name: 'n', timestamp: 1.5, value: 2.5 }], stats: stats({ accepted: 1 }) }],
    ['top-level tuple (TUPLE1)', hex(`8002${item('t', 3, 4).slice(0, -4)}86 86 85 2e`), { points: [{ name: 't', timestamp: 3, value: 4 }], stats: stats({ accepted: 1 }) }],
    ['PUT/GET in protocol 0', bin("(lp0\n(Vn\np1\n(I1\nI2\ntp2\ntp3\na(g1\ng2\ntp4\na."), { points: [{ name: 'n', timestamp: 1, value: 2 }, { name: 'n', timestamp: 1, value: 2 }], stats: stats({ accepted: 2 }) }],
    ['MEMOIZE and BINGET', hex(`8004 5d 94 28 8c016e 94 47${f64(1)} 47${f64(2)} 86 94 86 94 68 01 68 02 86 65 2e`), { points: [{ name: 'n', timestamp: 1, value: 2 }, { name: 'n', timestamp: 1, value: 2 }], stats: stats({ accepted: 2 }) }],
    ['POP and POP_MARK are honoured', hex(`8002 5d 28 4b01 30 ${item('p', 1, 2)} 28 4b01 4b02 31 65 2e`), { points: [{ name: 'p', timestamp: 1, value: 2 }], stats: stats({ accepted: 1 }) }],
    ['bytes after STOP are ignored', Buffer.concat([p2list(item('a', 1, 2)), hex('ffff63')]), { points: [{ name: 'a', timestamp: 1, value: 2 }], stats: stats({ accepted: 1 }) }],
    ['a list containing itself (memo cycle)', hex('8002 5d 7100 6800 61 2e'), { points: [], stats: stats({ badShape: 1 }) }],
    ['LONG_BINPUT 0xffffffff is harmless', hex(`8002 5d 72ffffffff 28 ${item('a', 1, 2)} 65 2e`), { points: [{ name: 'a', timestamp: 1, value: 2 }], stats: stats({ accepted: 1 }) }],
  ])('%s', (_label, frame, expected) => {
    expect(decode(frame)).toEqual(expected);
  });

  it.each<[string, Buffer, string]>([
    ['empty buffer', Buffer.alloc(0), 'no STOP opcode'],
    ['PROTO only', hex('8002'), 'no STOP opcode'],
    ['STOP on an empty stack', hex('2e'), 'STOP with a malformed stack'],
    ['STOP with two objects', hex('8002 5d 5d 2e'), 'STOP with a malformed stack'],
    ['STOP with an open MARK', hex('8002 5d 28 2e'), 'STOP with a malformed stack'],
    ['top-level int', hex('8002 4b01 2e'), 'top-level object is not a list or tuple'],
    ['top-level string', hex(`8002 ${binunicode('ab')} 2e`), 'top-level object is not a list or tuple'],
    ['top-level None', hex('8002 4e 2e'), 'top-level object is not a list or tuple'],
    ['APPEND to a string', hex(`8002 ${binunicode('ab')} 4b01 61 2e`), 'APPEND to a non-list at offset 11'],
    ['APPENDS to an int', hex('8002 4b01 28 4b01 65 2e'), 'APPENDS to a non-list at offset 7'],
    ['TUPLE without MARK', hex('8002 4b01 74 2e'), 'missing MARK at offset 5'],
    ['TUPLE2 on one item', hex('8002 4b01 86 2e'), 'stack underflow at offset 5'],
    ['TUPLE2 across a MARK', hex('8002 4b01 28 4b02 86 2e'), 'stack underflow at offset 8'],
    ['POP on an empty stack', hex('8002 30 2e'), 'stack underflow at offset 3'],
    ['BINGET of an unknown key', hex('8002 5d 6805 2e'), 'memo key 5 not found'],
    ['LONG_BINGET of an unknown key', hex('8002 5d 6a00000001 2e'), 'memo key 16777216 not found'],
    ['GET with a non-numeric index', bin('(lg1x\n.'), 'bad memo index "1x"'],
    ['INT with garbage', bin('(lI12a\n.'), 'bad integer argument "12a"'],
    ['LONG with hex', bin('(lL0x10L\n.'), 'bad integer argument "0x10"'],
    ['INT with a huge argument', bin(`(lI${'9'.repeat(65)}\n.`), 'bad integer argument'],
    ['FLOAT with garbage', bin('(lF1.5.5\n.'), 'bad FLOAT argument at offset 9'],
    ['text argument without newline', bin('(lI12'), 'unterminated text argument at offset 3'],
    ['STRING without quotes', bin('(lS abc\n.'), 'STRING argument is not quoted'],
    ['STRING with mismatched quotes', bin(`(lS'abc"\n.`), 'STRING argument is not quoted'],
    ['STRING with a bad \\x escape', bin("(lS'a\\xZZ'\n."), 'bad \\x escape in STRING'],
    ['STRING that is not UTF-8', bin("(lS'\\xff'\n."), 'STRING is not valid UTF-8'],
    ['SHORT_BINSTRING that is not UTF-8', hex('8002 5d 5501ff 61 2e'), 'string at offset 5 is not valid UTF-8'],
    ['BINUNICODE that is not UTF-8', hex(`8002 5d 58${u32(2)}c328 61 2e`), 'string at offset 8 is not valid UTF-8'],
    ['BINSTRING with a negative length', hex('8002 5d 54ffffffff 2e'), 'BINSTRING with a negative length'],
    ['BINUNICODE longer than the frame', hex(`8002 5d 58${u32(0xffffffff)}41 2e`), 'truncated at offset 8'],
    ['BINUNICODE8 longer than the frame', hex('8004 5d 8dffffffffffffffff 41 2e'), 'truncated at offset 12'],
    ['UNICODE escape beyond U+10FFFF', bin('(lV\\U00110000\n.'), 'UNICODE escape out of range'],
  ])('rejects %s', (_label, frame, message) => {
    expect(rejection(frame)).toContain(message);
  });
});

describe('hostile frames are rejected, naming the opcode', () => {
  it('the classic GLOBAL os.system + REDUCE', () => {
    expect(rejection(bin("cos\nsystem\n(S'echo PWNED'\ntR."))).toBe('forbidden opcode GLOBAL (0x63) at offset 0');
  });

  it.each(hostile.map((f) => [f.id, f] as const))('python-made %s', (_id, f) => {
    expect(rejection(payload(f))).toMatch(new RegExp(`^forbidden opcode ${f.opcode} \\(0x[0-9a-f]{2}\\) at offset \\d+$`));
  });

  // Each forbidden opcode as the first thing after PROTO 2, EMPTY_LIST, MARK, with enough argument bytes to follow.
  it.each<[string, number]>([
    ['GLOBAL', 0x63], ['STACK_GLOBAL', 0x93], ['REDUCE', 0x52], ['INST', 0x69], ['OBJ', 0x6f], ['BUILD', 0x62],
    ['PERSID', 0x50], ['BINPERSID', 0x51], ['EXT1', 0x82], ['EXT2', 0x83], ['EXT4', 0x84], ['NEWOBJ', 0x81],
    ['NEWOBJ_EX', 0x92], ['LONG4', 0x8b], ['EMPTY_DICT', 0x7d], ['DICT', 0x64], ['SETITEM', 0x73], ['SETITEMS', 0x75],
    ['EMPTY_SET', 0x8f], ['ADDITEMS', 0x90], ['FROZENSET', 0x91], ['BINBYTES', 0x42], ['SHORT_BINBYTES', 0x43],
    ['BINBYTES8', 0x8e], ['BYTEARRAY8', 0x96], ['NEXT_BUFFER', 0x97], ['READONLY_BUFFER', 0x98],
  ])('%s', (name, op) => {
    const frame = Buffer.concat([hex('80025d28'), Buffer.from([op]), Buffer.from('os\nsystem\n\x01\x00\x00\x00\x00\x00\x00\x00.', 'latin1')]);
    expect(rejection(frame)).toBe(`forbidden opcode ${name} (0x${op.toString(16)}) at offset 4`);
  });

  it.each([
    ['STACK_GLOBAL builtins.eval', hex(`8004 8c08${Buffer.from('builtins').toString('hex')} 8c04${Buffer.from('eval').toString('hex')} 93 2e`), 'STACK_GLOBAL'],
    ['INST os.system', bin("(S'echo PWNED'\nios\nsystem\n."), 'INST'],
    ['OBJ', bin('(]o.'), 'OBJ'],
    ['BUILD', bin(']]b.'), 'BUILD'],
    ['PERSID', bin('P123\n.'), 'PERSID'],
    ['BINPERSID', bin('K\x01Q.'), 'BINPERSID'],
    ['EXT1', hex('8002 8201 2e'), 'EXT1'],
    ['REDUCE without a GLOBAL', bin('(]tR.'), 'REDUCE'],
    ['dict', bin('(dp0\n.'), 'DICT'],
    ['a dict inside the list', hex(`80025d28 ${item('a', 1, 2)} 7d 65 2e`), 'EMPTY_DICT'],
  ])('%s', (_label, frame, name) => {
    expect(rejection(frame)).toMatch(new RegExp(`^forbidden opcode ${name} `));
  });

  it.each([0, 1, 8, 9, 65_536, 256 * 1024])('LONG4 of %i bytes', (n) => {
    const frame = Buffer.concat([hex(`80025d28 ${binunicode('x')} 4b01 8b${u32(n)}`), Buffer.alloc(n, 0x7f), hex('8686652e')]);
    expect(rejection(frame)).toBe('forbidden opcode LONG4 (0x8b) at offset 12');
  });

  it.each([9, 16, 255])('LONG1 of %i bytes (more than 8)', (n) => {
    const frame = Buffer.concat([hex(`80025d28 ${binunicode('x')} 4b01 8a${n.toString(16).padStart(2, '0')}`), Buffer.alloc(n, 0x7f), hex('8686652e')]);
    expect(rejection(frame)).toBe(`LONG1 of ${n} bytes is too large`);
  });

  it.each([0x00, 0x32, 0x34, 0xff])('unknown opcode 0x%s', (op) => {
    expect(rejection(Buffer.from([0x80, 0x02, 0x5d, op, 0x2e]))).toBe(`unsupported opcode 0x${op.toString(16)} at offset 3`);
  });
});

describe('truncated, random and oversized input', () => {
  it.each(benign.map((f) => [f.id, f] as const))('%s cut at every byte offset is rejected', (_id, f) => {
    const full = payload(f);
    const decoder = new PickleDecoder();
    const wrong: number[] = [];
    for (let n = 0; n < full.length; n++) {
      try {
        decoder.decode(full.subarray(0, n), new MetricBatch(4), NOW);
        wrong.push(n);
      } catch (err) {
        if (!(err instanceof PickleDecodeError)) wrong.push(-n - 1);
      }
    }
    expect(wrong).toEqual([]);
    // The decoder is reusable after all those failures.
    expect(decode(full, decoder)).toEqual({ points: expectedDatapoints(f, NOW), stats: f.stats });
  });

  it('seeded random bytes only ever throw PickleDecodeError', () => {
    const rnd = seededRandom(0xc0ffee);
    const decoder = new PickleDecoder();
    const outcomes = { rejected: 0, decoded: 0 };
    for (let i = 0; i < 5000; i++) {
      const buf = seededBytes(i, 2 + Math.floor(rnd() * 300));
      buf[0] = 0x80;
      buf[1] = i % 6;
      try {
        decoder.decode(i % 2 === 0 ? buf : buf.subarray(2), new MetricBatch(4), NOW);
        outcomes.decoded++;
      } catch (err) {
        if (!(err instanceof PickleDecodeError)) throw new Error(`${buf.toString('hex')}: ${String(err)}`);
        outcomes.rejected++;
      }
    }
    expect(outcomes.rejected + outcomes.decoded).toBe(5000);
    expect(outcomes.rejected).toBeGreaterThan(4900);
  });

  it('seeded random sequences of allowed opcodes only ever throw PickleDecodeError', () => {
    const rnd = seededRandom(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const pieces = ALLOWED_PIECES;
    const decoder = new PickleDecoder();
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      const n = 1 + Math.floor(rnd() * 20);
      let h = '8002';
      for (let k = 0; k < n; k++) h += pick(pieces);
      const frame = hex(h);
      try {
        const batch = new MetricBatch(4);
        const s = decoder.decode(frame, batch, NOW);
        expect(s.accepted).toBe(batch.length);
        decoded++;
      } catch (err) {
        if (!(err instanceof PickleDecodeError)) throw new Error(`${h}: ${String(err)}`);
      }
    }
    expect(decoded).toBeGreaterThan(0);
  });

  it('seeded byte flips in valid frames only ever throw PickleDecodeError', () => {
    const rnd = seededRandom(99);
    const decoder = new PickleDecoder();
    for (const f of benign.filter((x) => x.hex.length < 10_000)) {
      const base = payload(f);
      for (let i = 0; i < 300; i++) {
        const buf = Buffer.from(base);
        const flips = 1 + Math.floor(rnd() * 3);
        for (let k = 0; k < flips; k++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
        try {
          const batch = new MetricBatch(4);
          const s = decoder.decode(buf, batch, NOW);
          expect(s.accepted).toBe(batch.length);
        } catch (err) {
          if (!(err instanceof PickleDecodeError)) throw new Error(`${f.id} ${buf.toString('hex')}: ${String(err)}`);
        }
      }
    }
  });

  it('a 1 MiB frame of random bytes is rejected', () => {
    const buf = seededBytes(1, 1024 * 1024);
    expect(() => new PickleDecoder().decode(buf, new MetricBatch(), NOW)).toThrow(PickleDecodeError);
    buf.set([0x80, 0x02, 0x5d, 0x28]);
    expect(() => new PickleDecoder().decode(buf, new MetricBatch(), NOW)).toThrow(PickleDecodeError);
  });

  it.each([1, 2, 3])('1 MiB frames of random allowed opcodes (seed %i) decode or are rejected cleanly', (seed) => {
    const rnd = seededRandom(seed);
    const parts: string[] = ['80025d28'];
    let size = 4;
    while (size < 1024 * 1024) {
      const piece = ALLOWED_PIECES[Math.floor(rnd() * ALLOWED_PIECES.length)].replace(/\s+/g, '');
      if (piece === '2e') continue; // keep going to the end instead of stopping early
      parts.push(piece);
      size += piece.length / 2;
    }
    parts.push('652e');
    const frame = hex(parts.join(''));
    expect(frame.length).toBeGreaterThan(1024 * 1024);
    try {
      const batch = new MetricBatch();
      const s = new PickleDecoder().decode(frame, batch, NOW);
      expect(s.accepted).toBe(batch.length);
    } catch (err) {
      expect(err).toBeInstanceOf(PickleDecodeError);
    }
  });

  it('a 1 MiB frame of MARKs is rejected as too deep at the 17th MARK', () => {
    const buf = Buffer.concat([hex('8002'), Buffer.alloc(1024 * 1024 - 3, 0x28), hex('2e')]);
    expect(tooDeep(buf)).toBe('nesting deeper than 16 levels at offset 18');
  });

  it('1 MiB of nested MARK ... LIST is rejected at the first MARK past the limit', () => {
    const depth = 512 * 1024 - 1;
    const buf = Buffer.concat([hex('8002'), Buffer.alloc(depth, 0x28), Buffer.alloc(depth, 0x6c), hex('2e')]);
    expect(tooDeep(buf)).toBe('nesting deeper than 16 levels at offset 18');
  });

  it('lists nested 1M deep by APPEND and tuples nested by TUPLE1 are rejected at the first opcode past the limit', () => {
    const n = 1024 * 1024;
    const appended = Buffer.concat([hex('8002'), Buffer.alloc(n, 0x5d), Buffer.alloc(n - 1, 0x61), hex('2e')]);
    // 2 + n lists, then APPENDs: the 16th makes a list 17 deep
    expect(tooDeep(appended)).toBe(`nesting deeper than 16 levels at offset ${2 + n + 15}`);
    const tupled = Buffer.concat([hex('8002 5d'), Buffer.alloc(n, 0x85), hex('2e')]);
    expect(tooDeep(tupled)).toBe('nesting deeper than 16 levels at offset 18');
  });
  it('a list of 500k items in one APPENDS decodes (pickleparser overflows its stack here)', () => {
    const n = 500_000;
    const items = Buffer.alloc(2 * n);
    for (let i = 0; i < n; i++) items.writeUInt16BE(0x4b01, 2 * i); // BININT1 1
    const frame = Buffer.concat([hex('80025d28'), items, hex('652e')]);
    expect(decode(frame)).toEqual({ points: [], stats: stats({ badShape: n }) });
    expect(() => strictPickleParser().parse(frame)).toThrow(RangeError); // deps.md §1.6: list.push(...items)
  });

  it('500k datapoints sharing one memoised tuple decode to 500k datapoints', () => {
    const n = 500_000;
    const gets = Buffer.alloc(2 * (n - 1));
    for (let i = 0; i < n - 1; i++) gets.writeUInt16BE(0x6801, 2 * i); // BINGET 1
    const frame = Buffer.concat([hex(`80025d28 ${item('same', 1700000000, 1.5)} 7101`), gets, hex('652e')]);
    const batch = new MetricBatch();
    const s = new PickleDecoder().decode(frame, batch, NOW);
    expect(statsOf(s)).toEqual(stats({ accepted: n }));
    expect(batch.length).toBe(n);
    expect([batch.names[n - 1], batch.timestamps[n - 1], batch.values[n - 1]]).toEqual(['same', 1700000000, 1.5]);
  });
});

describe('nesting depth (open MARKs + the depth of what is built) and memo bounds', () => {
  const tuple1s = (n: number): string => '85'.repeat(n);

  it('accepts 16 levels and rejects the 17th, with open MARKs counted as levels', () => {
    // None wrapped in 16 one-tuples is 16 deep: decodes (its only item is not a datapoint)
    expect(decode(hex(`8002 4e ${tuple1s(16)} 2e`)).stats).toEqual(stats({ badShape: 1 }));
    expect(tooDeep(hex(`8002 4e ${tuple1s(17)} 2e`))).toBe('nesting deeper than 16 levels at offset 19');
    // 15 open MARKs + a 2-deep tuple could only end up 17 deep
    expect(tooDeep(hex(`8002 ${'28'.repeat(15)} 4e 85 85`))).toBe('nesting deeper than 16 levels at offset 19');
    expect(rejection(hex(`8002 ${'28'.repeat(14)} 4e 85 85`))).toBe('no STOP opcode');
    expect(tooDeep(hex(`8002 ${'28'.repeat(17)}`))).toBe('nesting deeper than 16 levels at offset 18');
  });

  it('a memoised value keeps its depth when fetched again', () => {
    const deep15 = `4e ${tuple1s(15)} 7100 30`; // built, memoised, popped
    expect(decode(hex(`8002 ${deep15} 6800 85 2e`)).stats).toEqual(stats({ badShape: 1 }));
    expect(tooDeep(hex(`8002 ${deep15} 6800 85 85 2e`))).toBe(`nesting deeper than 16 levels at offset ${2 + 16 + 3 + 2 + 1}`);
  });

  it('APPEND and APPENDS deepen the list they fill', () => {
    // ] ] ] ... a a a: each APPEND puts the list above into the one below
    expect(decode(hex(`8002 ${'5d'.repeat(16)} ${'61'.repeat(15)} 2e`)).stats).toEqual(stats({ badShape: 1 }));
    expect(tooDeep(hex(`8002 ${'5d'.repeat(17)} ${'61'.repeat(16)} 2e`))).toBe(`nesting deeper than 16 levels at offset ${2 + 17 + 15}`);
    // APPENDS: a list holding a 14-deep tuple is 15 deep, so wrapping it twice is too deep
    expect(decode(hex(`8002 5d 28 4e ${tuple1s(14)} 65 85 2e`)).stats).toEqual(stats({ badShape: 1 }));
    expect(tooDeep(hex(`8002 5d 28 4e ${tuple1s(14)} 65 85 85 2e`))).toBe(`nesting deeper than 16 levels at offset ${2 + 1 + 1 + 1 + 14 + 1 + 1}`);
  });

  it('maxDepth is an option; a carbon frame is 3 deep', () => {
    const frame = p2list(item('a', 1, 2));
    expect(decode(frame, new PickleDecoder({ maxDepth: 3 })).points).toEqual([{ name: 'a', timestamp: 1, value: 2 }]);
    expect(tooDeep(frame, new PickleDecoder({ maxDepth: 2 }))).toMatch(/^nesting deeper than 2 levels/);
    expect(() => new PickleDecoder({ maxDepth: 0 })).toThrow(RangeError);
  });

  it('empty lists are never shared once something is appended to one of them', () => {
    // [('a', [1.0, 2.0]), ('b', [])]: the inner lists start as EMPTY_LIST
    const a = `${binunicode('a')} 5d 47${f64(1)} 61 47${f64(2)} 61 86`;
    const b = `${binunicode('b')} 5d 86`;
    expect(decode(p2list(a, b))).toEqual({ points: [{ name: 'a', timestamp: 1, value: 2 }], stats: stats({ accepted: 1, badShape: 1 }) });
  });

  it('an empty list memoised before it is filled is the filled list when fetched', () => {
    // ] PUT 0, MARK, item, APPENDS, POP, GET 0, STOP
    expect(decode(hex(`8002 5d 7100 28 ${item('m', 1, 2)} 65 30 6800 2e`)).points).toEqual([{ name: 'm', timestamp: 1, value: 2 }]);
  });

  it('memo indices out of order work but are bounded; MEMOIZE floods are cut at one entry per 4 bytes', () => {
    const long = (op: string, i: number): string => `${op}${u32(i)}`;
    expect(decode(hex(`8002 5d 28 ${item('s', 1, 2)} ${long('72', 0xffffffff)} 30 ${long('6a', 0xffffffff)} 65 2e`)).points).toEqual([{ name: 's', timestamp: 1, value: 2 }]);
    const sparse = Array.from({ length: 1025 }, (_, i) => long('72', 0xffffffff - i)).join('');
    expect(rejection(hex(`8002 4e ${sparse} 2e`))).toMatch(/^more than 1024 out-of-order memo indices/);
    const flood = Buffer.concat([hex('8004 4e'), Buffer.alloc(64 * 1024, 0x94), hex('2e')]);
    expect(rejection(flood)).toBe(`more than ${1024 + (flood.length >> 2)} memo entries at offset ${3 + 1024 + (flood.length >> 2) + 1}`);
  });
});

/**
 * 1 MiB frames built to be expensive for a stack machine: each decodes or is
 * rejected, always with a PickleDecodeError, and (checked by hand, not
 * asserted) in time of the order of a valid 1 MiB frame.
 */
describe('hostile 1 MiB frames', () => {
  const MiB = 1024 * 1024;
  const flood = (prefix: string, unit: string, suffix: string): Buffer => {
    const pre = hex(prefix);
    const u = hex(unit);
    const post = hex(suffix);
    const n = Math.floor((MiB - pre.length - post.length) / u.length);
    return Buffer.concat([pre, Buffer.alloc(n * u.length, u), post]);
  };
  const half = (a: string, b: string): Buffer => Buffer.concat([hex('8002'), Buffer.alloc(MiB / 2 - 2, hex(a)), Buffer.alloc(MiB / 2 - 2, hex(b)), hex('2e')]);
  const distinctPuts = (): Buffer => {
    const n = Math.floor((MiB - 4) / 5);
    const b = Buffer.alloc(3 + 5 * n + 1);
    b.set([0x80, 2, 0x4e]);
    for (let i = 0; i < n; i++) {
      b[3 + 5 * i] = 0x72;
      b.writeUInt32LE(0xffffffff - i, 4 + 5 * i);
    }
    b[b.length - 1] = 0x2e;
    return b;
  };
  const cases: [string, () => Buffer, string | RegExp | { badShape: number }][] = [
    ['MARKs', () => flood('8002', '28', '2e'), /^nesting deeper than 16/],
    ['MARK ... TUPLE nesting', () => half('28', '74'), /^nesting deeper than 16/],
    ['EMPTY_LISTs', () => flood('8002', '5d', '2e'), 'STOP with a malformed stack'],
    ['EMPTY_TUPLEs', () => flood('8002', '29', '2e'), 'STOP with a malformed stack'],
    ['EMPTY_LISTs then APPENDs', () => half('5d', '61'), /^nesting deeper than 16/],
    ['a TUPLE1 chain', () => flood('8002 4e', '85', '2e'), /^nesting deeper than 16/],
    ['one-tuples of empty lists', () => flood('8002', '5d85', '2e'), 'STOP with a malformed stack'],
    ['a MEMOIZE flood', () => flood('8004 4e', '94', '2e'), /^more than \d+ memo entries/],
    ['LONG_BINPUT at the largest index', () => flood('8002 4e', '72ffffffff', '2e'), 'top-level object is not a list or tuple'],
    ['LONG_BINPUT at distinct huge indices', distinctPuts, /^more than 1024 out-of-order memo indices/],
    ['one memoised list fetched into itself', () => flood('8002 5d 7100 28', '6800', '652e'), { badShape: Math.floor((MiB - 7) / 2) }],
    ['a list appended to itself', () => flood('8002 5d 7100', '680061', '2e'), { badShape: Math.floor((MiB - 6) / 3) }],
    ['BINUNICODE claiming 4 GiB', () => Buffer.concat([hex('8002 58 ffffffff'), Buffer.alloc(MiB - 7, 0x61)]), 'truncated at offset 7'],
    ['BINUNICODE8 claiming 2**63 bytes', () => Buffer.concat([hex('8004 8d ffffffffffffff7f'), Buffer.alloc(MiB - 11, 0x61)]), 'truncated at offset 11'],
    ['an unterminated FLOAT', () => flood('8000 46', '31', ''), 'unterminated text argument at offset 3'],
    ['text FLOATs', () => flood('8000 28', '46310a', '6c2e'), { badShape: Math.floor((MiB - 5) / 3) }],
  ];

  it.each(cases)('%s', (_name, build, expected) => {
    const frame = build();
    expect(frame.length).toBeGreaterThan(MiB - 8);
    expect(frame.length).toBeLessThanOrEqual(MiB);
    if (typeof expected === 'object' && !(expected instanceof RegExp)) {
      expect(decode(frame).stats).toEqual(stats(expected));
    } else {
      const message = rejection(frame);
      if (expected instanceof RegExp) expect(message).toMatch(expected);
      else expect(message).toBe(expected);
    }
  });
});

describe('decoder state between frames', () => {
  it('stats and memo are reset for every frame', () => {
    const decoder = new PickleDecoder();
    expect(decode(payload(fixture('skipped-p2')), decoder).stats.badShape).toBe(9);
    expect(decode(p2list(item('a', 1, 2)), decoder)).toEqual({ points: [{ name: 'a', timestamp: 1, value: 2 }], stats: stats({ accepted: 1 }) });
    // A memo entry from an earlier frame must not be visible.
    expect(rejection(hex('8002 5d 6801 2e'), decoder)).toBe('memo key 1 not found');
    expect(rejection(hex('8002 5d 28 2e'), decoder)).toBe('STOP with a malformed stack');
    // ...nor an open MARK from a rejected frame.
    expect(decode(p2list(item('b', 3, 4)), decoder).points).toEqual([{ name: 'b', timestamp: 3, value: 4 }]);
  });
});

/**
 * Differential test: pickleparser (strict resolver) reads the same fixtures; its
 * items are put through carbon's per-item rules here. Where it differs from
 * CPython, the difference is asserted explicitly (deps.md §1.5, plus two more
 * found here: protocol-0 FLOAT "inf" reads as NaN and UNICODE escapes stay escaped).
 */
describe('differential: pickleparser as an independent oracle', () => {
  const parser = strictPickleParser();

  function toFloat(v: unknown): number | undefined {
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(v);
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v === 'string') return parsePyFloat(v);
    return undefined;
  }

  function viaPickleparser(frame: Buffer): Decoded {
    const top = parser.parse<unknown>(frame);
    if (!Array.isArray(top)) throw new Error('not a list');
    const s = stats({});
    const points: Datapoint[] = [];
    for (const raw of top as unknown[]) {
      if (!Array.isArray(raw) || raw.length !== 2 || !Array.isArray(raw[1]) || raw[1].length !== 2) { s.badShape++; continue; }
      const [name, [t, v]] = raw as [unknown, [unknown, unknown]];
      if (typeof name !== 'string') { s.badName++; continue; }
      const ts = toFloat(t);
      const value = toFloat(v);
      if (ts === undefined || value === undefined) { s.badNumber++; continue; }
      if (!Number.isFinite(ts)) { s.badTimestamp++; continue; }
      if (Number.isNaN(value)) { s.nanValue++; continue; }
      s.accepted++;
      points.push({ name, timestamp: ts > -2 && ts <= -1 ? NOW : ts, value });
    }
    return { points, stats: s };
  }

  type Patch = (d: Decoded) => void;
  const setValue = (name: string, value: number): Patch => (d) => {
    const p = d.points.find((x) => x.name === name);
    if (p === undefined) throw new Error(`no ${name}`);
    p.value = value;
  };
  const setTimestamp = (name: string, timestamp: number): Patch => (d) => {
    const p = d.points.find((x) => x.name === name);
    if (p === undefined) throw new Error(`no ${name}`);
    p.timestamp = timestamp;
  };
  const rename = (from: string, to: string): Patch => (d) => {
    for (const p of d.points) if (p.name === from) p.name = to;
  };
  const readsAsNan = (name: string): Patch => (d) => {
    d.points = d.points.filter((x) => x.name !== name);
    d.stats.accepted--;
    d.stats.nanValue++;
  };
  /** pickleparser decodes py2 str bytes with TextDecoder('ascii'), i.e. windows-1252 (latin-1 for these bytes). */
  const mojibake = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
  /** pickleparser reads LONG1 as unsigned: a negative n-byte value v comes out as v + 2**(8n). */
  const LONG1_UNSIGNED: Patch[] = [setValue('long.neg', 1096511627776), setValue('long.min64', 9223372036854775808)];

  const EXPECTED_DIFFERENCES: Record<string, Patch[]> = {
    'basic-p0': [
      rename('emoji.\u{1f4c8}.\u4e2d\u6587', 'emoji.\\U0001f4c8.\\u4e2d\\u6587'),
      readsAsNan('value.inf'),
      readsAsNan('value.ninf'),
    ],
    'basic-p2': LONG1_UNSIGNED,
    'basic-p3': LONG1_UNSIGNED,
    'basic-p4': LONG1_UNSIGNED,
    'basic-p5': LONG1_UNSIGNED,
    'py2-binstring': ['s\u00e9rvers.h\u00f4st.cpu', `${'\u00fc'.repeat(150)}.long`].map((n) => rename(n, mojibake(n))),
    'py2-p0-string': [
      rename('caf\u00e9.latency', 'caf\\xc3\\xa9.latency'),
      rename('back\\slash.tab\there', 'back\\\\slash.tab\\there'),
      rename('octal\u00fc', 'octal\\303\\274'),
    ],
    'long1-p2': [
      setValue('long.1', 1097364144127),
      setValue('long.3', 1095216660480),
      setValue('long.5', 280375465082873),
      setValue('long.7', 63050394783186944),
      setValue('long.9', 9223372036854775808),
      setValue('long.11', 1096511627776),
      setValue('long.13', 18374686479671627776),
    ],
    'long1-ts-p2': [setTimestamp('ts.neg', 1096511627776)],
  };

  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('every listed difference belongs to a fixture', () => {
    for (const id of Object.keys(EXPECTED_DIFFERENCES)) expect(benign.map((f) => f.id)).toContain(id);
  });

  it.each(benign.map((f) => [f.id, f] as const))('%s', (id, f) => {
    const expected = decode(payload(f));
    for (const patch of EXPECTED_DIFFERENCES[id] ?? []) patch(expected);
    expect(viaPickleparser(payload(f))).toEqual(expected);
  });

  it('pickleparser console.warns for every LONG1 beyond 2**53 (we do not)', () => {
    viaPickleparser(payload(fixture('basic-p2')));
    expect(warn.mock.calls).toEqual([
      [9007199254740992, 'exceeds MAX_SAFE_INTEGER. Precision may be lost'],
      [9223372036854775807, 'exceeds MAX_SAFE_INTEGER. Precision may be lost'],
      [9223372036854775808, 'exceeds MAX_SAFE_INTEGER. Precision may be lost'],
    ]);
    warn.mockClear();
    decode(payload(fixture('basic-p2')));
    expect(warn).not.toHaveBeenCalled();
  });

  it('with a strict resolver pickleparser also refuses the os.system frames', () => {
    for (const id of ['reduce-os-system-p0', 'reduce-os-system-p2', 'reduce-os-system-p4', 'classic-os-system']) {
      expect(() => parser.parse(payload(fixture(id)))).toThrow(/forbidden global (os|posix)\.system/);
    }
  });
});

test('LONG1 is rounded once, like float(int)', () => {
  // [('x', (1, 2**62 + 513))] at protocol 2; float(2**62 + 513) == 4611686018427388928.0
  const frame = Buffer.from('80025d28580100000078' + '4b01' + '8a08' + '0102000000000040' + '8686652e', 'hex');
  const batch = new MetricBatch();
  new PickleDecoder().decode(frame, batch, 0);
  expect(batch.values[0]).toBe(4611686018427388928);
});

test('APPEND may not reach a list below the current MARK (CPython: stack underflow)', () => {
  // PROTO 2, EMPTY_LIST, BININT1 1, MARK, APPEND, STOP
  const frame = Buffer.from([0x80, 2, 0x5d, 0x4b, 1, 0x28, 0x61, 0x2e]);
  expect(() => new PickleDecoder().decode(frame, new MetricBatch(), 0)).toThrow(/stack underflow/);
});
