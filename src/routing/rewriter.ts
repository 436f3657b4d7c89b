import type { CompiledRewrite, ReplacementPart } from '../config/rewrite-rules';

/**
 * Rewrite rules (carbon-c-relay's `rewrite <expression> into <replacement>`),
 * applied in order to a name before it is routed: a matching rule replaces
 * the first match of its pattern (the text around it is kept), and the next
 * rule sees the rewritten name, unless the rule says `stop`. Pure: the router
 * caches its result per received name, so a pattern runs once per distinct
 * name, never per datapoint.
 */
export class Rewriter {
  constructor(readonly rules: readonly CompiledRewrite[]) {}

  /** The rewritten name; the same string when no rule matched. */
  rewrite(name: string): string {
    let out = name;
    for (const rule of this.rules) {
      const m = rule.pattern.exec(out);
      if (m === null) continue;
      out = out.slice(0, m.index) + expand(rule.replacement, m) + out.slice(m.index + m[0].length);
      if (rule.stop) break;
    }
    return out;
  }
}

const ASCII_UPPER = /[A-Z]+/g;
const ASCII_LOWER = /[a-z]+/g;

function expand(parts: readonly ReplacementPart[], m: RegExpExecArray): string {
  let s = '';
  for (const p of parts) {
    if ('text' in p) {
      s += p.text;
      continue;
    }
    // a group that did not take part in the match is empty, as in carbon-c-relay and Python
    let g = (typeof p.group === 'number' ? m[p.group] : m.groups?.[p.group]) ?? '';
    if (p.dotsToUnderscores) g = g.replaceAll('.', '_');
    // ASCII letters only, as carbon-c-relay's tolower()/toupper(): a name's length never changes with its case
    if (p.letterCase === 'lower') g = g.replace(ASCII_UPPER, (x) => x.toLowerCase());
    else if (p.letterCase === 'upper') g = g.replace(ASCII_LOWER, (x) => x.toUpperCase());
    s += g;
  }
  return s;
}
