/** Python's str whitespace: split(), strip() and float() each differ from JS \s and trim(). */

/** Characters Python's str.split()/strip() treat as whitespace (differs from JS \s). */
export const PY_WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const SPLIT_RE = new RegExp(`[${PY_WHITESPACE}]+`);
const STRIP_RE = new RegExp(`^[${PY_WHITESPACE}]+|[${PY_WHITESPACE}]+$`, 'g');

/** Python str.split() with no arguments: runs of whitespace separate, no empty fields. */
export function pySplit(s: string): string[] {
  const parts = s.split(SPLIT_RE);
  if (parts.length > 0 && parts[0] === '') parts.shift();
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Python str.strip(). */
export function pyStrip(s: string): string {
  return s.replace(STRIP_RE, '');
}
