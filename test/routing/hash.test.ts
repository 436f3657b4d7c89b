import { MURMUR3_VECTORS } from '../helpers/murmur3-vectors';
import { carbonHash, fnv1a32, md5Position, murmur3x86_32, pythonStrRepr, pythonTupleRepr } from '../../src/routing/hash';

/**
 * Every expected value here is a literal: md5/fnv1a positions from Debian
 * graphite-carbon 1.1.7's carbon.hashing.carbonHash, mmh3 from the pure-Python
 * MurmurHash3 the interop test checks against published vectors, reprs from
 * CPython 3.11 repr()/str().
 */

describe('carbonHash', () => {
  // [key, carbon_ch, fnv1a_ch, mmh3_ch]
  const table: [string, number, number, number][] = [
    ['servers.host1.cpu', 52070, 43548, 267050601],
    ["('127.0.0.1', 'a'):0", 24043, 14756, 416806294],
    ['sérvers.ü', 4632, 60773, -1408781088],
    ['', 54301, 7385, 0],
    ['📈.up', 56080, 7032, -200760356],
    ["('hôst-ü', 'a'):0", 18619, 40664, -861368242],
    ['("o\'brien", None):99', 35374, 59151, 1989577872],
    ['0-None', 5281, 18379, 151471283],
    ['a;x=1;y=2', 63634, 61728, 355249059],
    ['a;y=2;x=1', 64352, 36712, -1585756430],
    // carbon.md §5 worked example (verified by running Debian carbon)
    ['foo.bar', 1273, 58720, -154558337],
    ['servers.web01.cpu.user', 28773, 22683, 1529179887],
    ['a.b.c.d', 54437, 65284, 210456028],
    ['x', 40404, 44427, 1050319643],
  ];
  it.each(table)('%j -> md5 %i, fnv1a %i, mmh3 %i', (key, md5, fnv, mmh3) => {
    expect(carbonHash(key, 'carbon_ch')).toBe(md5);
    expect(carbonHash(key, 'fnv1a_ch')).toBe(fnv);
    expect(carbonHash(key, 'mmh3_ch')).toBe(mmh3);
  });

  it('md5Position is the first two digest bytes, big-endian', () => {
    // md5('') = d41d8cd98f00b204e9800998ecf8427e
    expect(md5Position('')).toBe(0xd41d);
  });
});

describe('fnv1a32', () => {
  it.each([
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ])('%j -> %i', (s, h) => {
    expect(fnv1a32(s)).toBe(h);
    expect(fnv1a32(Buffer.from(s))).toBe(h);
  });

  it('hashes UTF-8 bytes, not UTF-16 code units', () => {
    const s = 'sérvers.ü📈';
    expect(fnv1a32(s)).toBe(fnv1a32(Buffer.from(s, 'utf8')));
    expect(fnv1a32(s)).not.toBe(fnv1a32(Buffer.from(s, 'latin1')));
  });
});

describe('murmur3x86_32 (published reference values)', () => {
  it.each(MURMUR3_VECTORS)('%j seed %i -> %i', (s, seed, h) => {
    expect(murmur3x86_32(Buffer.from(s, 'latin1'), seed)).toBe(h);
  });

  it('mmh3_ch is the signed value, as Python mmh3.hash() returns', () => {
    expect(carbonHash('foo', 'mmh3_ch')).toBe(-156908512); // mmh3 README: mmh3.hash("foo")
    expect(carbonHash('foo', 'mmh3_ch')).toBe(4138058784 - 2 ** 32);
    expect(carbonHash('hello', 'mmh3_ch')).toBe(613153351);
  });
});

