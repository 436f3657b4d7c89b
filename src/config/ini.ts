import fs from 'node:fs';
import { ConfigError, ConfigErrorCode, type ConfigErrorLocation } from './config-error';
import { PY_WHITESPACE, pyStrip } from '../common/python/str';

/**
 * INI files read the way carbon reads carbon.conf and relay-rules.conf: Python 3
 * `configparser.ConfigParser()` with its defaults (strict, BasicInterpolation,
 * `=`/`:` separators, `#`/`;` full-line comments only, empty lines kept inside
 * values, `[DEFAULT]` inherited by every section).
 *
 * Parsing follows `RawConfigParser._read` line by line; interpolation happens on
 * read (get/items), as in Python, so a bad `%` only fails for the sections that
 * are actually read.
 */

/** The Python exception each error corresponds to (tests compare them with configparser's). */
export type IniErrorKind =
  | 'ReadError'
  | 'ParsingError'
  | 'MissingSectionHeaderError'
  | 'DuplicateSectionError'
  | 'DuplicateOptionError'
  | 'NoSectionError'
  | 'NoOptionError'
  | 'InterpolationSyntaxError'
  | 'InterpolationMissingOptionError'
  | 'InterpolationDepthError'
  | 'NotABoolean';

/**
 * The code each kind carries: the file cannot be read; configparser refuses its
 * text (syntax, duplicates, `%` interpolation); or what carbon reads from it is
 * absent or not of the type carbon wants (a carbon.conf problem, like a setting
 * that is not a number).
 */
export const INI_ERROR_CODES: Readonly<Record<IniErrorKind, ConfigErrorCode>> = Object.freeze({
  ReadError: ConfigErrorCode.READ,
  ParsingError: ConfigErrorCode.INI,
  MissingSectionHeaderError: ConfigErrorCode.INI,
  DuplicateSectionError: ConfigErrorCode.INI,
  DuplicateOptionError: ConfigErrorCode.INI,
  InterpolationSyntaxError: ConfigErrorCode.INI,
  InterpolationMissingOptionError: ConfigErrorCode.INI,
  InterpolationDepthError: ConfigErrorCode.INI,
  NoSectionError: ConfigErrorCode.CARBON_CONF,
  NoOptionError: ConfigErrorCode.CARBON_CONF,
  NotABoolean: ConfigErrorCode.CARBON_CONF,
});

export class IniError extends ConfigError {
  constructor(
    readonly kind: IniErrorKind,
    problem: string,
    where: ConfigErrorLocation,
  ) {
    super(problem, where, INI_ERROR_CODES[kind]);
  }
}

export const DEFAULT_SECTION = 'DEFAULT';

/** configparser.MAX_INTERPOLATION_DEPTH */
const MAX_INTERPOLATION_DEPTH = 10;

const BOOLEAN_STATES: Readonly<Record<string, boolean>> = {
  '1': true, yes: true, true: true, on: true,
  '0': false, no: false, false: false, off: false,
};

const WS = `[${PY_WHITESPACE}]`;
const RSTRIP_RE = new RegExp(`${WS}+$`);
const NONSPACE_RE = new RegExp(`[^${PY_WHITESPACE}]`);
/** RawConfigParser.SECTCRE: `\[(?P<header>.+)\]`, matched at the start of the stripped line (greedy: up to the last `]`). */
const SECT_RE = /^\[(.+)\]/s;
/** RawConfigParser.OPTCRE: the first `=` or `:` separates the option from its value. */
const OPT_RE = new RegExp(`^(.*?)${WS}*([=:])${WS}*(.*)$`, 's');
/** BasicInterpolation._KEYCRE */
const KEY_RE = /^%\(([^)]+)\)s/;

/** One `key = value` line (plus its continuation lines). */
export interface IniOption {
  /** Lower-cased, as configparser stores it (optionxform). */
  readonly key: string;
  /** As written on its line (for messages). */
  readonly name: string;
  /** The raw value: continuation lines joined with '\n', not interpolated. */
  readonly value: string;
  /** 1-based line of the `key = value` line. */
  readonly line: number;
  /** The section it was written in (DEFAULT for inherited values). */
  readonly section: string;
}

export interface IniSection {
  readonly name: string;
  /** The line of its (first) header. */
  readonly line: number;
  readonly options: ReadonlyMap<string, IniOption>;
}

/** A section header line, as carbon's OrderedConfigParser finds them. */
export interface IniHeader {
  readonly name: string;
  readonly line: number;
}

interface MutableOption {
  key: string;
  name: string;
  lines: string[];
  line: number;
  section: string;
}

export class IniFile {
  private constructor(
    readonly file: string,
    private readonly text: string,
    private readonly defaultOptions: Map<string, IniOption>,
    private readonly sectionMap: Map<string, IniSection>,
  ) {}

