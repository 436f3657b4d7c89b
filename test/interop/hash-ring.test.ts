import { CARBON_HASH_TYPES, carbonHash, pythonStrRepr, pythonTupleRepr, type CarbonHashType } from '../../src/routing/hash';
import { ConsistentHashRing, FastHashRing } from '../../src/routing/hash-ring';
import { getDestinations, ringNodes, type HashRing, type HashRingNode } from '../../src/routing/ring';
import { seededRandom } from '../helpers/fixtures';
import { MURMUR3_VECTORS } from '../helpers/murmur3-vectors';
import { runPythonJson } from '../helpers/python';

/**
 * Our hash routing against Debian graphite-carbon's own code: carbon.routers
 * ConsistentHashingRouter / FastHashingRouter and carbon.hashing
 * ConsistentHashRing, run once in /usr/bin/python3 over every case (one JSON
 * round trip). The `mmh3` extension is not packaged for Debian, so the script
 * patches carbon.hashing.mmh3 with a pure-Python MurmurHash3 whose output is
 * checked here against published reference values.
 */

type Dest = [server: string, port: number, instance: string | null];
type Method = 'consistent-hashing' | 'fast-hashing';

interface RouterCase {
  id: string;
  method: Method;
  hashType: CarbonHashType;
  rf: number;
  diverse: boolean;
  dests: Dest[];
}

/** A bare ConsistentHashRing with add/remove operations applied after construction. */
interface RingCase {
  id: string;
  hashType: CarbonHashType;
  replicaCount: number;
  nodes: [string, string | null][];
  initial: number[];
  ops: ['add' | 'remove', number][];
}

interface PyResult {
  python: string;
  unicode: string;
  /** [signed mmh3, unsigned] per MMH3_VECTORS entry */
  mmh3Vectors: [number, number][];
  /** [carbon_ch, fnv1a_ch, mmh3_ch] per name */
  hashes: [number, number, number][];
  /** destination indexes per name, per router id */
  routes: Record<string, number[][]>;
  /** consistent-hashing routers: router.ring.ring as [position, destination index] */
  ringEntries: Record<string, [number, number][]>;
  /** fast-hashing routers: router.ring.sorted_nodes as destination indexes */
  fastSorted: Record<string, number[]>;
  rings: Record<string, { entries: [number, number][]; walks: number[][] }>;
  /** [repr(s), str((s, None))] per REPR_STRINGS entry */
  reprs: [string, string][];
  /** inclusive code point ranges where not chr(cp).isprintable() */
  nonPrintable: [number, number][];
  /** inclusive code point ranges of category Cn (unassigned) in that Python's Unicode tables */
  unassigned: [number, number][];
}

