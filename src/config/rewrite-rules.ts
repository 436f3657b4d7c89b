import { compilePythonRegex } from '../common/python/regex';

/** One piece of a compiled replacement: text as written, or a capture group of the match. */
export type ReplacementPart =
  | { readonly text: string }
  | {
      /** Group number (0: the whole match) or name. */
      readonly group: number | string;
      /** `\_1` lower-case, `\^1` upper-case (carbon-c-relay's notation). */
      readonly letterCase?: 'lower' | 'upper';
      /** `\.1`: dots in the group become underscores. */
      readonly dotsToUnderscores: boolean;
    };

/** A rewrite rule, compiled; routing/rewriter.ts applies it. */
export interface CompiledRewrite {
  /** `rewrite <index>` for messages. */
  readonly name: string;
  readonly pattern: RegExp;
  readonly replacement: readonly ReplacementPart[];
  /** A match ends the rewriting: later rewrite rules do not see this name. */
  readonly stop: boolean;
}

export class RewriteSyntaxError extends Error {}

/**
 * Compiles `match` (a Python `re` pattern, as rules use) and `replace`.
 * The replacement takes carbon-c-relay's notation: `\1`..`\99`, with `_`
 * (lower-case), `^` (upper-case) and/or `.` (dots to underscores) between the
 * backslash and the number; and Python's `\g<name>` / `\g<1>` (also written
 * `\g{...}`, as carbon-c-relay 3.9 does) for named groups. `\\` is a
 * backslash. Anything else after a backslash, and a group the pattern does
 * not have, is refused here rather than silently replaced by nothing.
 */
export function compileRewrite(name: string, match: string, replace: string, ignoreCase: boolean, stop: boolean): CompiledRewrite {
  const pattern = compilePythonRegex(match, { ignoreCase });
  // an alternative that matches the empty string reveals the group count and names without running the pattern
  const probe = new RegExp(`${pattern.source}|`, pattern.flags).exec('') as RegExpExecArray;
  const groups = probe.length - 1;
  const names = new Set(Object.keys(probe.groups ?? {}));
  return { name, pattern, replacement: parseReplacement(replace, groups, names), stop };
}

const DIGIT = /[0-9]/;

function parseReplacement(replace: string, groups: number, names: ReadonlySet<string>): ReplacementPart[] {
  const parts: ReplacementPart[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') parts.push({ text });
    text = '';
  };
  let i = 0;
  while (i < replace.length) {
    const c = replace[i];
    if (c !== '\\') {
      text += c;
      i++;
      continue;
    }
    const at = i;
    i++;
    if (replace[i] === '\\') {
      text += '\\';
      i++;
      continue;
    }
    let letterCase: 'lower' | 'upper' | undefined;
    if (replace[i] === '_' || replace[i] === '^') {
      letterCase = replace[i] === '_' ? 'lower' : 'upper';
      i++;
    }
    let dotsToUnderscores = false;
    if (replace[i] === '.') {
      dotsToUnderscores = true;
      i++;
    }
    let group: number | string;
    if (DIGIT.test(replace[i] ?? '')) {
      let j = i;
      while (j < replace.length && DIGIT.test(replace[j])) j++;
      group = Number(replace.slice(i, j));
      if (group === 0) throw new RewriteSyntaxError(`\\0 at position ${at + 1} of the replacement is not a group; write \\g<0> for the whole match`);
      i = j;
    } else if (replace[i] === 'g' && (replace[i + 1] === '<' || replace[i + 1] === '{')) {
      const close = replace[i + 1] === '<' ? '>' : '}';
      const end = replace.indexOf(close, i + 2);
      if (end < 0) throw new RewriteSyntaxError(`unterminated \\g${replace[i + 1]} at position ${at + 1} of the replacement`);
      const ref = replace.slice(i + 2, end);
      group = /^[0-9]+$/.test(ref) ? Number(ref) : ref;
      if (typeof group === 'string' && !names.has(group)) throw new RewriteSyntaxError(`the replacement refers to group "${ref}", which the pattern does not name`);
      i = end + 1;
    } else {
      throw new RewriteSyntaxError(
        `"\\" at position ${at + 1} of the replacement must be followed by a group (\\1, \\_1, \\^1, \\.1, \\g<name>) or another "\\"`,
      );
    }
    if (typeof group === 'number' && group > groups) throw new RewriteSyntaxError(`the replacement refers to group ${group}, but the pattern has ${groups === 0 ? 'no groups' : `only ${groups}`}`);
    flush();
    parts.push(letterCase === undefined ? { group, dotsToUnderscores } : { group, letterCase, dotsToUnderscores });
  }
  flush();
  return parts;
}