  /** Read and parse `file` (UTF-8; a byte order mark is kept, as Python's utf-8 codec does, and so fails). */
  static read(file: string): IniFile {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (err) {
      throw new IniError('ReadError', `cannot read file: ${(err as Error).message}`, { file });
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      throw new IniError('ReadError', 'not valid UTF-8', { file });
    }
    return IniFile.parse(text, file);
  }

  static parse(text: string, file: string): IniFile {
    const defaults = new Map<string, MutableOption>();
    const sections = new Map<string, { name: string; line: number; options: Map<string, MutableOption> }>();
    const added = new Set<string>();
    const badLines: number[] = [];
    let cursect: Map<string, MutableOption> | undefined;
    let sectname = '';
    let optname: string | undefined;
    let indentLevel = 0;

    const lines = splitLines(text);
    for (let i = 0; i < lines.length; i++) {
      const lineno = i + 1;
      const line = lines[i];
      const stripped = pyStrip(line);
      const comment = stripped.startsWith('#') || stripped.startsWith(';');
      const value = comment ? '' : stripped;
      if (value === '') {
        // empty_lines_in_values: kept in the value (trailing ones are stripped at the end), unless a comment
        if (!comment && cursect !== undefined && optname) cursect.get(optname)?.lines.push('');
        continue;
      }
      const nonspace = NONSPACE_RE.exec(line);
      const curIndent = nonspace === null ? 0 : nonspace.index;
      if (cursect !== undefined && optname && curIndent > indentLevel) {
        cursect.get(optname)?.lines.push(value);
        continue;
      }
      indentLevel = curIndent;
      const header = SECT_RE.exec(value);
      if (header !== null) {
        sectname = header[1];
        const existing = sections.get(sectname);
        if (existing !== undefined) {
          throw new IniError('DuplicateSectionError', `section [${sectname}] already exists (line ${existing.line})`, { file, line: lineno });
        } else if (sectname === DEFAULT_SECTION) {
          cursect = defaults;
        } else {
          cursect = new Map();
          sections.set(sectname, { name: sectname, line: lineno, options: cursect });
        }
        added.add(sectname);
        optname = undefined;
      } else if (cursect === undefined) {
        const bom = line.startsWith('\ufeff') ? ' (the file starts with a byte order mark)' : '';
        throw new IniError('MissingSectionHeaderError', `a [section] header must come before the first option${bom}`, { file, line: lineno });
      } else {
        const m = OPT_RE.exec(value);
        if (m === null) {
          badLines.push(lineno);
          continue;
        }
        const written = m[1].replace(RSTRIP_RE, '');
        if (written === '') badLines.push(lineno);
        const key = written.toLowerCase();
        const id = `${sectname}\n${key}`;
        if (added.has(id)) {
          const first = cursect.get(key);
          const where = first !== undefined && first.section === sectname ? ` (line ${first.line})` : '';
          throw new IniError('DuplicateOptionError', `option ${written} is already set in [${sectname}]${where}`, { file, line: lineno, path: `[${sectname}] ${written}` });
        }
        added.add(id);
        cursect.set(key, { key, name: written, lines: [pyStrip(m[3])], line: lineno, section: sectname });
        optname = key;
      }
    }
    if (badLines.length > 0) {
      const more = badLines.length > 1 ? ` (also on line${badLines.length > 2 ? 's' : ''} ${badLines.slice(1).join(', ')})` : '';
      throw new IniError('ParsingError', `not a [section] header, a "key = value" line or a comment${more}`, { file, line: badLines[0] });
    }
    const freeze = (m: Map<string, MutableOption>): Map<string, IniOption> =>
      new Map([...m].map(([k, o]) => [k, { key: o.key, name: o.name, value: o.lines.join('\n').replace(RSTRIP_RE, ''), line: o.line, section: o.section }]));
    const frozen = new Map<string, IniSection>();
    for (const [name, s] of sections) frozen.set(name, { name, line: s.line, options: freeze(s.options) });
    return new IniFile(file, text, freeze(defaults), frozen);
  }

  /** Section names in the order they first appear, without DEFAULT (ConfigParser.sections()). */
  sections(): string[] {
    return [...this.sectionMap.keys()];
  }

  hasSection(name: string): boolean {
    return this.sectionMap.has(name);
  }

  section(name: string): IniSection | undefined {
    return this.sectionMap.get(name);
  }

  /** The [DEFAULT] options. */
  get defaults(): ReadonlyMap<string, IniOption> {
    return this.defaultOptions;
  }

