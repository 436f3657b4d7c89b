import { parseAsciiFloat, parsePyFloat } from '../../../src/common/python/float';
import { fromJsonNumber, pyFloatCases, type PyFloatCase } from '../../helpers/fixtures';

/**
 * parsePyFloat / parseAsciiFloat against Python's float(), using the answers
 * gen-py-float.py recorded from a real interpreter (test/fixtures/py-float.json).
 */
const cases = pyFloatCases();
const expectedOf = (c: PyFloatCase): number | undefined => (c.expected === null ? undefined : fromJsonNumber(c.expected));
const show = (s: string): string => JSON.stringify(s);
const picked = cases.filter((c) => c.group !== 'random').map((c) => [show(c.input), c] as const);

/** Printable ASCII without spaces: what decodeLine hands parseAsciiFloat (a field, no whitespace). */
const isAsciiField = (s: string): boolean => /^[\x21-\x7e]+$/.test(s);

function ascii(s: string, start = 0): number | undefined {
  // Surround the field with bytes that would change the answer if read, to check the bounds.
  const buf = Buffer.from('9'.repeat(start) + s + '9e9', 'latin1');
  return parseAsciiFloat(buf, start, start + s.length);
}

describe('the fixture', () => {
  it('covers the forms the relay must accept and reject', () => {
    const inputs = new Set(cases.map((c) => c.input));
    for (const s of ['.5', '5.', '1_000', '-0', '1e400', 'inf', 'INFINITY', 'nan', '\u0661\u0662', '\uff11\uff12']) {
      expect(cases.find((c) => c.input === s)?.expected).not.toBeNull();
    }
    for (const s of ['0x10', '1,0', '1__0', '.', '1e', '', 'abc']) {
      expect(inputs.has(s)).toBe(true);
      expect(cases.find((c) => c.input === s)?.expected).toBeNull();
    }
    expect(cases.filter((c) => c.group === 'random')).toHaveLength(2000);
  });
});

describe('parsePyFloat agrees with Python float()', () => {
  it.each(picked)('%s', (_label, c) => {
    expect(parsePyFloat(c.input)).toBe(expectedOf(c));
  });

  it('on 2000 seeded random strings', () => {
    const wrong = cases
      .filter((c) => c.group === 'random')
      .filter((c) => !Object.is(parsePyFloat(c.input), expectedOf(c)))
      .map((c) => ({ input: c.input, python: c.expected, got: parsePyFloat(c.input) }));
    expect(wrong).toEqual([]);
  });
});

describe('parseAsciiFloat agrees with Python float() on ASCII fields', () => {
  const asciiCases = cases.filter((c) => isAsciiField(c.input));

  it.each(asciiCases.filter((c) => c.group !== 'random').map((c) => [show(c.input), c] as const))('%s', (_label, c) => {
    expect(ascii(c.input)).toBe(expectedOf(c));
    expect(ascii(c.input, 5)).toBe(expectedOf(c));
  });

  it('on the seeded random strings', () => {
    const random = asciiCases.filter((c) => c.group === 'random');
    expect(random.length).toBeGreaterThan(400);
    const wrong = random.filter((c) => !Object.is(ascii(c.input, 3), expectedOf(c))).map((c) => c.input);
    expect(wrong).toEqual([]);
  });
});

describe('parseAsciiFloat on plain decimals (its exact-division path)', () => {
  it('gives the correctly rounded double, as Number() and float() do, for decimals of up to 15 digits and beyond', () => {
    // seeded: every digit count 1..17 with the point anywhere, signs, leading and trailing zeros
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const wrong: string[] = [];
    for (let k = 0; k < 20_000; k++) {
      const digits = 1 + rand(17);
      let d = '';
      for (let j = 0; j < digits; j++) d += String(rand(10));
      const point = rand(digits + 1);
      const text = ['', '-', '+'][rand(3)] + d.slice(0, point) + '.' + d.slice(point);
      if (!Object.is(ascii(text, 2), Number(text))) wrong.push(text);
    }
    for (const text of ['0.1', '0.3', '-0.000', '999999999999.999', '9007199254740.993', '0.000000000000001', '123456789012345.', '.123456789012345']) {
      if (!Object.is(ascii(text), Number(text))) wrong.push(text);
    }
    expect(wrong).toEqual([]);
  });
});

describe('specific values (independent of the fixture)', () => {
  it.each<[string, number | undefined]>([
    ['-0', -0],
    ['+0', 0],
    ['1e400', Infinity],
    ['-1e400', -Infinity],
    ['1e-400', 0],
    ['-1e-400', -0],
    ['1_000', 1000],
    ['.5', 0.5],
    ['5.', 5],
    ['\u0661\u0662', 12],
    ['\uff11\uff12', 12],
    ['\u{1d7d7}', 9],
    ['iNfInItY', Infinity],
    ['-inf', -Infinity],
    ['0x10', undefined],
    ['1,0', undefined],
    ['1__0', undefined],
    ['.', undefined],
    ['1e', undefined],
    ['', undefined],
    ['abc', undefined],
    ['\ufeff1', undefined],
  ])('parsePyFloat(%j) is %p', (input, expected) => {
    expect(parsePyFloat(input)).toBe(expected);
  });

  it('nan in any case and sign is NaN', () => {
    for (const s of ['nan', 'NaN', 'NAN', '-nan', '+nan', ' nan\t']) expect(parsePyFloat(s)).toBeNaN();
  });

  it('integers past the 15-digit fast path round like float()', () => {
    expect(ascii('9007199254740993')).toBe(9007199254740992);
    expect(ascii('123456789012345678901234567890')).toBe(1.2345678901234568e29);
    expect(ascii('999999999999999')).toBe(999999999999999);
    expect(ascii('-999999999999999')).toBe(-999999999999999);
  });

  it('parseAsciiFloat of an empty range is undefined', () => {
    expect(parseAsciiFloat(Buffer.from('12'), 1, 1)).toBeUndefined();
  });
});

test('float() strips only " \\t\\n\\v\\f\\r" and non-ASCII whitespace, not \\x1c-\\x1f', () => {
  for (const s of ['\x1c1\x1f', '\x1d1', '1\x1e', '\x1f1']) expect([s, parsePyFloat(s)]).toEqual([s, undefined]);
});
