import type { HashGroupConfig } from '../config/schema';
import type { Logger } from '../telemetry/logger';
import { AggregationRulesFile } from './aggregation-rules';
import { ConsistentHashRing, FastHashRing } from './hash-ring';
import { JumpFnv1aRing } from './jump-fnv1a-ring';
import { getDestinations, type HashRing, type HashRingNode } from './ring';
import type { Reloadable } from './reloader';
import type { Target } from './router';

/** carbon's ConsistentHashRing always builds 100 replicas per node. */
const CARBON_REPLICAS = 100;

function buildRing<D>(group: HashGroupConfig, nodes: HashRingNode<D>[]): HashRing<D> {
  if (group.type === 'jump_fnv1a_ch') return new JumpFnv1aRing(nodes);
  if (group.ring === 'fast') return new FastHashRing(group.type, nodes);
  return new ConsistentHashRing(group.type, nodes, CARBON_REPLICAS);
}

/**
 * A rule target that splits metrics over its members by hash: carbon's
 * consistent-hashing, fast-hashing and aggregated-consistent-hashing routers,
 * or carbon-c-relay's jump_fnv1a_ch. Lookups are not cached here; the Router
 * memoises whole routing decisions per name.
 */
export class HashGroup<D> implements Target<D>, Reloadable {
  private readonly ring: HashRing<D>;
  private readonly aggregation: AggregationRulesFile | undefined;

  constructor(
    readonly config: HashGroupConfig,
    members: HashRingNode<D>[],
    log: Logger,
  ) {
    this.ring = buildRing(config, members);
    this.aggregation = config.aggregationRules === undefined ? undefined : new AggregationRulesFile(config.aggregationRules, log);
  }

  collect(name: string, out: D[]): void {
    if (this.aggregation === undefined) {
      this.collectKey(name, out);
      return;
    }
    // carbon: the union over the aggregate names the metric feeds (or the name itself when no rule matches)
    for (const key of this.aggregation.keysFor(name)) this.collectKey(key, out);
  }

  /** Re-read the aggregation rules when their file changed; true when routing may differ. */
  refresh(): boolean {
    return this.aggregation?.refresh() ?? false;
  }

  private collectKey(key: string, out: D[]): void {
    // getDestinations may repeat a node (a one-node ring yields it twice); carbon dedupes with a set
    for (const d of getDestinations(this.ring, key, this.config.replication, this.config.diverse)) {
      if (!out.includes(d)) out.push(d);
    }
  }
}
