/** A compiled routing rule. `T` is whatever the caller routes to (destinations, or their names in a dry run). */
export interface Rule<T> {
  readonly name: string;
  readonly pattern: RegExp;
  readonly targets: readonly T[];
  readonly continue: boolean;
}

/**
 * carbon-relay's rules router: rules are tried in order, every matching rule
 * contributes its targets, the first match stops unless it says `continue`, and
 * the default rule is evaluated last (so it applies when nothing matched or
 * when every match said continue). Each target appears once, in first-seen order.
 */
export class RuleSet<T> {
  constructor(
    readonly rules: readonly Rule<T>[],
    readonly defaultTargets: readonly T[],
  ) {}

  match(name: string): T[] {
    const out: T[] = [];
    for (const rule of this.rules) {
      if (!rule.pattern.test(name)) continue;
      addUnique(out, rule.targets);
      if (!rule.continue) return out;
    }
    addUnique(out, this.defaultTargets);
    return out;
  }

  /** The same rules, routing to other targets (e.g. names -> live destinations). */
  map<U>(f: (t: T) => U): RuleSet<U> {
    return new RuleSet(
      this.rules.map((r) => ({ ...r, targets: r.targets.map(f) })),
      this.defaultTargets.map(f),
    );
  }
}

function addUnique<T>(out: T[], targets: readonly T[]): void {
  for (const t of targets) if (!out.includes(t)) out.push(t);
}
