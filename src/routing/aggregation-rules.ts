import fs from 'node:fs';
import { ConfigError, ConfigErrorCode } from '../config/config-error';
import type { Logger } from '../telemetry/logger';
import { compilePythonRegex } from '../common/python/regex';

/** carbon 1.1's AGGREGATION_METHODS (aggregator/rules.py), every one of them. */
export const AGGREGATION_METHODS = ['sum', 'avg', 'min', 'max', 'p50', 'p75', 'p80', 'p90', 'p95', 'p99', 'p999', 'count'] as const;
export type AggregationMethod = (typeof AGGREGATION_METHODS)[number];
const METHODS: ReadonlySet<string> = new Set(AGGREGATION_METHODS);

/**
 * One line of carbon's aggregation-rules.conf, `output (freq) = method input`.
 * Routing needs only the aggregate name a metric belongs to
 * (aggregated-consistent-hashing hashes on those names, so every input of one
 * aggregate lands on the same carbon-aggregator); the aggregator also uses the
 * method and the frequency.
 */
export class AggregationRule {
  readonly regex: RegExp;

  constructor(
    readonly input: string,
    readonly output: string,
    readonly method: AggregationMethod,
    /** Seconds per interval (a positive integer). */
    readonly frequency: number,
  ) {
    this.regex = compilePythonRegex(buildRegex(input), { ignoreCase: false, anchorStart: true });
  }

  /** The aggregate name for `metric`, or undefined when the rule does not match (or a template field is missing). */
  aggregateName(metric: string): string | undefined {
    const m = this.regex.exec(metric);
    if (m === null) return undefined;
    const fields = m.groups ?? {};
    let failed = false;
    // carbon: output.replace('<', '%(').replace('>', ')s') % fields, where a missing key raises.
    const template = this.output.replace(/</g, '%(').replace(/>/g, ')s');
    const name = template.replace(/%\(([^)]*)\)s|%/g, (all, f: string | undefined) => {
      const v = f === undefined ? undefined : fields[f];
      if (v === undefined) failed = true;
      return v ?? all;
    });
    return failed ? undefined : name;
  }
}

/** carbon's AggregationRule.build_regex, part by part, with `$` appended: a Python pattern, matched from the start. */
function buildRegex(input: string): string {
  const parts = input.split('.').map((part) => {
    if (part.includes('<<') && part.includes('>>')) {
      const i = part.indexOf('<<');
      const j = part.indexOf('>>');
      return `${part.slice(0, i)}(?P<${part.slice(i + 2, j)}>.+?)${part.slice(j + 2)}`;
    }
    const i = part.indexOf('<');
    const j = part.indexOf('>');
    if (i > -1 && j > i) return `${part.slice(0, i)}(?P<${part.slice(i + 1, j)}>[^.]+?)${part.slice(j + 1)}`;
    if (part === '*') return '[^.]+';
    return part.replace(/\*/g, '[^.]*');
  });
  return parts.join('\\.') + '$';
}

/** Parse aggregation-rules.conf text; a bad line is an error naming file and line, as carbon refuses it at startup. */
export function parseAggregationRules(text: string, file: string): AggregationRule[] {
  const rules: AggregationRule[] = [];
  text.split('\n').forEach((raw, idx) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fail = (why: string): never => {
      throw new ConfigError(`invalid aggregation rule: ${why}`, { file, line: idx + 1 }, ConfigErrorCode.AGGREGATION_RULES);
    };
    const eq = line.indexOf('=');
    if (eq < 0) fail('expected "output (frequency) = method input"');
    const left = line.slice(0, eq).trim().split(/\s+/);
    const right = line.slice(eq + 1).trim().split(/\s+/);
    if (left.length !== 2 || right.length !== 2) fail('expected "output (frequency) = method input"');
    if (!/^\(?\d+\)?$/.test(left[1])) fail(`frequency ${JSON.stringify(left[1])} is not an integer`);
    // carbon accepts 0 and then fails every matching datapoint (timestamp % 0)
    const frequency = Number(left[1].replace(/[()]/g, ''));
    if (frequency === 0) fail('frequency must be at least 1 second');
    if (!METHODS.has(right[0])) fail(`unknown method ${JSON.stringify(right[0])}`);
    // carbon fails each matching datapoint with a KeyError at run time; a rule that can never work is refused up front
    const fields = new Set([...right[1].matchAll(/<<?([^<>]*)>>?/g)].map((m) => m[1]));
    const template = left[0].replace(/</g, '%(').replace(/>/g, ')s');
    for (const m of template.matchAll(/%\(([^)]*)\)s/g)) {
      // `<<p>>` in an output becomes %(%(p)s)s: show it as written
      if (!fields.has(m[1])) fail(`output ${JSON.stringify(left[0])} uses <${m[1].replace(/%\(/g, '<')}>, which the input pattern does not capture`);
    }
    if (template.replace(/%\(([^)]*)\)s/g, '').includes('%')) fail(`output ${JSON.stringify(left[0])} has a stray % or unbalanced < >`);
    try {
      rules.push(new AggregationRule(right[1], left[0], right[0] as AggregationMethod, frequency));
    } catch (err) {
      fail(`input pattern is not a valid regex: ${(err as Error).message}`);
    }
  });
  return rules;
}

/** aggregation-rules.conf, re-read when its mtime advances (carbon checks every 10 s); a missing file means no rules. */
export class AggregationRulesFile {
  rules: AggregationRule[] = [];
  private lastMtimeMs = 0;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {
    this.refresh(true);
  }

  /** Aggregate names for the metric, or the metric itself when no rule matches (carbon's router). */
  keysFor(metric: string): string[] {
    const keys: string[] = [];
    for (const r of this.rules) {
      const k = r.aggregateName(metric);
      if (k !== undefined && !keys.includes(k)) keys.push(k);
    }
    if (keys.length === 0) keys.push(metric);
    return keys;
  }

  /** Returns true when the rules changed. At startup a bad file throws; later it is logged and the old rules kept. */
  refresh(initial = false): boolean {
    let mtimeMs: number;
    try {
      mtimeMs = fs.statSync(this.path).mtimeMs;
    } catch {
      const had = this.rules.length > 0;
      this.rules = [];
      return had;
    }
    if (mtimeMs <= this.lastMtimeMs) return false;
    try {
      this.rules = parseAggregationRules(fs.readFileSync(this.path, 'utf8'), this.path);
    } catch (err) {
      if (initial) throw err;
      this.log.error('keeping previous aggregation rules', { error: (err as Error).message });
      return false;
    } finally {
      this.lastMtimeMs = mtimeMs;
    }
    return true;
  }
}
