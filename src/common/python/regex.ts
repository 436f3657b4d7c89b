/**
 * carbon's patterns (relay-rules.conf, whitelist/blacklist.conf, aggregation-rules.conf inputs, and our own
 * YAML rules/filters) are Python 3 `re` patterns on str: Unicode-aware \w, \d, \s, \b and re.I. JS regexes
 * without the `u` flag are ASCII in all of these, so we translate a Python pattern into a `u`-flag JS regex
 * with the same semantics, and refuse (with an error) whatever we cannot translate faithfully.
 *
 * Verified against /usr/bin/python3 (3.11, Unicode 14) over every code point: Python's \w (str.isalnum() or
 * '_') is exactly [\p{L}\p{N}_], \d is exactly \p{Nd}, \s is exactly PY_WHITESPACE. The only residual
 * differences are code points Python's older Unicode database does not assign yet (JS matches them as \w/\d).
 * re.I: JS `iu` (simple case folding) agrees with Python on every case-related pair of code points once
 * I/i/U+0130/U+0131 are made one class; the residual is U+0345, which `iu` classes cannot tell from U+03B9, so
 * under re.I it counts as \w (Python: not). Not supported (refused): inline flags other than i/s/u, scoped
 * flags (?i:...), atomic groups, possessive repeats, conditionals, \N{...}. JS accepts variable-width
 * look-behinds, which Python refuses.
 */
import { PY_WHITESPACE } from './str';

export interface PythonRegexFlags {
  /** re.IGNORECASE (a leading `(?i)` in the pattern also sets it). */
  ignoreCase: boolean;
  /** re.match semantics: anchor at the start of the name (as carbon's aggregation rules do). */
  anchorStart?: boolean;
}

/** Python's \w, as the contents of a JS `u` character class. */
const W = '\\p{L}\\p{N}_';
/** Python's \s. */
const S = PY_WHITESPACE;
const WORD = `[${W}]`;
const NOT_WORD = `[^${W}]`;
/** \b and \B on Python's \w (JS \b is ASCII even with the u flag). */
const WORD_BOUNDARY = `(?:(?<=${WORD})(?!${WORD})|(?<!${WORD})(?=${WORD}))`;
/** Python's \B never matches in an empty string. */
const NOT_WORD_BOUNDARY = `(?:(?<=${WORD})(?=${WORD})|(?<!${WORD})(?!${WORD})(?:(?<=[\\s\\S])|(?=[\\s\\S])))`;
/** re.I treats I, i, U+0130 and U+0131 as one class; JS simple case folding keeps the dotted/dotless two apart. */
const TURKIC_I = [0x49, 0x69, 0x130, 0x131];
const TURKIC_I_CLASS = 'Ii\\u{130}\\u{131}';
/** Characters that must be escaped to be literal in a `u` regex (outside a class; inside, `-` too). */
const SYNTAX = new Set('^$\\.*+?()[]{}|/');
const SIMPLE_ESCAPES: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };

export class PythonRegexError extends Error {}

/** Compile a Python `re` pattern to an equivalent JS RegExp; throws (PythonRegexError or SyntaxError) when it cannot. */
export function compilePythonRegex(pattern: string, flags: PythonRegexFlags): RegExp {
  const t = new Translator(pattern, flags.ignoreCase);
  const body = t.translate();
  try {
    return new RegExp(flags.anchorStart === true ? `^(?:${body})` : body, t.ignoreCase ? 'iu' : 'u');
  } catch (err) {
    // V8's message quotes the translated source; quote the pattern as written instead
    const reason = /: ([^:]*)$/.exec((err as Error).message)?.[1] ?? (err as Error).message;
    throw new SyntaxError(`Invalid regular expression: /${pattern}/${flags.ignoreCase ? 'i' : ''}: ${reason}`);
  }
}

/** JS text for one literal code point (inside a character class when inClass). */
function lit(cp: number, inClass: boolean): string {
  const c = String.fromCodePoint(cp);
  if (SYNTAX.has(c) || (inClass && c === '-')) return `\\${c}`;
  if ((cp > 0x20 && cp < 0x7f) || (cp >= 0x80 && /^[\p{L}\p{N}]$/u.test(c))) return c;
  return `\\u{${cp.toString(16)}}`;
}

interface ClassItem {
  kind: 'char' | 'set';
  cp?: number;
  /** for sets: JS class contents, and whether the set is the complement of those contents */
  text?: string;
  negated?: boolean;
}

class Translator {
  private i = 0;
  private out = '';
  private groups = 0;
  /** For each open `(`: its group number, or 0 when it does not capture. */
  private readonly open: number[] = [];
  private readonly names = new Map<string, number>();
  private dotAll = false;

  constructor(
    private readonly p: string,
    public ignoreCase: boolean,
  ) {}

  private fail(msg: string): never {
    throw new PythonRegexError(`${msg} at position ${this.i} of ${JSON.stringify(this.p)}`);
  }

  private cp(): number {
    return this.p.codePointAt(this.i) as number;
  }

