import fixture from '../../fixtures/python-regex.json';
import { compilePythonRegex, PythonRegexError } from '../../../src/common/python/regex';

/** Python accepts these; we refuse them (a config error) rather than match differently. */
const UNSUPPORTED = new Map<string, RegExp>([
  ['(?x)a', /inline flag \(\?x\) is not supported/],
  ['\\N{DIGIT ONE}', /named characters are not supported/],
  ['(?i:a)', /unsupported group construct/],
  ['(?>a)', /unsupported group construct/],
]);

interface Case {
  pattern: string;
  error?: string;
  search?: string;
  searchI?: string;
}

const names = fixture.names;
const cases = fixture.cases as Case[];
const render = (bits: boolean[]): string => bits.map((b) => (b ? '1' : '0')).join('');
/**
 * Known residual under re.I: U+0345 COMBINING GREEK YPOGEGRAMMENI is not \w in Python, but JS `iu` matching
 * compares simple case folds, and U+0345 folds to U+03B9 (a letter), so no `iu` class can tell the two apart.
 */
const RESIDUAL_I = new Set(['\u0345']);
/** The names whose outcome differs, to make a failure readable. */
const diff = (ours: string, python: string, ignoreCase: boolean): string[] =>
  names.filter((n, i) => ours[i] !== python[i] && !(ignoreCase && RESIDUAL_I.has(n))).map((n) => JSON.stringify(n));

describe('compilePythonRegex: Python 3 re semantics (test/fixtures/gen-python-regex.py)', () => {
  it('covers the fixture', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    expect(names.length).toBeGreaterThanOrEqual(100);
  });

  it.each(cases.filter((c) => c.error === undefined && !UNSUPPORTED.has(c.pattern)).map((c) => [c.pattern, c] as const))(
    '%j: re.search and re.search(re.I) agree on every name',
    (pattern, c) => {
      for (const [ignoreCase, python] of [[false, c.search as string], [true, c.searchI as string]] as const) {
        const re = compilePythonRegex(pattern, { ignoreCase });
        const ours = render(names.map((n) => re.test(n)));
        expect({ ignoreCase, regex: re.source, differ: diff(ours, python, ignoreCase) }).toEqual({ ignoreCase, regex: re.source, differ: [] });
      }
    },
  );

  it.each(cases.filter((c) => c.error !== undefined).map((c) => [c.pattern, c.error] as const))('%j: refused, as re.compile refuses it (%s)', (pattern) => {
    expect(() => compilePythonRegex(pattern, { ignoreCase: false })).toThrow();
  });

  it.each([...UNSUPPORTED])('%j: refused with a clear error (Python accepts it; we cannot translate it)', (pattern, message) => {
    expect(cases.find((c) => c.pattern === pattern)?.error).toBeUndefined();
    expect(() => compilePythonRegex(pattern, { ignoreCase: false })).toThrow(PythonRegexError);
    expect(() => compilePythonRegex(pattern, { ignoreCase: false })).toThrow(message);
  });

  it('re.I case folding: every case-related pair of code points matches as in Python (incl. U+212A, U+017F, I/i/U+0130/U+0131)', () => {
    const wrong: string[] = [];
    for (const [a, b, python] of fixture.casefold as [number, number, boolean][]) {
      const hex = a.toString(16).padStart(8, '0');
      const lit = compilePythonRegex(`\\A\\U${hex}\\Z`, { ignoreCase: true }).test(String.fromCodePoint(b));
      const cls = compilePythonRegex(`\\A[\\U${hex}]\\Z`, { ignoreCase: true }).test(String.fromCodePoint(b));
      if (lit !== python || cls !== python) wrong.push(`U+${a.toString(16)} ~ U+${b.toString(16)}: python ${python}, ours ${lit}/${cls}`);
    }
    expect(wrong).toEqual([]);
    expect((fixture.casefold as unknown[]).length).toBeGreaterThan(2000);
  });

  it('the one known re.I residual: U+0345 counts as \\w (it folds to U+03B9)', () => {
    expect(compilePythonRegex('^\\w$', { ignoreCase: false }).test('\u0345')).toBe(false);
    expect(compilePythonRegex('^\\w$', { ignoreCase: true }).test('\u0345')).toBe(true); // Python: False
  });

  it('leading (?i) sets re.I; anchorStart is re.match', () => {
    expect(compilePythonRegex('(?i)^kelvin', { ignoreCase: false }).test('\u212aELVIN')).toBe(true);
    expect(compilePythonRegex('b|c', { ignoreCase: false, anchorStart: true }).test('ab')).toBe(false);
    expect(compilePythonRegex('b|c', { ignoreCase: false, anchorStart: true }).test('cd')).toBe(true);
    expect(compilePythonRegex('(?P<h>[^.]+)\\.(?P=h)', { ignoreCase: false, anchorStart: true }).exec('x.x')?.groups).toEqual({ h: 'x' });
  });
});
