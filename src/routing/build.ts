import type { RelayConfig } from '../config/load';
import { isHashGroup, type DestinationConfig, type HealthGroupConfig } from '../config/schema';
import type { Logger } from '../telemetry/logger';
import type { HashRingNode } from './ring';
import { HashGroup } from './hash-group';
import { NameFilter } from './name-filter';
import type { Reloadable } from './reloader';
import { DirectTarget, Router, type Target } from './router';
import { Rewriter } from './rewriter';
import { RuleSet } from './rule-set';
import { StrictNameRules } from '../codec/name-validation';

export interface BuiltRouters<D> {
  received: Router<D>;
  internal: Router<D>;
  /** aggregation.output as destination/group names: a router that sends every aggregate there (undefined: aggregates go through `internal`). */
  aggregates?: Router<D>;
  /** Files to poll; after a change both routers must be invalidated. */
  reloadables: Reloadable[];
}

/**
 * Makes the routed value for a failover or any_of group: the relay's picks a
 * healthy member per datapoint (output/groups), the dry run's is a label. Its
 * choice changes with member health, so it is never cached per name here.
 */
export type HealthGroupFactory<D> = (group: HealthGroupConfig, members: D[]) => D;

/**
 * Builds the routers for a config over any destination representation: live
 * Destinations for the relay, names for `carbon-fanout route`. The same rules,
 * groups and filters either way, so the dry run cannot disagree with the relay.
 */
/** A ring node's identity, carbon's (server, instance): unique within a group (the loader checks). */
function byServerAndInstance<D>(a: HashRingNode<D>, b: HashRingNode<D>): number {
  if (a.server !== b.server) return a.server < b.server ? -1 : 1;
  if (a.instance === b.instance) return 0;
  if (a.instance === null) return -1;
  if (b.instance === null) return 1;
  return a.instance < b.instance ? -1 : 1;
}

export function buildRouters<D>(config: RelayConfig, destinationFor: (d: DestinationConfig) => D, log: Logger, healthGroupFor?: HealthGroupFactory<D>): BuiltRouters<D> {
  const targets = new Map<string, Target<D>>();
  const nodes = new Map<string, HashRingNode<D>>();
  const values = new Map<string, D>();
  for (const d of config.destinations) {
    const value = destinationFor(d);
    values.set(d.name, value);
    // carbon keys a ring node by the DESTINATIONS host string and instance, never the port
    if (d.type === 'carbon') nodes.set(d.name, { server: d.host, instance: d.instance ?? null, value });
    targets.set(d.name, new DirectTarget(value));
  }
  const reloadables: Reloadable[] = [];
  for (const g of config.groups) {
    if (!isHashGroup(g)) {
      if (healthGroupFor === undefined) throw new Error(`group ${g.name}: ${g.type} groups need a factory (a bug)`);
      targets.set(g.name, new DirectTarget(healthGroupFor(g as HealthGroupConfig, g.members.map((m) => values.get(m) as D))));
      continue;
    }
    const listed = g.members.map((m) => nodes.get(m) as HashRingNode<D>);
    const group = new HashGroup(g, g.memberOrder === 'sorted' ? [...listed].sort(byServerAndInstance) : listed, log);
    if (g.aggregationRules !== undefined) reloadables.push(group);
    targets.set(g.name, group);
  }
  const rules = new RuleSet(config.rules.rules, config.rules.defaultTargets).map((name) => targets.get(name) as Target<D>);
  const f = config.filters;
  const filter = f === undefined ? undefined : new NameFilter(f, log);
  if (filter !== undefined) reloadables.push(filter);
  const { maxNameLength } = config.listen;
  // off (and free) unless configured: no strict pass over new names, no rewrite step
  const strict = usesStrictValidation(config) ? new StrictNameRules(config.listen.strict) : undefined;
  const rewriter = config.rewrites.length > 0 ? new Rewriter(config.rewrites) : undefined;
  const output = config.aggregation?.output;
  return {
    received: new Router(rules, { filter, normalizeTags: config.normalizeTags, cacheSize: config.routeCacheSize, maxNameLength, strict, rewriter }),
    internal: new Router(rules, { normalizeTags: config.normalizeTags, cacheSize: 10_000, maxNameLength }),
    // a rule set of only a default rule: the same targets (hash and health groups too) the rules would name
    aggregates:
      output === undefined || output === 'rules'
        ? undefined
        : new Router(new RuleSet([], output.map((name) => targets.get(name) as Target<D>)), { normalizeTags: config.normalizeTags, cacheSize: config.routeCacheSize, maxNameLength }),
    reloadables,
  };
}

function usesStrictValidation(config: RelayConfig): boolean {
  const { line, pickle } = config.listen;
  return line?.validation === 'strict' || pickle?.validation === 'strict';
}
