import { baseNameFault, faultThreshold, NameFault, parseCharacterSet, StrictNameRules, type NameValidation } from '../../src/codec/name-validation';

const strict = new StrictNameRules({ allowedCharacters: 'A-Za-z0-9_.-', maxLength: 20 });

/** The fault as a listener at `level` sees it: the base checks, then strict's. */
function fault(name: string): NameFault {
  const base = baseNameFault(name);
  return base !== NameFault.None ? base : strict.fault(name);
}

const refuses = (level: NameValidation, name: string): boolean => fault(name) >= faultThreshold(level);

describe('name validation levels', () => {
  // [name, none, carbon, strict, the fault]
  it.each<[string, boolean, boolean, boolean, NameFault]>([
    ['servers.web01.cpu', false, false, false, NameFault.None],
    ['a-b_c.D9', false, false, false, NameFault.None],
    ['', true, true, true, NameFault.Unsafe],
    ['a b', true, true, true, NameFault.Unsafe],
    ['a\nb', true, true, true, NameFault.Unsafe],
    ['a\tb', true, true, true, NameFault.Unsafe],
    ['a\u0000b', true, true, true, NameFault.Unsafe],
    ['a\u007fb', true, true, true, NameFault.Unsafe],
    ['a\u001fb', true, true, true, NameFault.Unsafe],
    ['a\u0085b (NEL: str.split() splits on it)', true, true, true, NameFault.Unsafe],
    ['a\u00a0b (NBSP)', true, true, true, NameFault.Unsafe],
    ['a\u2028b', true, true, true, NameFault.Unsafe],
    ['a\u3000b', true, true, true, NameFault.Unsafe],
    ['a\u0080b (C1)', false, true, true, NameFault.Unprintable],
    ['a\u009fb (C1)', false, true, true, NameFault.Unprintable],
    ['a\ufeffb (BOM)', false, true, true, NameFault.Unprintable],
    ['a..b', false, false, true, NameFault.EmptyComponent],
    ['.lead', false, false, true, NameFault.EmptyComponent],
    ['trail.', false, false, true, NameFault.EmptyComponent],
    ['.', false, false, true, NameFault.EmptyComponent],
    ['a.;t=1', false, false, true, NameFault.EmptyComponent],
    ['a/b', false, false, true, NameFault.DisallowedCharacter],
    ['a.b;t=1 (no ; in the default set)', false, false, true, NameFault.DisallowedCharacter],
    ['m\u00e9trique', false, false, true, NameFault.DisallowedCharacter],
    ['x.\u{1f4c8}', false, false, true, NameFault.DisallowedCharacter],
    ['a..b/c (the empty component outranks the character)', false, false, true, NameFault.EmptyComponent],
    ['a'.repeat(20), false, false, false, NameFault.None],
    ['a'.repeat(21), false, false, true, NameFault.StrictTooLong],
  ])('%j: none %s, carbon %s, strict %s', (label, none, carbon, isStrict, expected) => {
    const name = label.replace(/ \(.*\)$/, '');
    expect(fault(name)).toBe(expected);
    expect([refuses('none', name), refuses('carbon', name), refuses('strict', name)]).toEqual([none, carbon, isStrict]);
  });

  it('checks components only in the path: tag values may hold dots and empty parts', () => {
    const tags = new StrictNameRules({ allowedCharacters: 'A-Za-z0-9_.;=-', maxLength: 100 });
    expect(tags.fault('cpu.user;host=a..b;dc=')).toBe(NameFault.None);
    expect(tags.fault('cpu..user;host=a')).toBe(NameFault.EmptyComponent);
    expect(tags.fault(';host=a')).toBe(NameFault.EmptyComponent);
  });
});

describe('parseCharacterSet', () => {
  const allows = (spec: string, chars: string): boolean[] => {
    const t = parseCharacterSet(spec) as Uint8Array;
    return [...chars].map((c) => t[c.charCodeAt(0)] === 1);
  };

  it('reads characters and ranges; a dash first or last is literal', () => {
    expect(allows('A-Za-z0-9_.-', 'aZ09_.-/ ;')).toEqual([true, true, true, true, true, true, true, false, false, false]);
    expect(allows('-a', '-ab')).toEqual([true, true, false]);
    expect(allows(':;=~+', ':;=~+a')).toEqual([true, true, true, true, true, false]);
  });

  it.each([
    ['', /at least one character/],
    ['a b', /printable ASCII .* not " "/],
    ['a\u00e9', /printable ASCII/],
    ['a-\u00e9', /printable ASCII/],
    ['z-a', /range z-a is backwards/],
  ])('refuses %j', (spec, message) => {
    expect(parseCharacterSet(spec)).toMatch(message);
  });
});
