import { latin1Slice } from '../bytes';
import { toAsciiDigits } from './digits';

/**
 * Python float() semantics for the number forms Carbon clients send. JS Number()
 * differs (it accepts hex and '' and rejects '1_000', 'infinity', Unicode digits),
 * and carbon-relay accepts exactly what float() accepts, so we must too.
 */

/** float() strips a narrower set than split() splits on: not the \x1c-\x1f separators. */
const FLOAT_WHITESPACE = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const TRIM_RE = new RegExp(`^[${FLOAT_WHITESPACE}]+|[${FLOAT_WHITESPACE}]+$`, 'g');
const DECIMAL_RE = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;

/** 10^0 .. 10^15, each exactly representable (for exact decimal division: see parseAsciiFloat). */
export const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

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
  s = toAsciiDigits(s);
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

  // Validate [digits][.digits][(e|E)[sign]digits]; let Number() do the rounding unless the value is exact below.
  let fracDigits = 0;
  let digits = intPart;
  if (i < end && buf[i] === 0x2e) {
    i++;
    while (i < end) {
      c = buf[i];
      if (c < 0x30 || c > 0x39) break;
      digits = digits * 10 + (c - 0x30);
      i++;
      fracDigits++;
    }
    // Clinger's fast path: at most 15 digits is an exact integer, 10^k (k <= 15) is exact, and IEEE division
    // rounds correctly, so digits / 10^k is the double nearest the decimal, as float() gives
    if (i === end && intDigits + fracDigits > 0 && intDigits + fracDigits <= 15) {
      const x = digits / POW10[fracDigits];
      return neg ? -x : x;
    }
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

/** Python repr() of a float: shortest round-trip digits, exponent below 1e-4 and from 1e16, '.0' on whole numbers. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa, e] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(e);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  return `${sign}${int}.${digits.slice(exp + 1) || '0'}`;
}
