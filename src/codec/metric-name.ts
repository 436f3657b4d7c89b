/**
 * Names that would corrupt the line protocol downstream (or that no Graphite
 * can store): empty, or containing whitespace (Python's or Unicode's) or
 * control characters. Carbon forwards these unchecked; we drop and count them.
 */
const BAD_NAME_RE = /[\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/;

export function isValidMetricName(name: string): boolean {
  return name.length > 0 && !BAD_NAME_RE.test(name);
}
