import { accept, decodeLine, LineVerdict } from '../../src/codec/line-decoder';
import { MetricBatch } from '../../src/model/metric';
import { batchDatapoints, type Datapoint } from '../helpers/fixtures';

const NOW = 1_700_000_123.25;

/** Decode one line placed between junk bytes, so reading outside [start, end) would show. */
function decode(line: string | Buffer, timestampOptional = false): { verdict: LineVerdict; points: Datapoint[] } {
  const body = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  const buf = Buffer.concat([Buffer.from('x 9 9\n'), body, Buffer.from('\n7 7 7')]);
  const batch = new MetricBatch(1);
  const verdict = decodeLine(buf, 6, 6 + body.length, batch, NOW, timestampOptional);
  return { verdict, points: batchDatapoints(batch) };
}

const dp = (name: string, value: number, timestamp: number): Datapoint => ({ name, value, timestamp });

describe('decodeLine: accepted lines', () => {
  it.each<[string, string | Buffer, Datapoint]>([
    ['plain', 'servers.web01.cpu 42.5 1700000000', dp('servers.web01.cpu', 42.5, 1700000000)],
    ['integers', 'a.b 1 2', dp('a.b', 1, 2)],
    ['fractional timestamp kept', 'a.b 1 1700000000.75', dp('a.b', 1, 1700000000.75)],
    ['leading/trailing/multiple spaces', '   a.b    1     2   ', dp('a.b', 1, 2)],
    ['tabs', 'a.b\t1\t\t2', dp('a.b', 1, 2)],
    ['\\x1c..\\x1f separators', 'a.b\x1c1\x1d\x1e2\x1f', dp('a.b', 1, 2)],
    ['\\v and \\f separators', 'a.b\v1\f2', dp('a.b', 1, 2)],
    ['\\r left by a \\r\\n ending', 'a.b 1 2\r', dp('a.b', 1, 2)],
    ['sign and exponent forms', 'a +1.5e3 -2.5E-1', dp('a', 1500, -0.25)],
    ['.5 and 5.', 'a .5 5.', dp('a', 0.5, 5)],
    ['underscores', 'a 1_000 1_700_000_000', dp('a', 1000, 1700000000)],
    ['inf value is accepted', 'a.b inf 2', dp('a.b', Infinity, 2)],
    ['-Infinity value is accepted', 'a.b -Infinity 2', dp('a.b', -Infinity, 2)],
    ['1e400 value is +inf', 'a.b 1e400 2', dp('a.b', Infinity, 2)],
    ['-0 value keeps its sign', 'a.b -0 2', dp('a.b', -0, 2)],
    ['16+ digit values', 'a 12345678901234567890 2', dp('a', 12345678901234567890, 2)],
    ['leading zeros', 'a 007 0002', dp('a', 7, 2)],
    ['UTF-8 name', 'm\u00e9trique.\u00fc 1 2', dp('m\u00e9trique.\u00fc', 1, 2)],
    ['CJK and emoji name', '\u6307\u6807.\u{1f4c8} 3 4', dp('\u6307\u6807.\u{1f4c8}', 3, 4)],
    ['Arabic-Indic digits', 'a \u0661\u0662 \u0661\u0667\u0660\u0660', dp('a', 12, 1700)],
    ['fullwidth digits', 'a \uff11\uff12 \uff12', dp('a', 12, 2)],
    ['NBSP and EM SPACE separators', 'a\u00a01\u20032', dp('a', 1, 2)],
    ['NEL (U+0085) separator', 'a\u0085 1 2', dp('a', 1, 2)],
    ['U+2028/U+2029/U+3000 separators', '\u3000a\u20281\u20292\u3000', dp('a', 1, 2)],
    ['\\x1c in a non-ASCII line', '\u00e9\x1c1\x1f2', dp('\u00e9', 1, 2)],
    ['U+FEFF is not a separator', 'a\ufeff 1 2', dp('a\ufeff', 1, 2)],
    ['U+200B is not a separator', 'a\u200b 1 2', dp('a\u200b', 1, 2)],
    ['name with odd ASCII is kept as is', 'cpu{host="a"};x=y 1 2', dp('cpu{host="a"};x=y', 1, 2)],
    ['NUL inside the name', 'foo\x00bar 1 2', dp('foo\x00bar', 1, 2)],
  ])('%s', (_label, line, expected) => {
    expect(decode(line)).toEqual({ verdict: LineVerdict.Ok, points: [expected] });
  });
});