  private take(): string {
    const c = String.fromCodePoint(this.cp());
    this.i += c.length;
    return c;
  }

  translate(): string {
    this.leadingFlags();
    while (this.i < this.p.length) this.atom();
    return this.out;
  }

  /** Python allows global inline flags only at the very start (3.11: elsewhere is an error). */
  private leadingFlags(): void {
    for (;;) {
      const m = /^\(\?([aiLmsux]+)\)/.exec(this.p.slice(this.i));
      if (m === null) return;
      for (const f of m[1]) {
        if (f === 'i') this.ignoreCase = true;
        else if (f === 's') this.dotAll = true;
        else if (f !== 'u') this.fail(`inline flag (?${f}) is not supported`);
      }
      this.i += m[0].length;
    }
  }

  private literal(cp: number): string {
    if (this.ignoreCase && TURKIC_I.includes(cp)) return `[${TURKIC_I_CLASS}]`;
    return lit(cp, false);
  }

  private atom(): void {
    const c = this.take();
    switch (c) {
      case '\\':
        this.out += this.escape();
        return;
      case '[':
        this.out += this.charClass();
        return;
      case '.':
        this.out += this.dotAll ? '[\\s\\S]' : '[^\\n]';
        return;
      case '$':
        // Python: end of string, or before a newline that ends it
        this.out += '(?=\\n?$)';
        return;
      case '(':
        this.out += this.group();
        return;
      case '{':
        this.out += this.brace();
        return;
      case '}':
      case ']':
        this.out += `\\${c}`;
        return;
      case ')':
        this.open.pop();
        this.out += c;
        return;
      case '^':
      case '|':
      case '*':
      case '+':
      case '?':
        this.out += c;
        return;
      default:
        this.out += this.literal(c.codePointAt(0) as number);
    }
  }