const SCRIPT = String.raw`
import json, sys, unicodedata
import carbon.hashing as H

def murmur3_32(data, seed=0):
    c1, c2, m = 0xcc9e2d51, 0x1b873593, 0xffffffff
    h, n = seed & m, len(data)
    for i in range(0, n - n % 4, 4):
        k = int.from_bytes(data[i:i + 4], 'little')
        k = (k * c1) & m; k = ((k << 15) | (k >> 17)) & m; k = (k * c2) & m
        h ^= k; h = ((h << 13) | (h >> 19)) & m; h = (h * 5 + 0xe6546b64) & m
    t = data[n - n % 4:]
    k = 0
    if len(t) >= 3: k ^= t[2] << 16
    if len(t) >= 2: k ^= t[1] << 8
    if len(t) >= 1:
        k ^= t[0]; k = (k * c1) & m; k = ((k << 15) | (k >> 17)) & m; k = (k * c2) & m; h ^= k
    h ^= n
    h ^= h >> 16; h = (h * 0x85ebca6b) & m; h ^= h >> 13; h = (h * 0xc2b2ae35) & m; h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h

class PureMmh3:
    """What carbon.hashing needs of the mmh3 module: hash(str) -> signed int32 of its UTF-8 bytes."""
    @staticmethod
    def hash(key, seed=0):
        return murmur3_32(key.encode('utf-8'), seed)

H.mmh3 = PureMmh3
from carbon.conf import settings
from carbon.routers import ConsistentHashingRouter, FastHashingRouter

req = json.load(sys.stdin)
names = req['names']
types = ['carbon_ch', 'fnv1a_ch', 'mmh3_ch']
out = {'python': sys.version.split()[0], 'unicode': unicodedata.unidata_version}
out['mmh3Vectors'] = [[murmur3_32(bytes.fromhex(h), s), murmur3_32(bytes.fromhex(h), s) & 0xffffffff] for h, s in req['mmh3Vectors']]
out['hashes'] = [[H.carbonHash(n, t) for t in types] for n in names]

routes, ring_entries, fast_sorted = {}, {}, {}
for rc in req['routers']:
    # ConsistentHashingRouter.__init__ reads exactly these three (FastHashRing: ROUTER_HASH_TYPE)
    settings['REPLICATION_FACTOR'] = rc['rf']
    settings['DIVERSE_REPLICAS'] = rc['diverse']
    settings['ROUTER_HASH_TYPE'] = rc['hashType']
    cls = ConsistentHashingRouter if rc['method'] == 'consistent-hashing' else FastHashingRouter
    router = cls(settings)
    dests = [tuple(d) for d in rc['dests']]
    for d in dests:
        router.addDestination(d)
    index = {d: i for i, d in enumerate(dests)}
    key_index = {(d[0], d[2]): i for i, d in enumerate(dests)}
    routes[rc['id']] = [[index[d] for d in router.getDestinations(n)] for n in names]
    if rc['method'] == 'consistent-hashing':
        ring_entries[rc['id']] = [[p, key_index[k]] for p, k in router.ring.ring]
    else:
        fast_sorted[rc['id']] = [key_index[k] for h, k in router.ring.sorted_nodes]
out['routes'], out['ringEntries'], out['fastSorted'] = routes, ring_entries, fast_sorted

rings = {}
for rc in req['rings']:
    nodes = [tuple(n) for n in rc['nodes']]
    idx = {n: i for i, n in enumerate(nodes)}
    ring = H.ConsistentHashRing([nodes[i] for i in rc['initial']], replica_count=rc['replicaCount'], hash_type=rc['hashType'])
    for op, i in rc['ops']:
        (ring.add_node if op == 'add' else ring.remove_node)(nodes[i])
    rings[rc['id']] = {
        'entries': [[p, idx[k]] for p, k in ring.ring],
        'walks': [[idx[k] for k in ring.get_nodes(n)] for n in names],
    }
out['rings'] = rings

out['reprs'] = [[repr(s), str((s, None))] for s in req['reprs']]

def ranges(pred):
    res, start = [], None
    for cp in range(0x110000):
        if pred(cp):
            if start is None:
                start = cp
        elif start is not None:
            res.append([start, cp - 1]); start = None
    if start is not None:
        res.append([start, 0x10ffff])
    return res
out['nonPrintable'] = ranges(lambda cp: not chr(cp).isprintable())
out['unassigned'] = ranges(lambda cp: unicodedata.category(chr(cp)) == 'Cn')
sys.stdout.write(json.dumps(out, separators=(',', ':')))  # dumps uses the C encoder, dump does not
`;

/** Published MurmurHash3_x86_32 values: [input (latin1), seed, unsigned hash]. */
const MMH3_VECTORS = MURMUR3_VECTORS;


/** Code point pools for generated strings: ASCII, controls, quotes, Latin-1, BMP scripts, specials, astral. */
const POOLS: [number, number][] = [
  [0x20, 0x7e],
  [0x20, 0x7e],
  [0x00, 0x1f],
  [0x7f, 0xff],
  [0x370, 0x3ff],
  [0x400, 0x4ff],
  [0x2000, 0x206f],
  [0x4e00, 0x4e80],
  [0xe000, 0xe010],
  [0xfff0, 0xffff],
  [0x1f300, 0x1f6ff],
  [0xe0000, 0xe0100],
  [0x10fff0, 0x10ffff],
];

function randomString(rand: () => number, maxLen: number, allowSurrogates: boolean): string {
  const len = 1 + Math.floor(rand() * maxLen);
  let s = '';
  for (let i = 0; i < len; i++) {
    if (allowSurrogates && rand() < 0.03) {
      s += String.fromCharCode(0xd800 + Math.floor(rand() * 0x800)); // lone surrogate
      continue;
    }
    const [lo, hi] = POOLS[Math.floor(rand() * POOLS.length)]!;
    s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
  }
  return s;
}