describe('decodeLine: timestamps meaning "now" (int(ts) == -1)', () => {
  it.each<[string, number]>([
    ['-1', NOW],
    ['-1.0', NOW],
    ['-1.9', NOW],
    ['-1.999999', NOW],
    ['-1e0', NOW],
    ['-1.5', NOW],
    ['-0.5', -0.5],
    ['-0.999', -0.999],
    ['-2', -2],
    ['-2.0', -2],
    ['0', 0],
    ['-0', -0],
    ['1', 1],
    ['\u0661', 1],
    ['-\u0661', NOW],
  ])('timestamp %s -> %p', (ts, expected) => {
    expect(decode(`a 1 ${ts}`)).toEqual({ verdict: LineVerdict.Ok, points: [dp('a', 1, expected)] });
  });
});

describe('decodeLine: rejected lines leave the batch untouched', () => {
  const bytes = (...b: number[]): Buffer => Buffer.from(b);
  it.each<[string, string | Buffer, LineVerdict]>([
    ['empty', '', LineVerdict.Empty],
    ['spaces only', '    ', LineVerdict.Empty],
    ['\\r only (blank \\r\\n line)', '\r', LineVerdict.Empty],
    ['ASCII whitespace only', '\t\v\f\x1c\x1f', LineVerdict.Empty],
    ['Unicode whitespace only', '\u3000\u00a0 \u2028', LineVerdict.Empty],
    ['one field', 'a.b', LineVerdict.Malformed],
    ['two fields', 'a.b 1', LineVerdict.Malformed],
    ['four fields', 'a.b 1 2 3', LineVerdict.Malformed],
    ['four fields, non-ASCII', '\u00e9 1 2 3', LineVerdict.Malformed],
    ['five fields', 'a b c d e', LineVerdict.Malformed],
    ['U+FEFF does not split', 'a\ufeff1 2', LineVerdict.Malformed],
    ['text value', 'a.b abc 2', LineVerdict.Malformed],
    ['text timestamp', 'a.b 1 abc', LineVerdict.Malformed],
    ['hex value', 'a.b 0x10 2', LineVerdict.Malformed],
    ['comma decimal', 'a.b 1,5 2', LineVerdict.Malformed],
    ['double underscore', 'a.b 1__0 2', LineVerdict.Malformed],
    ['lone dot', 'a.b . 2', LineVerdict.Malformed],
    ['dangling exponent', 'a.b 1e 2', LineVerdict.Malformed],
    ['superscript digit', 'a.b \u00b2 2', LineVerdict.Malformed],
    ['invalid UTF-8 (0xff) in the name', bytes(0x61, 0xff, 0x20, 0x31, 0x20, 0x32), LineVerdict.Malformed],
    ['invalid UTF-8 (lone continuation)', bytes(0x61, 0x80, 0x20, 0x31, 0x20, 0x32), LineVerdict.Malformed],
    ['invalid UTF-8 (overlong /)', bytes(0x61, 0xc0, 0xaf, 0x20, 0x31, 0x20, 0x32), LineVerdict.Malformed],
    ['invalid UTF-8 (encoded surrogate)', bytes(0x61, 0xed, 0xa0, 0x80, 0x20, 0x31, 0x20, 0x32), LineVerdict.Malformed],
    ['invalid UTF-8 (truncated sequence at the end)', bytes(0x61, 0x20, 0x31, 0x20, 0x32, 0xe2, 0x82), LineVerdict.Malformed],
    ['invalid UTF-8 in the value', bytes(0x61, 0x20, 0x31, 0xa0, 0x20, 0x32), LineVerdict.Malformed],
    ['latin-1 byte 0xa0 is not a separator', bytes(0x61, 0xa0, 0x31, 0x20, 0x32), LineVerdict.Malformed],
    ['nan value', 'a.b nan 2', LineVerdict.NanValue],
    ['NaN value', 'a.b NaN 2', LineVerdict.NanValue],
    ['-nan value', 'a.b -nan 2', LineVerdict.NanValue],
    ['nan timestamp', 'a.b 1 nan', LineVerdict.BadTimestamp],
    ['inf timestamp', 'a.b 1 inf', LineVerdict.BadTimestamp],
    ['-Infinity timestamp', 'a.b 1 -Infinity', LineVerdict.BadTimestamp],
    ['1e400 timestamp', 'a.b 1 1e400', LineVerdict.BadTimestamp],
    // Carbon checks the value first (silently dropping it); we check the timestamp first.
    ['nan value and inf timestamp', 'a.b nan inf', LineVerdict.BadTimestamp],
  ])('%s', (_label, line, verdict) => {
    expect(decode(line)).toEqual({ verdict, points: [] });
  });
});