  /**
   * carbon's OrderedConfigParser.sections(): every line that, stripped, starts
   * with `[` and ends with `]`, in file order. Unlike sections() this includes
   * [DEFAULT], indented `[x]` continuation lines, and repeats; and it misses a
   * header with text after its `]` (which configparser accepts).
   */
  orderedSections(): IniHeader[] {
    const out: IniHeader[] = [];
    splitLines(this.text).forEach((raw, i) => {
      const s = pyStrip(raw);
      if (s.startsWith('[') && s.endsWith(']')) out.push({ name: s.slice(1, -1), line: i + 1 });
    });
    return out;
  }

  /** ConfigParser.has_option: the section's own options or DEFAULT's; false for a missing section. */
  hasOption(section: string, key: string): boolean {
    return this.option(section, key) !== undefined;
  }

  /** The raw option as `section` sees it (its own, else DEFAULT's). */
  option(section: string, key: string): IniOption | undefined {
    const k = key.toLowerCase();
    if (section === DEFAULT_SECTION) return this.defaultOptions.get(k);
    const s = this.sectionMap.get(section);
    if (s === undefined) return undefined;
    return s.options.get(k) ?? this.defaultOptions.get(k);
  }

  /** The line of `key` as `section` sees it. */
  lineOf(section: string, key: string): number | undefined {
    return this.option(section, key)?.line;
  }

  /** ConfigParser.get(section, key): the interpolated value. */
  get(section: string, key: string): string {
    const map = this.merged(section);
    const opt = map.get(key.toLowerCase());
    if (opt === undefined) throw new IniError('NoOptionError', `no option ${key} in [${section}]`, { file: this.file });
    return this.interpolate(section, opt, map);
  }

  /** ConfigParser.getboolean: 1/yes/true/on or 0/no/false/off, any case. */
  getBoolean(section: string, key: string): boolean {
    const value = this.get(section, key);
    const b = BOOLEAN_STATES[value.toLowerCase()];
    if (b === undefined) {
      const opt = this.option(section, key) as IniOption;
      throw new IniError('NotABoolean', 'not a boolean (use 1/yes/true/on or 0/no/false/off)', { file: this.file, line: opt.line, path: `[${section}] ${opt.name}` });
    }
    return b;
  }

  /**
   * ConfigParser.items(section): DEFAULT's options then the section's own, in
   * Python's dict order (a section value keeps its DEFAULT key's position),
   * each interpolated; the first failing value throws.
   */
  items(section: string): { option: IniOption; value: string }[] {
    const map = this.merged(section);
    return [...map.values()].map((option) => ({ option, value: this.interpolate(section, option, map) }));
  }

  /** The raw options `section` sees, in items() order (ConfigParser.items(section, raw=True)). */
  options(section: string): IniOption[] {
    return [...this.merged(section).values()];
  }

  private merged(section: string): Map<string, IniOption> {
    const map = new Map(this.defaultOptions);
    if (section === DEFAULT_SECTION) return map;
    const s = this.sectionMap.get(section);
    if (s === undefined) throw new IniError('NoSectionError', `no section [${section}]`, { file: this.file });
    for (const [k, o] of s.options) map.set(k, o);
    return map;
  }

  /** BasicInterpolation.before_get / _interpolate_some. */
  private interpolate(section: string, option: IniOption, map: ReadonlyMap<string, IniOption>): string {
    const where: ConfigErrorLocation = { file: this.file, line: option.line, path: `[${section}] ${option.name}` };
    const accum: string[] = [];
    const some = (input: string, depth: number): void => {
      if (depth > MAX_INTERPOLATION_DEPTH) throw new IniError('InterpolationDepthError', `%(...)s references nest more than ${MAX_INTERPOLATION_DEPTH} deep (a reference loop?)`, where);
      let rest = input;
      while (rest !== '') {
        const p = rest.indexOf('%');
        if (p < 0) {
          accum.push(rest);
          return;
        }
        if (p > 0) {
          accum.push(rest.slice(0, p));
          rest = rest.slice(p);
        }
        const c = rest.slice(1, 2);
        if (c === '%') {
          accum.push('%');
          rest = rest.slice(2);
        } else if (c === '(') {
          const m = KEY_RE.exec(rest);
          if (m === null) throw new IniError('InterpolationSyntaxError', "bad %(name)s reference (write %% for a literal '%')", where);
          const name = m[1].toLowerCase();
          rest = rest.slice(m[0].length);
          const ref = map.get(name);
          if (ref === undefined) throw new IniError('InterpolationMissingOptionError', `%(${m[1]})s refers to an option set neither in [${section}] nor in [${DEFAULT_SECTION}]`, where);
          if (ref.value.includes('%')) some(ref.value, depth + 1);
          else accum.push(ref.value);
        } else {
          throw new IniError('InterpolationSyntaxError', "'%' must be followed by '%' or '(' (write %% for a literal '%')", where);
        }
      }
    };
    some(option.value, 1);
    return accum.join('');
  }
}

/** Python's universal newlines: lines end at \n, \r\n or \r. */
function splitLines(text: string): string[] {
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}
