import { carbonHash, pythonTupleRepr, type CarbonHashType } from './hash';
import type { HashRing, HashRingNode } from './ring';

/**
 * carbon's hash routing (carbon/hashing.py ConsistentHashRing, routers.py
 * ConsistentHashingRouter and FastHashRing, 1.1.x), reproduced exactly,
 * quirks included, so that a mixed fleet of carbon-relay and this relay sends
 * every metric to the same carbon-cache. Rings are generic over the value a
 * node carries (a destination object for the relay); nothing is cached per
 * key: callers memoise whole lookups themselves.
 */

/** carbon refuses a second destination with the same (server, instance) (ConsistentHashingRouter.addDestination). */
function duplicateError(server: string, instance: string | null): Error {
  return new Error(`destination instance (${server}, ${instance ?? 'None'}) already configured`);
}

interface Member<T> {
  readonly node: HashRingNode<T>;
  /** Walk id that last saw this member (a per-walk "seen" set without allocating one). */
  mark: number;
}

/** carbon's ConsistentHashRing: `replicaCount` (carbon: always 100) positions per node on a sorted ring. */
export class ConsistentHashRing<T> implements HashRing<T> {
  private readonly members: Member<T>[] = [];
  /** Ring entries, sorted by position (positions are unique, so no tie-break is needed). */
  private positions: number[] = [];
  private owners: Member<T>[] = [];
  private readonly taken = new Set<number>();
  private walkId = 0;
  private walking = false;

  constructor(
    readonly hashType: CarbonHashType,
    nodes: Iterable<HashRingNode<T>> = [],
    readonly replicaCount = 100,
  ) {
    for (const n of nodes) this.addNode(n);
  }

  get size(): number {
    return this.members.length;
  }

  /** Ring entries as [position, node] in ring order (carbon's `ring.ring`). */
  entries(): [number, HashRingNode<T>][] {
    return this.positions.map((p, i) => [p, this.owners[i]!.node]);
  }

  /** carbonHash(key, hashType). */
  position(key: string): number {
    return carbonHash(key, this.hashType);
  }

  /**
   * add_node. Each replica key is hashed, then bumped by +1 while its position
   * is taken by any entry already on the ring (so insertion order matters, and
   * positions may pass 65535; nothing wraps).
   */
  addNode(node: HashRingNode<T>): void {
    if (this.indexOf(node.server, node.instance) >= 0) throw duplicateError(node.server, node.instance);
    const member: Member<T> = { node, mark: 0 };
    this.members.push(member);
    const tuple = pythonTupleRepr(node.server, node.instance);
    const instance = node.instance ?? 'None';
    const added: number[] = [];
    for (let i = 0; i < this.replicaCount; i++) {
      // fnv1a_ch keys use the instance only ("%d-%s" % (i, key[1])), so instance-less nodes all collide.
      const replicaKey = this.hashType === 'fnv1a_ch' ? `${i}-${instance}` : `${tuple}:${i}`;
      let pos = this.position(replicaKey);
      while (this.taken.has(pos)) pos++;
      this.taken.add(pos);
      added.push(pos);
    }
    const merged: [number, Member<T>][] = this.positions.map((p, i) => [p, this.owners[i]!]);
    for (const p of added) merged.push([p, member]);
    merged.sort((a, b) => a[0] - b[0]);
    this.positions = merged.map((e) => e[0]);
    this.owners = merged.map((e) => e[1]);
  }

  /** remove_node: drops the node's entries; the others keep their (possibly bumped) positions. */
  removeNode(server: string, instance: string | null): boolean {
    const idx = this.indexOf(server, instance);
    if (idx < 0) return false;
    const [member] = this.members.splice(idx, 1);
    const keep: number[] = [];
    const keepOwners: Member<T>[] = [];
    for (let i = 0; i < this.positions.length; i++) {
      if (this.owners[i] === member) this.taken.delete(this.positions[i]!);
      else {
        keep.push(this.positions[i]!);
        keepOwners.push(this.owners[i]!);
      }
    }
    this.positions = keep;
    this.owners = keepOwners;
    return true;
  }