  /** `{m}`, `{m,}`, `{,n}`, `{m,n}` are repeats; any other `{` is a literal. */
  private brace(): string {
    const m = /^(\d*)(?:(,)(\d*))?\}/.exec(this.p.slice(this.i));
    if (m === null || (m[1] === '' && m[2] === undefined)) return '\\{';
    this.i += m[0].length;
    const lo = m[1] === '' ? '0' : m[1];
    return m[2] === undefined ? `{${lo}}` : `{${lo},${m[3]}}`;
  }

  private group(): string {
    if (this.p[this.i] !== '?') {
      this.open.push(++this.groups);
      return '(';
    }
    const rest = this.p.slice(this.i);
    let m = /^\?P<([^>]*)>/.exec(rest);
    if (m !== null) {
      if (!/^[\p{ID_Start}_][\p{ID_Continue}]*$/u.test(m[1])) this.fail(`bad character in group name ${JSON.stringify(m[1])}`);
      if (this.names.has(m[1])) this.fail(`redefinition of group name ${JSON.stringify(m[1])}`);
      this.i += m[0].length;
      this.open.push(++this.groups);
      this.names.set(m[1], this.groups);
      return `(?<${m[1]}>`;
    }
    m = /^\?P=([^)]*)\)/.exec(rest);
    if (m !== null) {
      const n = this.names.get(m[1]);
      if (n === undefined) this.fail(`unknown group name ${JSON.stringify(m[1])}`);
      if (this.open.includes(n)) this.fail('cannot refer to an open group');
      this.i += m[0].length;
      return `\\k<${m[1]}>`;
    }
    m = /^\?(?::|=|!|<=|<!)/.exec(rest);
    if (m !== null) {
      this.i += m[0].length;
      this.open.push(0);
      return `(${m[0]}`;
    }
    if (rest.startsWith('?#')) {
      const end = this.p.indexOf(')', this.i);
      if (end < 0) this.fail('unterminated comment');
      this.i = end + 1;
      return '';
    }
    if (/^\?[aiLmsux]+\)/.test(rest)) this.fail('global flags not at the start of the expression');
    return this.fail(`unsupported group construct (${rest.slice(0, 3)}`);
  }

  /** After a backslash, outside a class. */
  private escape(): string {
    if (this.i >= this.p.length) this.fail('bad escape (end of pattern)');
    const c = this.p[this.i];
    switch (c) {
      case 'w': this.i++; return WORD;
      case 'W': this.i++; return NOT_WORD;
      case 'd': this.i++; return '\\p{Nd}';
      case 'D': this.i++; return '\\P{Nd}';
      case 's': this.i++; return `[${S}]`;
      case 'S': this.i++; return `[^${S}]`;
      case 'b': this.i++; return WORD_BOUNDARY;
      case 'B': this.i++; return NOT_WORD_BOUNDARY;
      case 'A': this.i++; return '^';
      case 'Z': this.i++; return '$';
    }
    if (/[1-9]/.test(c)) {
      // Python: three octal digits are an octal escape; otherwise one or two digits are a group reference
      const oct = /^[0-7]{3}/.exec(this.p.slice(this.i));
      if (oct !== null) {
        if (parseInt(oct[0], 8) > 0o377) this.fail(`octal escape value \\${oct[0]} outside of range 0-0o377`);
        this.i += 3;
        return this.literal(parseInt(oct[0], 8));
      }
      const ref = /^\d\d?/.exec(this.p.slice(this.i)) as RegExpExecArray;
      this.i += ref[0].length;
      const n = Number(ref[0]);
      if (n > this.groups) this.fail(`invalid group reference ${n}`);
      if (this.open.includes(n)) this.fail('cannot refer to an open group');
      return `(?:\\${n})`;
    }
    const cp = this.charEscape(false);
    return this.literal(cp);
  }

  /** An escape that stands for one code point (after the backslash); class escapes handled by callers. */
  private charEscape(inClass: boolean): number {
    const c = this.take();
    const rest = this.p.slice(this.i);
    if (c in SIMPLE_ESCAPES) return SIMPLE_ESCAPES[c];
    if (c === 'b' && inClass) return 8;
    if (c === '0') {
      const m = /^[0-7]{0,2}/.exec(rest) as RegExpExecArray;
      this.i += m[0].length;
      return parseInt(`0${m[0]}`, 8);
    }
    if (inClass && /[1-7]/.test(c)) {
      const m = /^[0-7]{0,2}/.exec(rest) as RegExpExecArray;
      const v = parseInt(`${c}${m[0]}`, 8);
      if (v > 0o377) this.fail(`octal escape value \\${c}${m[0]} outside of range 0-0o377`);
      this.i += m[0].length;
      return v;
    }
    const hex = { x: 2, u: 4, U: 8 }[c as 'x' | 'u' | 'U'];
    if (hex !== undefined) {
      const m = new RegExp(`^[0-9a-fA-F]{${hex}}`).exec(rest);
      if (m === null) this.fail(`incomplete escape \\${c}`);
      this.i += hex;
      const cp = parseInt(m[0], 16);
      if (cp > 0x10ffff) this.fail(`bad escape \\${c}${m[0]}`);
      return cp;
    }
    if (c === 'N') this.fail('\\N{...} named characters are not supported');
    // Python: an unknown ASCII letter or digit escape is an error; any other character escapes to itself
    if (/^[A-Za-z0-9]$/.test(c)) {
      this.i -= 1;
      this.fail(`bad escape \\${c}`);
    }
    return c.codePointAt(0) as number;
  }

  private classItem(): ClassItem {
    if (this.p[this.i] !== '\\') return { kind: 'char', cp: (this.take().codePointAt(0) as number) };
    this.i++;
    if (this.i >= this.p.length) this.fail('bad escape (end of pattern)');
    const c = this.p[this.i];
    const set = (text: string, negated: boolean): ClassItem => {
      this.i++;
      return { kind: 'set', text, negated };
    };
    switch (c) {
      case 'w': return set(W, false);
      case 'W': return set(W, true);
      case 'd': return set('\\p{Nd}', false);
      case 'D': return set('\\P{Nd}', false);
      case 's': return set(S, false);
      case 'S': return set(S, true);
    }
    return { kind: 'char', cp: this.charEscape(true) };
  }

  /** After `[`. Python's rules: `^` negates, a leading `]` is literal, `-` is a range only between two characters. */
  private charClass(): string {
    let negate = false;
    if (this.p[this.i] === '^') {
      negate = true;
      this.i++;
    }
    let pos = '';
    const negSets: string[] = [];
    let turkic = false;
    let first = true;
    for (;;) {
      if (this.i >= this.p.length) this.fail('unterminated character set');
      if (this.p[this.i] === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      const a = this.classItem();
      if (this.p[this.i] === '-' && this.i + 1 < this.p.length && this.p[this.i + 1] !== ']') {
        this.i++;
        const b = this.classItem();
        if (a.kind !== 'char' || b.kind !== 'char') this.fail('bad character range');
        const lo = a.cp as number;
        const hi = b.cp as number;
        if (lo > hi) this.fail('bad character range');
        pos += `${lit(lo, true)}-${lit(hi, true)}`;
        if (TURKIC_I.some((x) => x >= lo && x <= hi)) turkic = true;
      } else if (a.kind === 'char') {
        pos += lit(a.cp as number, true);
        if (TURKIC_I.includes(a.cp as number)) turkic = true;
      } else if (a.negated === true) {
        negSets.push(a.text as string);
      } else {
        pos += a.text as string;
      }
    }
    if (turkic && this.ignoreCase) pos += TURKIC_I_CLASS;
    if (negSets.length === 0) return `[${negate ? '^' : ''}${pos}]`;
    if (!negate) return `(?:${[...(pos === '' ? [] : [`[${pos}]`]), ...negSets.map((n) => `[^${n}]`)].join('|')})`;
    // not (pos or not n1 or not n2 ...) = not pos and n1 and n2 ...
    const last = negSets[negSets.length - 1];
    return `(?:${pos === '' ? '' : `(?![${pos}])`}${negSets.slice(0, -1).map((n) => `(?=[${n}])`).join('')}[${last}])`;
  }
}