describe('pythonStrRepr / pythonTupleRepr (CPython 3.11)', () => {
  // [s, repr(s), str((s, None)), str((s, 'a'))]
  const table: [string, string, string, string][] = [
    ['127.0.0.1', "'127.0.0.1'", "('127.0.0.1', None)", "('127.0.0.1', 'a')"],
    ['::1', "'::1'", "('::1', None)", "('::1', 'a')"],
    ["o'brien", '"o\'brien"', '("o\'brien", None)', '("o\'brien", \'a\')'],
    ['q"uote\'both', "'q\"uote\\'both'", "('q\"uote\\'both', None)", "('q\"uote\\'both', 'a')"],
    ['"only-double', "'\"only-double'", "('\"only-double', None)", "('\"only-double', 'a')"],
    ['back\\slash', "'back\\\\slash'", "('back\\\\slash', None)", "('back\\\\slash', 'a')"],
    ['tab\there', "'tab\\there'", "('tab\\there', None)", "('tab\\there', 'a')"],
    ['nl\nx', "'nl\\nx'", "('nl\\nx', None)", "('nl\\nx', 'a')"],
    ['cr\rx', "'cr\\rx'", "('cr\\rx', None)", "('cr\\rx', 'a')"],
    ['bell\u0007', "'bell\\x07'", "('bell\\x07', None)", "('bell\\x07', 'a')"],
    ['del\u007f', "'del\\x7f'", "('del\\x7f', None)", "('del\\x7f', 'a')"],
    ['nul\u0000', "'nul\\x00'", "('nul\\x00', None)", "('nul\\x00', 'a')"],
    ['nbsp\u00a0x', "'nbsp\\xa0x'", "('nbsp\\xa0x', None)", "('nbsp\\xa0x', 'a')"],
    ['soft\u00adhyphen', "'soft\\xadhyphen'", "('soft\\xadhyphen', None)", "('soft\\xadhyphen', 'a')"],
    ['latin1\u00e9', "'latin1\u00e9'", "('latin1\u00e9', None)", "('latin1\u00e9', 'a')"],
    ['h\u00f4st-\u00fc', "'h\u00f4st-\u00fc'", "('h\u00f4st-\u00fc', None)", "('h\u00f4st-\u00fc', 'a')"],
    ['zw\u200bsp', "'zw\\u200bsp'", "('zw\\u200bsp', None)", "('zw\\u200bsp', 'a')"],
    ['line\u2028sep', "'line\\u2028sep'", "('line\\u2028sep', None)", "('line\\u2028sep', 'a')"],
    ['ideographic\u3000space', "'ideographic\\u3000space'", "('ideographic\\u3000space', None)", "('ideographic\\u3000space', 'a')"],
    ['emoji\ud83d\udcc8', "'emoji\ud83d\udcc8'", "('emoji\ud83d\udcc8', None)", "('emoji\ud83d\udcc8', 'a')"],
    ['private\ue000', "'private\\ue000'", "('private\\ue000', None)", "('private\\ue000', 'a')"],
    ['unassigned\u0378', "'unassigned\\u0378'", "('unassigned\\u0378', None)", "('unassigned\\u0378', 'a')"],
    ['plane14\udb40\udc01', "'plane14\\U000e0001'", "('plane14\\U000e0001', None)", "('plane14\\U000e0001', 'a')"],
    ['astral-private\udb80\udc00', "'astral-private\\U000f0000'", "('astral-private\\U000f0000', None)", "('astral-private\\U000f0000', 'a')"],
    ['surrogate\ud800', "'surrogate\\ud800'", "('surrogate\\ud800', None)", "('surrogate\\ud800', 'a')"],
    ['cjk\u6307\u6807', "'cjk\u6307\u6807'", "('cjk\u6307\u6807', None)", "('cjk\u6307\u6807', 'a')"],
    ['combining e\u0301', "'combining e\u0301'", "('combining e\u0301', None)", "('combining e\u0301', 'a')"],
    ['bom\ufeff', "'bom\\ufeff'", "('bom\\ufeff', None)", "('bom\\ufeff', 'a')"],
    ['c1\u0085', "'c1\\x85'", "('c1\\x85', None)", "('c1\\x85', 'a')"],
  ];
  it.each(table)('%j', (s, repr, tupleNone, tupleA) => {
    expect(pythonStrRepr(s)).toBe(repr);
    expect(pythonTupleRepr(s, null)).toBe(tupleNone);
    expect(pythonTupleRepr(s, 'a')).toBe(tupleA);
  });

  it("keeps the string 'None' apart from None", () => {
    expect(pythonTupleRepr('h', 'None')).toBe("('h', 'None')");
    expect(pythonTupleRepr('h', null)).toBe("('h', None)");
  });
});
