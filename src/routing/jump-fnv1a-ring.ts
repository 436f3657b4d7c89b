import { fnv1a64, jumpBucket, mul64, r64, XORSHIFT_MUL_HI, XORSHIFT_MUL_LO } from '../common/jump-fnv1a';
import type { HashRing, HashRingNode } from './ring';

/**
 * carbon-c-relay's `jump_fnv1a_ch` cluster (consistent-hash.c, 3.x):
 *  - members are ordered once: those with an `=instance` first, by instance
 *    (as integers when both parse completely as base-10 longs, otherwise
 *    strcmp), then those without, in config order; the sort is glibc's
 *    merge sort (stable), reproduced here because the mixed numeric/string
 *    comparison is not transitive and a different algorithm could disagree;
 *  - a key hashes to 64-bit FNV-1a, Lamping & Veach's jump hash picks a bucket
 *    among the n members; for each further replica the hash is scrambled by
 *    one xorshift64* step and the picked member is swapped out (last one into
 *    its slot), so replicas are always distinct members.
 * Host and port take no part: only the order of the members does.
 */

export interface JumpFnv1aOptions {
  /**
   * carbon-c-relay's 64-bit FNV-1a xors in each byte as a plain `char`, so
   * where char is signed (x86-64, the usual build) a byte >= 0x80 goes in
   * sign-extended to 64 bits (0xffffffffffffffxx); this was checked against
   * Debian's carbon-c-relay 3.7.3 on amd64. Set false for an unsigned-char
   * build (arm64). Default true. ASCII keys hash the same either way, and
   * carbon-c-relay replaces non-ASCII bytes outside tags with '_' before
   * routing, so only tag values can reach the hash with such bytes.
   */
  signedChar?: boolean;
}

export class JumpFnv1aRing<T> implements HashRing<T> {
  private readonly order: HashRingNode<T>[];
  private readonly signedChar: boolean;

  constructor(nodes: Iterable<HashRingNode<T>>, options: JumpFnv1aOptions = {}) {
    this.signedChar = options.signedChar ?? true;
    const members = [...nodes].map((node, index) => ({ node, index, bytes: node.instance === null ? null : Buffer.from(node.instance, 'utf8') }));
    this.order = mergeSort(members, compareMembers).map((m) => m.node);
  }

  get size(): number {
    return this.order.length;
  }

  /** Members in bucket order (bucket i is the i-th). */
  buckets(): readonly HashRingNode<T>[] {
    return this.order;
  }

  /** The distinct members for `key`, in carbon-c-relay's replica order, until `visit` returns false. */
  walk(key: string, visit: (node: HashRingNode<T>) => boolean): void {
    let n = this.order.length;
    if (n === 0) return;
    fnv1a64(key, this.signedChar);
    let hi = r64.hi;
    let lo = r64.lo;
    let j = jumpBucket(hi, lo, n);
    if (!visit(this.order[j]!) || n === 1) return;
    const left = this.order.slice(); // the first pick needs no copy; later ones swap-remove
    for (;;) {
      // xorshift64*: h ^= h >> 12; h ^= h << 25; h ^= h >> 27; h *= 2685821657736338717
      lo = (lo ^ ((lo >>> 12) | (hi << 20))) >>> 0;
      hi = (hi ^ (hi >>> 12)) >>> 0;
      hi = (hi ^ ((hi << 25) | (lo >>> 7))) >>> 0;
      lo = (lo ^ (lo << 25)) >>> 0;
      lo = (lo ^ ((lo >>> 27) | (hi << 5))) >>> 0;
      hi = (hi ^ (hi >>> 27)) >>> 0;
      mul64(hi, lo, XORSHIFT_MUL_HI, XORSHIFT_MUL_LO);
      hi = r64.hi;
      lo = r64.lo;
      left[j] = left[--n]!;
      j = jumpBucket(hi, lo, n);
      if (!visit(left[j]!) || n === 1) return;
    }
  }
}

// --- member order ---------------------------------------------------------

interface Member<T> {
  readonly node: HashRingNode<T>;
  /** Position in the config (carbon-c-relay's entry pos). */
  readonly index: number;
  readonly bytes: Buffer | null;
}

function compareMembers<T>(l: Member<T>, r: Member<T>): number {
  if (l.bytes === null && r.bytes === null) return l.index - r.index;
  if (l.bytes === null) return 1;
  if (r.bytes === null) return -1;
  const vl = strtolWhole(l.node.instance!);
  if (vl !== null) {
    const vr = strtolWhole(r.node.instance!);
    // (int)(val_l - val_r) with C's wrapping 64-bit longs
    if (vr !== null) return Number(BigInt.asIntN(32, BigInt.asIntN(64, vl - vr)));
  }
  return Buffer.compare(l.bytes, r.bytes); // strcmp: unsigned bytes
}

const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);

/** strtol(s, &end, 10) when *end == '\0' afterwards (the whole string is the number), else null. */
function strtolWhole(s: string): bigint | null {
  if (s === '') return 0n; // no digits: end stays at s, which is "\0"
  const m = /^[ \t\n\v\f\r]*([+-]?[0-9]+)$/.exec(s);
  if (m === null) return null;
  const v = BigInt(m[1]!);
  return v > LONG_MAX ? LONG_MAX : v < LONG_MIN ? LONG_MIN : v;
}

/** glibc qsort's top-down merge sort (msort_with_tmp): left half first on cmp <= 0. */
function mergeSort<E>(a: E[], cmp: (l: E, r: E) => number): E[] {
  if (a.length <= 1) return a.slice();
  const n1 = a.length >>> 1;
  const left = mergeSort(a.slice(0, n1), cmp);
  const right = mergeSort(a.slice(n1), cmp);
  const out: E[] = [];
  let i = 0;
  let k = 0;
  while (i < left.length && k < right.length) out.push(cmp(left[i]!, right[k]!) <= 0 ? left[i++]! : right[k++]!);
  while (i < left.length) out.push(left[i++]!);
  while (k < right.length) out.push(right[k++]!);
  return out;
}
