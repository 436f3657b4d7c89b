import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../src/config/config-error';
import { INI_ERROR_CODES, IniError, IniFile, type IniErrorKind } from '../../src/config/ini';

/** The stable code each kind must carry (a published contract: changing one is a breaking change). */
const CODE_OF_KIND: Record<IniErrorKind, string> = {
  ReadError: 'CF_ERR_CONFIG_READ',
  ParsingError: 'CF_ERR_CONFIG_INI',
  MissingSectionHeaderError: 'CF_ERR_CONFIG_INI',
  DuplicateSectionError: 'CF_ERR_CONFIG_INI',
  DuplicateOptionError: 'CF_ERR_CONFIG_INI',
  InterpolationSyntaxError: 'CF_ERR_CONFIG_INI',
  InterpolationMissingOptionError: 'CF_ERR_CONFIG_INI',
  InterpolationDepthError: 'CF_ERR_CONFIG_INI',
  NoSectionError: 'CF_ERR_CONFIG_CARBON_CONF',
  NoOptionError: 'CF_ERR_CONFIG_CARBON_CONF',
  NotABoolean: 'CF_ERR_CONFIG_CARBON_CONF',
};

/** The IniError `f` throws (fails the test if it returns or throws anything else). */
function iniError(f: () => unknown): IniError {
  try {
    f();
  } catch (err) {
    if (err instanceof IniError) return err;
    throw err;
  }
  throw new Error('no error thrown');
}

/** test/fixtures/ini-cases.json (gen-ini-cases.py): Python's configparser on each text. */
type PyError = { error: string };
interface IniCase {
  name: string;
  text: string;
  error?: { type: IniErrorKind; lineno?: number; lines?: number[] };
  sections?: string[];
  ordered?: string[];
  raw?: Record<string, Record<string, string>>;
  get?: Record<string, Record<string, string | PyError>>;
  items?: Record<string, [string, string][] | PyError>;
  boolean?: Record<string, Record<string, boolean | PyError>>;
}

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'ini-cases.json'), 'utf8')) as { cases: IniCase[] };
const FILE = '/etc/carbon/test.conf';

/** What our parser does, in the fixture's shape (Python exception names; getboolean's ValueError is NotABoolean). */
function attempt<T>(f: () => T): T | PyError {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof IniError)) throw err;
    return { error: err.kind === 'NotABoolean' ? 'ValueError' : err.kind };
  }
}

function parseError(text: string): IniError {
  try {
    IniFile.parse(text, FILE);
  } catch (err) {
    if (err instanceof IniError) return err;
    throw err;
  }
  throw new Error('parsed without error');
}

describe('IniFile against Python configparser (fixture)', () => {
  it('has the cases', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(40);
  });

  const failing = fixture.cases.filter((c) => c.error !== undefined);
  const parsing = fixture.cases.filter((c) => c.error === undefined);

  it.each(failing.map((c) => [c.name, c] as const))('%s: fails like Python', (_name, c) => {
    const err = parseError(c.text);
    const expected = c.error!;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.kind).toBe(expected.type);
    expect(err.code).toBe(CODE_OF_KIND[expected.type]);
    expect(err.where.file).toBe(FILE);
    expect(err.where.line).toBe(expected.lineno ?? expected.lines![0]);
    expect(err.message.startsWith(`${FILE}:${err.where.line}: `)).toBe(true);
    for (const line of expected.lines?.slice(1) ?? []) expect(err.message).toContain(String(line));
  });

  it.each(parsing.map((c) => [c.name, c] as const))('%s: parses like Python', (_name, c) => {
    const ini = IniFile.parse(c.text, FILE);
    expect(ini.sections()).toEqual(c.sections);
    expect(ini.orderedSections().map((h) => h.name)).toEqual(c.ordered);
    for (const section of ['DEFAULT', ...ini.sections()]) {
      const raw = ini.options(section).map((o) => [o.key, o.value]);
      expect(raw).toEqual(Object.entries(c.raw![section]));
      const gets = Object.fromEntries(Object.keys(c.raw![section]).map((k) => [k, attempt(() => ini.get(section, k))]));
      expect(gets).toEqual(c.get![section]);
      const bools = Object.fromEntries(Object.keys(c.raw![section]).map((k) => [k, attempt(() => ini.getBoolean(section, k))]));
      expect(bools).toEqual(c.boolean![section]);
      expect(attempt(() => ini.items(section).map((i) => [i.option.key, i.value]))).toEqual(c.items![section]);
    }
  });
});