  /**
   * get_nodes: start at bisect_left(position) (wrapping to 0), walk forward
   * yielding each node not yet seen, until every node is seen or the entry
   * just before the start is reached (that last entry is never visited).
   * With exactly one node, that node is yielded first and then again by the walk.
   */
  walk(key: string, visit: (node: HashRingNode<T>) => boolean): void {
    const len = this.positions.length;
    if (len === 0) return;
    if (this.members.length === 1 && !visit(this.members[0]!.node)) return;
    if (this.walking) return this.walkNested(key, visit);
    let idx = this.bisectLeft(this.position(key));
    if (idx === len) idx = 0;
    const last = idx === 0 ? len - 1 : idx - 1;
    const total = this.members.length;
    const id = ++this.walkId;
    let seen = 0;
    this.walking = true;
    try {
      while (seen < total && idx !== last) {
        const m = this.owners[idx]!;
        if (m.mark !== id) {
          m.mark = id;
          seen++;
          if (!visit(m.node)) return;
        }
        idx = idx + 1 === len ? 0 : idx + 1;
      }
    } finally {
      this.walking = false;
    }
  }

  /** The same walk with a real set, for a visitor that walks this ring again (marks would clash). */
  private walkNested(key: string, visit: (node: HashRingNode<T>) => boolean): void {
    const len = this.positions.length;
    let idx = this.bisectLeft(this.position(key)) % len;
    const last = (idx - 1 + len) % len;
    const seen = new Set<Member<T>>();
    while (seen.size < this.members.length && idx !== last) {
      const m = this.owners[idx]!;
      if (!seen.has(m)) {
        seen.add(m);
        if (!visit(m.node)) return;
      }
      idx = (idx + 1) % len;
    }
  }

  /** First index whose position is >= pos (bisect_left on (pos, ())). */
  private bisectLeft(pos: number): number {
    const a = this.positions;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private indexOf(server: string, instance: string | null): number {
    return this.members.findIndex((m) => m.node.server === server && m.node.instance === instance);
  }
}

/**
 * carbon's FastHashRing (fast-hashing, fast-aggregated-hashing): nodes sorted
 * by carbonHash(str((server, instance))), whatever the hash type; a key starts
 * at index carbonHash(key) mod n (Python modulo: never negative) and takes
 * every node from there, wrapping. carbon's own default type here is mmh3_ch.
 * Nodes with equal hashes keep their insertion order; in carbon they keep the
 * iteration order of a Python set, which changes from run to run.
 */
export class FastHashRing<T> implements HashRing<T> {
  private readonly nodes: { node: HashRingNode<T>; hash: number }[] = [];
  private sorted: HashRingNode<T>[] = [];

  constructor(
    readonly hashType: CarbonHashType,
    nodes: Iterable<HashRingNode<T>> = [],
  ) {
    for (const n of nodes) this.addNode(n);
  }

  get size(): number {
    return this.nodes.length;
  }

  /** Nodes in ring order (carbon's sorted_nodes). */
  sortedNodes(): readonly HashRingNode<T>[] {
    return this.sorted;
  }

  addNode(node: HashRingNode<T>): void {
    if (this.indexOf(node.server, node.instance) >= 0) throw duplicateError(node.server, node.instance);
    this.nodes.push({ node, hash: carbonHash(pythonTupleRepr(node.server, node.instance), this.hashType) });
    this.resort();
  }

  removeNode(server: string, instance: string | null): boolean {
    const idx = this.indexOf(server, instance);
    if (idx < 0) return false;
    this.nodes.splice(idx, 1);
    this.resort();
    return true;
  }

  walk(key: string, visit: (node: HashRingNode<T>) => boolean): void {
    const n = this.sorted.length;
    if (n === 0) return;
    const seed = ((carbonHash(key, this.hashType) % n) + n) % n;
    for (let k = 0; k < n; k++) {
      const i = seed + k;
      if (!visit(this.sorted[i < n ? i : i - n]!)) return;
    }
  }

  private resort(): void {
    // Array.prototype.sort is stable: equal hashes stay in insertion order.
    this.sorted = [...this.nodes].sort((a, b) => a.hash - b.hash).map((e) => e.node);
  }

  private indexOf(server: string, instance: string | null): number {
    return this.nodes.findIndex((e) => e.node.server === server && e.node.instance === instance);
  }
}