function metricNames(): string[] {
  const names: string[] = [];
  for (let i = 0; i < 100; i++) for (let j = 0; j < 20; j++) names.push(`servers.host${i}.cpu.${j}`);
  names.push(
    '', 'x', 'foo.bar', 'a.b.c.d', 'servers.web01.cpu.user', '.leading', 'trailing.', 'double..dot', '..', '.',
    'with space', ' leading.space', 'trailing.space ', 'two  spaces', 'tab\tname',
    'a;x=1;y=2', 'a;y=2;x=1', 'name;tag=value', 'cpu;host=sérvers.ü;dc=eu', 'm;a=ü;b=€',
    'sérvers.ü', 'метрика.cpu', '指标.值', 'ｆｕｌｌ.width', '𝔘𝔫𝔦.code', 'e\u0301.combining', 'é.composed',
    '📈.up', '👍🏽.thumbs', '🏳️‍🌈.zwj', 'nul\u0000byte', 'line\u2028sep', 'bom\ufeff.x', "quote's.name", 'back\\slash', 'dq"name',
    'carbon.relays.host-a.metricsReceived', 'carbon.relays.host-a.metricsQueued', 'carbon.relays.host-a.cpuUsage',
    'carbon.relays.host-a.destinations.127_0_0_1:2004:a.sent', 'carbon.relays.host-a.destinations.127_0_0_1:2004:None.fullQueueDrops',
    'carbon.agents.host-a.memUsage', 'carbon.aggregator.host-a.allocatedBuckets', '12345', '-1', 'a'.repeat(600), 'x.'.repeat(150) + 'y',
  );
  const rand = seededRandom(0xc0ffee);
  for (let i = 0; i < 150; i++) names.push(randomString(rand, 24, false));
  return names;
}

const S1: Dest[] = [['127.0.0.1', 2004, 'a'], ['127.0.0.1', 2104, 'b'], ['127.0.0.1', 2204, 'c']];
const S2: Dest[] = [1, 2, 3, 4, 5, 6].map((i) => [`10.0.0.${i}`, 2004, null]);
const S3: Dest[] = [
  ['10.0.1.1', 2004, 'a'], ['10.0.1.1', 2104, 'b'],
  ['10.0.1.2', 2004, 'a'], ['10.0.1.2', 2104, 'b'],
  ['10.0.1.3', 2004, 'a'], ['10.0.1.3', 2104, 'b'],
];
const SINGLE: Dest[] = [['127.0.0.1', 2004, null]];
const SINGLE_INSTANCE: Dest[] = [['cache.internal', 2004, 'a']];
const HOSTS: Dest[] = [
  ['::1', 2004, 'a'], ['::1', 2104, 'b'], ['graphite-01.example.com', 2004, null],
  ['cache.internal', 2004, 'c'], ['hôst-ü.example', 2004, 'd'], ['fe80::1%eth0', 2004, null],
];
/** Strings that exercise repr's quoting and escaping inside the replica keys. */
const ODD: Dest[] = [
  ["o'brien", 2004, 'x'], ['q"uote\'both', 2004, 'y'], ['back\\slash', 2004, 'None'], ['back\\slash', 2104, null],
  ['zw\u200bsp', 2004, 'ü'], ['tab\there', 2004, '\u0007bell'], ['emoji📈', 2004, '😀'],
];
const SETS: Record<string, Dest[]> = { S1, S2, S3, SINGLE, SINGLE_INSTANCE, HOSTS, ODD };

function routerCases(): RouterCase[] {
  const cases: RouterCase[] = [];
  for (const [set, dests] of Object.entries(SETS)) {
    for (const hashType of CARBON_HASH_TYPES) {
      for (const [rf, diverse] of [[1, true], [2, true], [2, false], [3, true]] as const) {
        if (rf === 3 && new Set(dests.map((d) => d[0])).size < 3) continue; // same as RF 2 there
        cases.push({ id: `consistent/${hashType}/${set}/rf${rf}${diverse ? '/diverse' : ''}`, method: 'consistent-hashing', hashType, rf, diverse, dests });
      }
      for (const [rf, diverse] of [[1, true], [2, true], [2, false]] as const) {
        cases.push({ id: `fast/${hashType}/${set}/rf${rf}${diverse ? '/diverse' : ''}`, method: 'fast-hashing', hashType, rf, diverse, dests });
      }
    }
  }
  // outside what a config allows, but carbon's loop decides these too
  cases.push({ id: 'consistent/carbon_ch/S3/rf0/diverse', method: 'consistent-hashing', hashType: 'carbon_ch', rf: 0, diverse: true, dests: S3 });
  cases.push({ id: 'consistent/carbon_ch/S3/rf0', method: 'consistent-hashing', hashType: 'carbon_ch', rf: 0, diverse: false, dests: S3 });
  return cases;
}

