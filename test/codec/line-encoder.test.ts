import { ByteWriter } from '../../src/codec/byte-writer';
import { formatTimestamp, formatValue, LineEncoder } from '../../src/codec/line-encoder';
import { NamePrefix } from '../../src/codec/name-prefix';
import { DatapointQueue } from '../../src/output/queue';

/** Expected texts from CPython: ("%.10f" % v).rstrip('0').rstrip('.') and "%d" % v, as carbon writes lines. */
describe('line output numbers, as carbon formats them', () => {
  it.each([
    [0, '0'],
    [1, '1'],
    [-1, '-1'],
    [12.5, '12.5'],
    [1e23, '99999999999999991611392'],
    [2 ** 64, '18446744073709551616'],
    [-(2 ** 64), '-18446744073709551616'],
    [2 ** 53, '9007199254740992'],
    [2 ** 53 + 2, '9007199254740994'],
    [1e21, '1000000000000000000000'],
    [0.1, '0.1'],
    [1e-11, '0'],
    [-1e-11, '-0'],
    [-3.25, '-3.25'],
    [123456789.123456789, '123456789.123456791'],
    [1e-5, '0.00001'],
  ])('value %p -> %s', (v, text) => {
    expect(formatValue(v)).toBe(text);
  });

  it('prints a value beyond 1e21 with every digit, like printf', () => {
    expect(formatValue(1.5e300)).toBe('1500000000000000078757140382806630373056702871662238732373781173267703686983362293679557062620671796065556665749325817265413784853040645863467188277180060474272580801389863705606745350692182135089053429852456199917621678558451461320111979114170213741868888183230085264257173504208294580298189100810240');
    expect(formatValue(Infinity)).toBe('inf');
    expect(formatValue(-Infinity)).toBe('-inf');
  });

  it.each([
    [1700000000.9, '1700000000'],
    [-1.5, '-1'],
    [2 ** 64, '18446744073709551616'],
    [0.4, '0'],
  ])('timestamp %p -> %s (truncated toward zero, %%d)', (t, text) => {
    expect(formatTimestamp(t)).toBe(text);
  });
});


describe('LineEncoder', () => {
  it('writes each line with its own timestamp, however they repeat and change, and the prefix before the name', () => {
    const points: [string, number, number][] = [
      ['a.b', 1_700_000_000, 1.5],
      ['c', 1_700_000_000, -2],
      ['d', 1_700_000_001.9, 0.1],
      ['e', 1_700_000_000, 1e23],
      ['é.x', 1_700_000_000, 3],
      ['f', 1_700_000_001, 4],
      ['g', -0, 5],
      ['h', 0, NaN],
    ];
    const q = new DatapointQueue(points.length);
    for (const [name, ts, v] of points) q.push(name, ts, v);
    const w = new ByteWriter(16);
    expect(new LineEncoder(new NamePrefix('KEY.', 'always')).encode(q, 100, w)).toBe(points.length);
    expect(w.take().toString('utf8')).toBe(
      [
        'KEY.a.b 1.5 1700000000',
        'KEY.c -2 1700000000',
        'KEY.d 0.1 1700000001',
        'KEY.e 99999999999999991611392 1700000000',
        'KEY.é.x 3 1700000000',
        'KEY.f 4 1700000001',
        'KEY.g 5 0',
        'KEY.h nan 0',
        '',
      ].join('\n'),
    );
  });
});