describe('IniFile details Python does not report', () => {
  it('keeps each option line, its section and its key as written', () => {
    const ini = IniFile.parse('# c\n[DEFAULT]\nBase = /x\n\n[relay]\nLINE_RECEIVER_PORT = 2013\n  continued\nOther: %(base)s\n', FILE);
    expect(ini.option('relay', 'line_receiver_port')).toEqual({ key: 'line_receiver_port', name: 'LINE_RECEIVER_PORT', value: '2013\ncontinued', line: 6, section: 'relay' });
    expect(ini.option('relay', 'BASE')).toEqual({ key: 'base', name: 'Base', value: '/x', line: 3, section: 'DEFAULT' });
    expect(ini.lineOf('relay', 'other')).toBe(8);
    expect(ini.get('relay', 'OTHER')).toBe('/x');
    expect(ini.section('relay')?.line).toBe(5);
    expect(ini.orderedSections()).toEqual([{ name: 'DEFAULT', line: 2 }, { name: 'relay', line: 5 }]);
    expect(ini.hasOption('relay', 'Base')).toBe(true);
    expect(ini.hasOption('relay', 'nope')).toBe(false);
    expect(ini.hasOption('missing', 'base')).toBe(false);
    expect(ini.hasOption('DEFAULT', 'base')).toBe(true);
  });

  it('reports interpolation errors at the line of the value being read, in the section read', () => {
    const ini = IniFile.parse('[DEFAULT]\nd = %(s)s\n[a]\nx = 1\np = 100%\n[b]\nq = %(nope)s\nr = %(r)s\n', FILE);
    const check = (f: () => unknown, kind: IniErrorKind, message: string): void => {
      let caught: unknown;
      try {
        f();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(IniError);
      expect((caught as IniError).kind).toBe(kind);
      expect((caught as IniError).code).toBe(CODE_OF_KIND[kind]);
      expect((caught as IniError).message).toBe(message);
    };
    check(() => ini.get('a', 'p'), 'InterpolationSyntaxError', `${FILE}:5: [a] p: '%' must be followed by '%' or '(' (write %% for a literal '%')`);
    check(() => ini.items('a'), 'InterpolationMissingOptionError', `${FILE}:2: [a] d: %(s)s refers to an option set neither in [a] nor in [DEFAULT]`);
    check(() => ini.get('b', 'q'), 'InterpolationMissingOptionError', `${FILE}:7: [b] q: %(nope)s refers to an option set neither in [b] nor in [DEFAULT]`);
    check(() => ini.get('b', 'r'), 'InterpolationDepthError', `${FILE}:8: [b] r: %(...)s references nest more than 10 deep (a reference loop?)`);
    check(() => ini.get('c', 'x'), 'NoSectionError', `${FILE}: no section [c]`);
    check(() => ini.get('a', 'zz'), 'NoOptionError', `${FILE}: no option zz in [a]`);
  });

  it('names file, line, section and key when a value is not a boolean', () => {
    const ini = IniFile.parse('[rule]\npattern = x\nContinue = maybe\n', FILE);
    expect(() => ini.getBoolean('rule', 'continue')).toThrow(`${FILE}:3: [rule] Continue: not a boolean (use 1/yes/true/on or 0/no/false/off)`);
    expect(iniError(() => ini.getBoolean('rule', 'continue'))).toMatchObject({ kind: 'NotABoolean', code: 'CF_ERR_CONFIG_CARBON_CONF' });
  });

  it('maps every kind onto its stable code', () => {
    expect(INI_ERROR_CODES).toEqual(CODE_OF_KIND);
    expect(Object.isFrozen(INI_ERROR_CODES)).toBe(true);
  });

  it('names the lines of duplicates and bad lines', () => {
    expect(() => IniFile.parse('[a]\nx = 1\n[a]\n', FILE)).toThrow(`${FILE}:3: section [a] already exists (line 1)`);
    expect(() => IniFile.parse('[a]\nKey = 1\nKEY = 2\n', FILE)).toThrow(`${FILE}:3: [a] KEY: option KEY is already set in [a] (line 2)`);
    expect(() => IniFile.parse('[a]\njunk\nx = 1\nmore junk\nand more\n', FILE)).toThrow(`${FILE}:2: not a [section] header, a "key = value" line or a comment (also on lines 4, 5)`);
    expect(() => IniFile.parse('x = 1\n', FILE)).toThrow(`${FILE}:1: a [section] header must come before the first option`);
    expect(iniError(() => IniFile.parse('[a]\nx = 1\n[a]\n', FILE))).toMatchObject({ kind: 'DuplicateSectionError', code: 'CF_ERR_CONFIG_INI' });
    expect(iniError(() => IniFile.parse('[a]\njunk\n', FILE))).toMatchObject({ kind: 'ParsingError', code: 'CF_ERR_CONFIG_INI' });
  });

  describe('read()', () => {
    let dir: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ini-test-'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('reads UTF-8 with any line ending', () => {
      const f = path.join(dir, 'crlf.conf');
      fs.writeFileSync(f, '[s]\r\nname = caf\u00e9\r\n  more\rk = v\n');
      const ini = IniFile.read(f);
      expect(ini.get('s', 'name')).toBe('caf\u00e9\nmore');
      expect(ini.lineOf('s', 'k')).toBe(4);
      expect(ini.file).toBe(f);
    });

    it('rejects a byte order mark like Python, with a hint', () => {
      const f = path.join(dir, 'bom.conf');
      fs.writeFileSync(f, '\ufeff[s]\nk = v\n');
      expect(() => IniFile.read(f)).toThrow(`${f}:1: a [section] header must come before the first option (the file starts with a byte order mark)`);
    });

    it('rejects invalid UTF-8 and missing files', () => {
      const f = path.join(dir, 'latin1.conf');
      fs.writeFileSync(f, Buffer.from('[s]\nk = caf\xe9\n', 'latin1'));
      expect(() => IniFile.read(f)).toThrow(`${f}: not valid UTF-8`);
      expect(() => IniFile.read(path.join(dir, 'missing.conf'))).toThrow(/missing\.conf: cannot read file: ENOENT/);
      expect(iniError(() => IniFile.read(f))).toMatchObject({ kind: 'ReadError', code: 'CF_ERR_CONFIG_READ' });
      expect(iniError(() => IniFile.read(path.join(dir, 'missing.conf')))).toMatchObject({ kind: 'ReadError', code: 'CF_ERR_CONFIG_READ' });
    });
  });
});