const key = (d: Dest): [string, string | null] => [d[0], d[2]];
const RING_CASES: RingCase[] = [
  // with one replica per node the walk's "stop before the start" shows: never more than n-1 nodes
  { id: 'carbon_ch x1 a,b,c', hashType: 'carbon_ch', replicaCount: 1, nodes: [['a', null], ['b', null], ['c', null]], initial: [0, 1, 2], ops: [] },
  { id: 'carbon_ch x2 two nodes', hashType: 'carbon_ch', replicaCount: 2, nodes: [['a', 'x'], ['b', 'x']], initial: [0, 1], ops: [] },
  { id: 'fnv1a_ch x3 no instances', hashType: 'fnv1a_ch', replicaCount: 3, nodes: S2.map(key), initial: [0, 1, 2, 3, 4, 5], ops: [] },
  {
    id: 'carbon_ch S3 remove, add new, re-add', hashType: 'carbon_ch', replicaCount: 100,
    nodes: [...S3.map(key), ['10.0.1.9', 'a']], initial: [0, 1, 2, 3, 4, 5], ops: [['remove', 2], ['add', 6], ['add', 2]],
  },
  {
    id: 'fnv1a_ch S2 remove first, add new', hashType: 'fnv1a_ch', replicaCount: 100,
    nodes: [...S2.map(key), ['10.0.0.9', null]], initial: [0, 1, 2, 3, 4, 5], ops: [['remove', 0], ['add', 6]],
  },
  {
    id: 'mmh3_ch HOSTS remove and re-add first', hashType: 'mmh3_ch', replicaCount: 100,
    nodes: HOSTS.map(key), initial: [0, 1, 2, 3, 4, 5], ops: [['remove', 0], ['add', 0]],
  },
  { id: 'carbon_ch ODD down to one node', hashType: 'carbon_ch', replicaCount: 100, nodes: ODD.map(key), initial: [0, 1], ops: [['remove', 0]] },
];

const REPR_STRINGS: string[] = (() => {
  const rand = seededRandom(42);
  const out = ["o'brien", 'q"uote\'both', '"', "'", '\\', '', 'None', '\ud800', 'a\udfffb', '\u0085\u00a0\u00ad'];
  for (let i = 0; i < 400; i++) out.push(randomString(rand, 12, true));
  return out;
})();

function buildRing(c: RouterCase): HashRing<number> {
  const nodes: HashRingNode<number>[] = c.dests.map((d, i) => ({ server: d[0], instance: d[2], value: i }));
  return c.method === 'consistent-hashing' ? new ConsistentHashRing(c.hashType, nodes) : new FastHashRing(c.hashType, nodes);
}

/** The first few names whose results differ, for a readable failure. */
function diff<T>(names: readonly string[], ours: T[], theirs: T[]): { name: string; ours: T; carbon: T }[] {
  const out: { name: string; ours: T; carbon: T }[] = [];
  for (let i = 0; i < names.length && out.length < 5; i++) {
    if (JSON.stringify(ours[i]) !== JSON.stringify(theirs[i])) out.push({ name: names[i]!, ours: ours[i]!, carbon: theirs[i]! });
  }
  return out;
}