describe('decodeLine with timestampOptional (Hosted Graphite\'s "name value")', () => {
  const NOW_WHOLE = Math.floor(NOW);

  it.each<[string, string | Buffer, Datapoint]>([
    ["Hosted Graphite's example", 'KEY.foo 1.2', dp('KEY.foo', 1.2, NOW_WHOLE)],
    ['surrounding whitespace and \\r', '  KEY.foo\t-3e2 \r', dp('KEY.foo', -300, NOW_WHOLE)],
    ['non-ASCII name (the string path)', 'm\u00e9trique 7', dp('m\u00e9trique', 7, NOW_WHOLE)],
    ['non-ASCII separator (the string path)', 'a.b\u30007', dp('a.b', 7, NOW_WHOLE)],
  ])('%s: stamped with the clock in whole seconds, and says so', (_label, line, expected) => {
    expect(decode(line, true)).toEqual({ verdict: LineVerdict.OkTimestampAssigned, points: [expected] });
  });

  it('leaves three-field lines as they are (Ok, their own timestamp; -1 still means now, unfloored)', () => {
    expect(decode('a.b 1 1700000000', true)).toEqual({ verdict: LineVerdict.Ok, points: [dp('a.b', 1, 1700000000)] });
    expect(decode('a.b 1 -1', true)).toEqual({ verdict: LineVerdict.Ok, points: [dp('a.b', 1, NOW)] });
  });

  it.each<[string, string | Buffer, LineVerdict]>([
    ['one field', 'a.b', LineVerdict.Malformed],
    ['one field, non-ASCII', '\u00e9', LineVerdict.Malformed],
    ['four fields', 'a.b 1 2 3', LineVerdict.Malformed],
    ['text value', 'a.b abc', LineVerdict.Malformed],
    ['text value, non-ASCII', '\u00e9 abc', LineVerdict.Malformed],
    ['nan value', 'a.b nan', LineVerdict.NanValue],
    ['blank', ' ', LineVerdict.Empty],
  ])('still rejects %s', (_label, line, verdict) => {
    expect(decode(line, true)).toEqual({ verdict, points: [] });
  });

  it('is off by default: a two-field line is malformed, as in carbon', () => {
    expect(decode('KEY.foo 1.2')).toEqual({ verdict: LineVerdict.Malformed, points: [] });
    expect(decode('m\u00e9trique 7')).toEqual({ verdict: LineVerdict.Malformed, points: [] });
  });
});

describe('decodeLine: batches', () => {
  it('appends to the batch in order and grows it', () => {
    const batch = new MetricBatch(1);
    const text = 'a 1 10\nb 2 20\nbad\nc 3 -1\n\u00e9 4 40';
    const buf = Buffer.from(text);
    const verdicts: LineVerdict[] = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl < 0 ? buf.length : nl;
      verdicts.push(decodeLine(buf, start, end, batch, NOW));
      if (nl < 0) break;
      start = nl + 1;
    }
    expect(verdicts).toEqual([LineVerdict.Ok, LineVerdict.Ok, LineVerdict.Malformed, LineVerdict.Ok, LineVerdict.Ok]);
    expect(batchDatapoints(batch)).toEqual([dp('a', 1, 10), dp('b', 2, 20), dp('c', 3, NOW), dp('\u00e9', 4, 40)]);
  });
});

describe('accept (shared by every receiver)', () => {
  it.each<[number, number, LineVerdict, Datapoint[]]>([
    [1, 100, LineVerdict.Ok, [dp('n', 1, 100)]],
    [NaN, 100, LineVerdict.NanValue, []],
    [1, NaN, LineVerdict.BadTimestamp, []],
    [1, Infinity, LineVerdict.BadTimestamp, []],
    [1, -Infinity, LineVerdict.BadTimestamp, []],
    [Infinity, 100, LineVerdict.Ok, [dp('n', Infinity, 100)]],
    [1, -1, LineVerdict.Ok, [dp('n', 1, NOW)]],
    [1, -1.9999, LineVerdict.Ok, [dp('n', 1, NOW)]],
    [1, -2, LineVerdict.Ok, [dp('n', 1, -2)]],
    [1, -0.9999, LineVerdict.Ok, [dp('n', 1, -0.9999)]],
  ])('value %p, timestamp %p', (value, ts, verdict, points) => {
    const batch = new MetricBatch();
    expect(accept('n', value, ts, batch, NOW)).toBe(verdict);
    expect(batchDatapoints(batch)).toEqual(points);
  });
});
