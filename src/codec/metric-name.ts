/**
 * Names that would corrupt the line protocol downstream (or that no Graphite
 * can store): empty, or containing whitespace (Python's or Unicode's) or
 * control characters, C0 and C1 (U+0080-U+009F; U+0085 is also whitespace,
 * U+00A0 is no-break space). Carbon forwards these unchecked; we drop and
 * count them.
 */
const BAD_NAME_RE = /[\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/;

/**
 * listen.maxNameLength's default, in UTF-8 bytes. Carbon has no limit, but a
 * real carbon drops a connection over a 16 KiB line, and a name referenced
 * many times through the pickle memo multiplies into every output frame.
 */
export const DEFAULT_MAX_NAME_LENGTH = 4096;

export const enum NameProblem {
  None = 0,
  /** Empty, whitespace or control characters. */
  Invalid = 1,
  /** Over maxNameLength UTF-8 bytes. */
  TooLong = 2,
}

export function isValidMetricName(name: string): boolean {
  const n = name.length;
  if (n === 0) return false;
  // nearly every name is printable ASCII: a loop of compares answers those without running the regex
  let i = 0;
  while (i < n) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) break;
    i++;
  }
  return i === n || !BAD_NAME_RE.test(name);
}

/**
 * Whether the name's UTF-8 encoding is over `maxBytes`. A UTF-16 unit is 1 to
 * 3 UTF-8 bytes (a surrogate pair is 4 bytes for 2 units), so only names
 * between maxBytes/3 and maxBytes units are measured, and a huge name never is.
 */
export function isNameTooLong(name: string, maxBytes: number): boolean {
  const n = name.length;
  if (n > maxBytes) return true;
  if (n * 3 <= maxBytes) return false;
  return Buffer.byteLength(name, 'utf8') > maxBytes;
}

/** Every check a name gets before it may be queued; length first, so a huge name is never scanned. */
export function checkMetricName(name: string, maxBytes: number): NameProblem {
  if (isNameTooLong(name, maxBytes)) return NameProblem.TooLong;
  return isValidMetricName(name) ? NameProblem.None : NameProblem.Invalid;
}

/** The reason given to HTTP clients and in logs for an over-long name. */
export function nameTooLongMessage(name: string, maxBytes: number): string {
  return `metric name is ${Buffer.byteLength(name, 'utf8')} bytes, over maxNameLength ${maxBytes}`;
}
