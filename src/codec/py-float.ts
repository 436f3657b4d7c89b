import { latin1Slice } from './bytes';

/**
 * Python float() semantics for the number forms Carbon clients send. JS Number()
 * differs (it accepts hex and '' and rejects '1_000', 'infinity', Unicode digits),
 * and carbon-relay accepts exactly what float() accepts, so we must too.
 */

/** Characters Python's str.split()/strip() treat as whitespace (differs from JS \s). */
export const PY_WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** float() strips a narrower set than split() splits on: not the \x1c-\x1f separators. */
const FLOAT_WHITESPACE = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const TRIM_RE = new RegExp(`^[${FLOAT_WHITESPACE}]+|[${FLOAT_WHITESPACE}]+$`, 'g');
const DECIMAL_RE = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const NON_ASCII_DIGIT_RE = /\p{Nd}/gu;
const IS_DIGIT_RE = /^\p{Nd}$/u;

/** Unicode guarantees decimal digits come in contiguous runs of ten starting at zero. */
function asciiDigit(ch: string): string {
  let cp = ch.codePointAt(0) as number;
  let start = cp;
  while (IS_DIGIT_RE.test(String.fromCodePoint(start - 1))) start--;
  cp = (cp - start) % 10;
  return String.fromCharCode(0x30 + cp);
}

/** Python float(s); returns undefined where Python raises ValueError. */
export function parsePyFloat(input: string): number | undefined {
  let s = input.replace(TRIM_RE, '');
  if (s.length === 0) return undefined;
  const lower = s.toLowerCase();
  switch (lower) {
    case 'inf': case '+inf': case 'infinity': case '+infinity': return Infinity;
    case '-inf': case '-infinity': return -Infinity;
    case 'nan': case '+nan': case '-nan': return NaN;
  }
  if (/[^\x00-\x7f]/.test(s)) s = s.replace(NON_ASCII_DIGIT_RE, asciiDigit);
  if (!DECIMAL_RE.test(s)) return undefined;
  return Number(s.indexOf('_') >= 0 ? s.replace(/_/g, '') : s);
}

/**
 * Python float() over ASCII bytes [start, end) with no surrounding whitespace.
 * The common forms (integers, plain decimals, exponents) never build a string
 * beyond the one Number() needs; anything unusual goes through parsePyFloat.
 */
export function parseAsciiFloat(buf: Buffer, start: number, end: number): number | undefined {
  let i = start;
  let neg = false;
  let c = buf[i];
  if (c === 0x2d || c === 0x2b) {
    neg = c === 0x2d;
    i++;
  }
  let intPart = 0;
  const intStart = i;
  while (i < end) {
    c = buf[i];
    if (c < 0x30 || c > 0x39) break;
    intPart = intPart * 10 + (c - 0x30);
    i++;
  }
  const intDigits = i - intStart;
  if (i === end && intDigits > 0 && intDigits <= 15) return neg ? -intPart : intPart;

  // Validate [digits][.digits][(e|E)[sign]digits] and let Number() do the rounding.
  let fracDigits = 0;
  if (i < end && buf[i] === 0x2e) {
    i++;
    while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) { i++; fracDigits++; }
  }
  let ok = intDigits + fracDigits > 0;
  if (ok && i < end && (buf[i] === 0x65 || buf[i] === 0x45)) {
    i++;
    if (i < end && (buf[i] === 0x2b || buf[i] === 0x2d)) i++;
    const expStart = i;
    while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) i++;
    ok = i > expStart;
  }
  const text = latin1Slice(buf, start, end);
  if (ok && i === end) return Number(text);
  return parsePyFloat(text);
}