function inRanges(ranges: readonly [number, number][], cp: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const [a, b] = ranges[mid]!;
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

describe('hash routing matches Debian carbon (carbon.routers / carbon.hashing)', () => {
  const names = metricNames();
  const routers = routerCases();
  let py: PyResult;

  beforeAll(async () => {
    const input = JSON.stringify({
      names,
      routers,
      rings: RING_CASES,
      reprs: REPR_STRINGS,
      mmh3Vectors: MMH3_VECTORS.map(([s, seed]) => [Buffer.from(s, 'latin1').toString('hex'), seed]),
    });
    py = await runPythonJson<PyResult>(SCRIPT, { input, timeoutMs: 120_000 });
  }, 150_000);

  it('covers enough names and cases', () => {
    expect(names.length).toBeGreaterThanOrEqual(2000);
    expect(new Set(names).size).toBe(names.length);
    expect(py.hashes).toHaveLength(names.length);
    expect(Object.keys(py.routes)).toHaveLength(routers.length);
  });

  it("the script's pure-Python MurmurHash3 (standing in for mmh3) gives the published values", () => {
    expect(py.mmh3Vectors.map(([, unsigned]) => unsigned)).toEqual(MMH3_VECTORS.map(([, , h]) => h));
    expect(py.mmh3Vectors.map(([signed]) => signed)).toEqual(MMH3_VECTORS.map(([, , h]) => h | 0));
  });

  it.each(CARBON_HASH_TYPES.map((t, i) => [t, i] as const))('carbonHash(%s) of every name', (type, col) => {
    const ours = names.map((n) => carbonHash(n, type));
    const theirs = py.hashes.map((h) => h[col]!);
    expect(diff(names, ours, theirs)).toEqual([]);
  });

  it('consistent-hashing builds the same rings (positions after collision bumps)', () => {
    for (const c of routers.filter((r) => r.method === 'consistent-hashing')) {
      const ring = buildRing(c) as ConsistentHashRing<number>;
      expect([c.id, ring.entries().map(([p, n]) => [p, n.value])]).toEqual([c.id, py.ringEntries[c.id]]);
    }
  });

  it('fast-hashing sorts the nodes the same way', () => {
    for (const c of routers.filter((r) => r.method === 'fast-hashing')) {
      const ring = buildRing(c) as FastHashRing<number>;
      // carbon breaks ties in a Python set's (per-process) order: test data must have none
      const hashes = c.dests.map((d) => carbonHash(pythonTupleRepr(d[0], d[2]), c.hashType));
      expect([c.id, new Set(hashes).size]).toEqual([c.id, c.dests.length]);
      expect([c.id, ring.sortedNodes().map((n) => n.value)]).toEqual([c.id, py.fastSorted[c.id]]);
    }
  });

  it('getDestinations gives the same destinations in the same order for every router and name', () => {
    let compared = 0;
    for (const c of routers) {
      const ring = buildRing(c);
      const ours = names.map((n) => getDestinations(ring, n, c.rf, c.diverse));
      expect([c.id, diff(names, ours, py.routes[c.id]!)]).toEqual([c.id, []]);
      compared += names.length;
    }
    expect(compared).toBeGreaterThan(300_000);
  });

  it.each(RING_CASES.map((c) => [c.id, c] as const))('ConsistentHashRing get_nodes: %s', (_id, c) => {
    const nodes: HashRingNode<number>[] = c.nodes.map(([server, instance], i) => ({ server, instance, value: i }));
    const ring = new ConsistentHashRing(c.hashType, c.initial.map((i) => nodes[i]!), c.replicaCount);
    for (const [op, i] of c.ops) {
      if (op === 'add') ring.addNode(nodes[i]!);
      else expect(ring.removeNode(nodes[i]!.server, nodes[i]!.instance)).toBe(true);
    }
    const theirs = py.rings[c.id]!;
    expect(ring.entries().map(([p, n]) => [p, n.value])).toEqual(theirs.entries);
    const ours = names.map((n) => ringNodes(ring, n).map((x) => x.value));
    expect(diff(names, ours, theirs.walks)).toEqual([]);
  });

  it('pythonStrRepr / pythonTupleRepr equal repr() and str(tuple) on generated strings (quotes, controls, lone surrogates, astral)', () => {
    const ours = REPR_STRINGS.map((s) => [pythonStrRepr(s), pythonTupleRepr(s, null)]);
    expect(diff(REPR_STRINGS, ours, py.reprs)).toEqual([]);
  });

  it("escapes exactly the characters Python's isprintable() rejects, except ones this Python's Unicode tables do not assign yet", () => {
    const unexpected: string[] = [];
    let newer = 0;
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp === 0x27 || cp === 0x5c) continue; // the quote and backslash are escaped for other reasons
      const ch = String.fromCodePoint(cp);
      const escaped = pythonStrRepr(ch) !== `'${ch}'`;
      const pyEscaped = inRanges(py.nonPrintable, cp);
      if (escaped === pyEscaped) continue;
      // Node's ICU knows characters assigned after this Python's Unicode version (it calls them Cn and escapes them)
      if (!escaped && inRanges(py.unassigned, cp)) newer++;
      else if (unexpected.length < 10) unexpected.push(`U+${cp.toString(16)} ours ${escaped ? 'escaped' : 'kept'}`);
    }
    expect(unexpected).toEqual([]);
    // only a Unicode-version difference may remain (none when both sides use the same version)
    if (py.unicode === process.versions.unicode) expect(newer).toBe(0);
  });
});
