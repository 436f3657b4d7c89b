/** The ring contract every hash routing shares (carbon's rings and carbon-c-relay's jump hash). */

/** A ring member: carbon's node key is (server, instance); the port plays no part in hashing. */
export interface HashRingNode<T> {
  /** The DESTINATIONS host string, as written (no DNS; `::1` for `[::1]:2004`). */
  readonly server: string;
  /** The DESTINATIONS instance, or null for Python's None. */
  readonly instance: string | null;
  readonly value: T;
}

/** What getDestinations needs from a ring: the nodes for `key` in carbon's get_nodes order. */
export interface HashRing<T> {
  /** Number of nodes (not ring entries). */
  readonly size: number;
  /** Calls `visit` with each node in get_nodes order until it returns false or the walk ends. */
  walk(key: string, visit: (node: HashRingNode<T>) => boolean): void;
}

/** Every node `walk` yields for `key` (carbon's full `list(ring.get_nodes(key))`). */
export function ringNodes<T>(ring: HashRing<T>, key: string): HashRingNode<T>[] {
  const out: HashRingNode<T>[] = [];
  ring.walk(key, (n) => (out.push(n), true));
  return out;
}

/**
 * ConsistentHashingRouter.getDestinations: the values of the nodes `key` goes
 * to, in carbon's order.
 *  - diverse (DIVERSE_REPLICAS, carbon's default): walk order, skipping a node
 *    whose server string was already used, until `replicationFactor` distinct
 *    servers; may return fewer when there are fewer servers. At least one node
 *    is returned whatever the factor, as in carbon.
 *  - otherwise: the first `replicationFactor` nodes of the walk. With a single
 *    node and a factor >= 2 that node comes back twice (get_nodes yields it
 *    twice); carbon's client manager dedupes by putting destinations in a set.
 */
export function getDestinations<T>(ring: HashRing<T>, key: string, replicationFactor: number, diverseReplicas: boolean): T[] {
  const out: T[] = [];
  if (diverseReplicas) {
    const used: string[] = [];
    ring.walk(key, (n) => {
      if (used.includes(n.server)) return true;
      used.push(n.server);
      out.push(n.value);
      return used.length < replicationFactor;
    });
  } else {
    ring.walk(key, (n) => {
      if (out.length === replicationFactor) return false;
      out.push(n.value);
      return true;
    });
  }
  return out;
}
