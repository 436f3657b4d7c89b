const IS_DIGIT_RE = /^\p{Nd}$/u;
const NON_ASCII_RE = /[^\x00-\x7f]/;
const DIGIT_RE = /\p{Nd}/gu;

/** Unicode decimal digits come in contiguous runs of ten starting at zero. */
function asciiDigit(ch: string): string {
  const cp = ch.codePointAt(0) as number;
  let start = cp;
  while (IS_DIGIT_RE.test(String.fromCodePoint(start - 1))) start--;
  return String.fromCharCode(0x30 + ((cp - start) % 10));
}

/** Python's int() and float() accept any Unicode decimal digit: map them to ASCII first. */
export function toAsciiDigits(s: string): string {
  return NON_ASCII_RE.test(s) ? s.replace(DIGIT_RE, asciiDigit) : s;
}
