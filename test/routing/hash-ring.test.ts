import type { CarbonHashType } from '../../src/routing/hash';
import { ConsistentHashRing, FastHashRing } from '../../src/routing/hash-ring';
import { fnv1a64BigInt, jumpConsistentHash, jumpFnv1aBucket } from '../../src/common/jump-fnv1a';
import { JumpFnv1aRing } from '../../src/routing/jump-fnv1a-ring';
import { getDestinations, ringNodes, type HashRingNode } from '../../src/routing/ring';

/**
 * Expected routes are literals taken from Debian graphite-carbon 1.1.7's own
 * ConsistentHashingRouter / FastHashingRouter / ConsistentHashRing (mmh3 via
 * the pure-Python MurmurHash3 of the interop test), and for jump_fnv1a_ch
 * from Debian's carbon-c-relay 3.7.3 (`carbon-c-relay -t`, amd64).
 * Destinations are written `host:port:instance` (instance None as "None").
 */

type Dest = [server: string, port: number, instance: string | null];

const label = ([s, p, i]: Dest): string => `${s}:${p}:${i ?? 'None'}`;
const nodesOf = (dests: Dest[]): HashRingNode<string>[] => dests.map((d) => ({ server: d[0], instance: d[2], value: label(d) }));

const S1: Dest[] = [
  ['127.0.0.1', 2004, 'a'],
  ['127.0.0.1', 2104, 'b'],
  ['127.0.0.1', 2204, 'c'],
];
const S2: Dest[] = [1, 2, 3, 4, 5, 6].map((i) => [`10.0.0.${i}`, 2004, null]);
const S3: Dest[] = [
  ['10.0.1.1', 2004, 'a'],
  ['10.0.1.1', 2104, 'b'],
  ['10.0.1.2', 2004, 'a'],
  ['10.0.1.2', 2104, 'b'],
  ['10.0.1.3', 2004, 'a'],
  ['10.0.1.3', 2104, 'b'],
];
const NAMES = ['foo.bar', 'servers.web01.cpu.user', 'a.b.c.d', 'x', 'sérvers.ü', ''];

describe('ConsistentHashRing / getDestinations (consistent-hashing)', () => {
  it('reproduces the carbon.md worked example (RF 1, three instances on one host)', () => {
    const expected: Record<CarbonHashType, string[]> = {
      carbon_ch: ['c', 'a', 'a', 'c'],
      fnv1a_ch: ['c', 'c', 'a', 'a'],
      mmh3_ch: ['c', 'a', 'c', 'a'],
    };
    for (const [type, want] of Object.entries(expected) as [CarbonHashType, string[]][]) {
      const ring = new ConsistentHashRing(type, nodesOf(S1));
      const got = NAMES.slice(0, 4).map((n) => getDestinations(ring, n, 1, true));
      expect(got).toEqual(want.map((i) => [label(S1.find((d) => d[2] === i)!)]));
    }
  });

  it('builds the same md5 ring as carbon (first entries)', () => {
    const ring = new ConsistentHashRing('carbon_ch', nodesOf(S1));
    expect(ring.entries().length).toBe(300);
    expect(ring.entries().slice(0, 6).map(([p, n]) => [p, n.instance])).toEqual([
      [330, 'c'],
      [398, 'a'],
      [474, 'a'],
      [784, 'c'],
      [1253, 'c'],
      [1632, 'c'],
    ]);
    expect(NAMES.map((n) => getDestinations(ring, n, 1, true)[0])).toEqual([
      '127.0.0.1:2204:c',
      '127.0.0.1:2004:a',
      '127.0.0.1:2004:a',
      '127.0.0.1:2204:c',
      '127.0.0.1:2204:c',
      '127.0.0.1:2004:a',
    ]);
  });

  // [type, rf, diverse, per name in NAMES order]
  const s3Routes: [CarbonHashType, number, boolean, string[][]][] = [
    ['carbon_ch', 2, true, [['10.0.1.3:2104:b', '10.0.1.2:2004:a'], ['10.0.1.2:2004:a', '10.0.1.1:2104:b'], ['10.0.1.3:2104:b', '10.0.1.2:2104:b'], ['10.0.1.3:2104:b', '10.0.1.1:2104:b'], ['10.0.1.3:2004:a', '10.0.1.1:2004:a'], ['10.0.1.3:2104:b', '10.0.1.2:2104:b']]],
    ['carbon_ch', 2, false, [['10.0.1.3:2104:b', '10.0.1.2:2004:a'], ['10.0.1.2:2004:a', '10.0.1.1:2104:b'], ['10.0.1.3:2104:b', '10.0.1.2:2104:b'], ['10.0.1.3:2104:b', '10.0.1.1:2104:b'], ['10.0.1.3:2004:a', '10.0.1.1:2004:a'], ['10.0.1.3:2104:b', '10.0.1.2:2104:b']]],
    ['carbon_ch', 3, true, [['10.0.1.3:2104:b', '10.0.1.2:2004:a', '10.0.1.1:2104:b'], ['10.0.1.2:2004:a', '10.0.1.1:2104:b', '10.0.1.3:2004:a'], ['10.0.1.3:2104:b', '10.0.1.2:2104:b', '10.0.1.1:2104:b'], ['10.0.1.3:2104:b', '10.0.1.1:2104:b', '10.0.1.2:2104:b'], ['10.0.1.3:2004:a', '10.0.1.1:2004:a', '10.0.1.2:2104:b'], ['10.0.1.3:2104:b', '10.0.1.2:2104:b', '10.0.1.1:2104:b']]],
    ['fnv1a_ch', 2, true, [['10.0.1.1:2104:b', '10.0.1.2:2104:b'], ['10.0.1.1:2104:b', '10.0.1.2:2104:b'], ['10.0.1.1:2004:a', '10.0.1.2:2004:a'], ['10.0.1.1:2004:a', '10.0.1.2:2004:a'], ['10.0.1.1:2004:a', '10.0.1.2:2004:a'], ['10.0.1.1:2104:b', '10.0.1.2:2104:b']]],
    ['fnv1a_ch', 2, false, [['10.0.1.1:2104:b', '10.0.1.2:2104:b'], ['10.0.1.1:2104:b', '10.0.1.2:2104:b'], ['10.0.1.1:2004:a', '10.0.1.2:2004:a'], ['10.0.1.1:2004:a', '10.0.1.2:2004:a'], ['10.0.1.1:2004:a', '10.0.1.2:2004:a'], ['10.0.1.1:2104:b', '10.0.1.2:2104:b']]],
    ['fnv1a_ch', 3, true, [['10.0.1.1:2104:b', '10.0.1.2:2104:b', '10.0.1.3:2104:b'], ['10.0.1.1:2104:b', '10.0.1.2:2104:b', '10.0.1.3:2104:b'], ['10.0.1.1:2004:a', '10.0.1.2:2004:a', '10.0.1.3:2004:a'], ['10.0.1.1:2004:a', '10.0.1.2:2004:a', '10.0.1.3:2004:a'], ['10.0.1.1:2004:a', '10.0.1.2:2004:a', '10.0.1.3:2004:a'], ['10.0.1.1:2104:b', '10.0.1.2:2104:b', '10.0.1.3:2104:b']]],
    ['mmh3_ch', 2, true, [['10.0.1.2:2104:b', '10.0.1.1:2104:b'], ['10.0.1.1:2004:a', '10.0.1.2:2104:b'], ['10.0.1.2:2004:a', '10.0.1.1:2004:a'], ['10.0.1.3:2004:a', '10.0.1.1:2104:b'], ['10.0.1.2:2104:b', '10.0.1.1:2104:b'], ['10.0.1.3:2004:a', '10.0.1.1:2004:a']]],
    ['mmh3_ch', 2, false, [['10.0.1.2:2104:b', '10.0.1.1:2104:b'], ['10.0.1.1:2004:a', '10.0.1.1:2104:b'], ['10.0.1.2:2004:a', '10.0.1.1:2004:a'], ['10.0.1.3:2004:a', '10.0.1.1:2104:b'], ['10.0.1.2:2104:b', '10.0.1.1:2104:b'], ['10.0.1.3:2004:a', '10.0.1.1:2004:a']]],
    ['mmh3_ch', 3, true, [['10.0.1.2:2104:b', '10.0.1.1:2104:b', '10.0.1.3:2004:a'], ['10.0.1.1:2004:a', '10.0.1.2:2104:b', '10.0.1.3:2104:b'], ['10.0.1.2:2004:a', '10.0.1.1:2004:a', '10.0.1.3:2004:a'], ['10.0.1.3:2004:a', '10.0.1.1:2104:b', '10.0.1.2:2104:b'], ['10.0.1.2:2104:b', '10.0.1.1:2104:b', '10.0.1.3:2004:a'], ['10.0.1.3:2004:a', '10.0.1.1:2004:a', '10.0.1.2:2104:b']]],
  ];
  it.each(s3Routes)('two instances on each of three hosts: %s RF %i diverse %s', (type, rf, diverse, want) => {
    const ring = new ConsistentHashRing(type, nodesOf(S3));
    expect(NAMES.map((n) => getDestinations(ring, n, rf, diverse))).toEqual(want);
  });

  it('fnv1a_ch without instances: every node hashes "i-None", later nodes are bumped +1, the first node takes almost everything', () => {
    const ring = new ConsistentHashRing('fnv1a_ch', nodesOf(S2));
    expect(ring.entries().slice(0, 8).map(([p, n]) => [p, n.server])).toEqual([
      [737, '10.0.0.1'],
      [738, '10.0.0.2'],
      [739, '10.0.0.3'],
      [740, '10.0.0.4'],
      [741, '10.0.0.5'],
      [742, '10.0.0.6'],
      [1102, '10.0.0.1'],
      [1103, '10.0.0.2'],
    ]);
    expect(NAMES.map((n) => getDestinations(ring, n, 2, false))).toEqual([
      ['10.0.0.1:2004:None', '10.0.0.2:2004:None'],
      ['10.0.0.1:2004:None', '10.0.0.2:2004:None'],
      ['10.0.0.1:2004:None', '10.0.0.2:2004:None'],
      ['10.0.0.1:2004:None', '10.0.0.2:2004:None'],
      ['10.0.0.4:2004:None', '10.0.0.5:2004:None'], // lands exactly on a bumped position
      ['10.0.0.1:2004:None', '10.0.0.2:2004:None'],
    ]);
    const positions = ring.entries().map(([p]) => p);
    expect(new Set(positions).size).toBe(600);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it('the walk never visits the entry just before its start (visible with 1 replica per node)', () => {
    const ring = new ConsistentHashRing('carbon_ch', nodesOf([['a', 1, null], ['b', 1, null], ['c', 1, null]]), 1);
    expect(ring.entries().map(([p, n]) => [p, n.server])).toEqual([
      [28174, 'c'],
      [30709, 'a'],
      [52621, 'b'],
    ]);
    expect(NAMES.map((n) => ringNodes(ring, n).map((x) => x.server))).toEqual([
      ['c', 'a'],
      ['a', 'b'],
      ['c', 'a'],
      ['b', 'c'],
      ['c', 'a'],
      ['c', 'a'],
    ]);
  });

  it('a single node is yielded twice by get_nodes', () => {
    const ring = new ConsistentHashRing('carbon_ch', nodesOf([['solo', 2004, 'x']]));
    expect(ringNodes(ring, 'foo.bar').map((n) => n.value)).toEqual(['solo:2004:x', 'solo:2004:x']);
    expect(getDestinations(ring, 'foo.bar', 2, false)).toEqual(['solo:2004:x', 'solo:2004:x']);
    expect(getDestinations(ring, 'foo.bar', 2, true)).toEqual(['solo:2004:x']);
    expect(getDestinations(ring, 'foo.bar', 1, false)).toEqual(['solo:2004:x']);
  });

  it('replication factor edge cases follow carbon: diverse always yields one, non-diverse RF 0 yields none', () => {
    const ring = new ConsistentHashRing('carbon_ch', nodesOf(S3));
    expect(getDestinations(ring, 'foo.bar', 0, true)).toEqual(['10.0.1.3:2104:b']);
    expect(getDestinations(ring, 'foo.bar', 0, false)).toEqual([]);
    // more than there are servers: diverse stops at the 3 hosts, non-diverse at the 6 nodes
    expect(getDestinations(ring, 'foo.bar', 10, true)).toHaveLength(3);
    expect(new Set(getDestinations(ring, 'foo.bar', 10, false)).size).toBe(6);
  });

  it('an empty ring routes nowhere', () => {
    expect(getDestinations(new ConsistentHashRing<string>('carbon_ch'), 'x', 1, true)).toEqual([]);
    expect(getDestinations(new FastHashRing<string>('carbon_ch'), 'x', 1, true)).toEqual([]);
    expect(getDestinations(new JumpFnv1aRing<string>([]), 'x', 1, false)).toEqual([]);
  });

  it('rejects a second node with the same (server, instance), whatever the port', () => {
    const ring = new ConsistentHashRing('carbon_ch', nodesOf(S1));
    expect(() => ring.addNode({ server: '127.0.0.1', instance: 'a', value: 'other port' })).toThrow(/already configured/);
    ring.addNode({ server: '127.0.0.1', instance: null, value: 'no instance' }); // a different key
    expect(ring.size).toBe(4);
    expect(() => new FastHashRing('mmh3_ch', nodesOf([S1[0]!, S1[0]!]))).toThrow(/already configured/);
  });

  it('remove keeps the other nodes\' bumped positions; re-adding takes the freed ones', () => {
    // fnv1a without instances: node 2 sits at node 1's positions + 1
    const ring = new ConsistentHashRing('fnv1a_ch', nodesOf(S2.slice(0, 2)));
    const before = ring.entries().map(([p, n]) => [p, n.server]);
    expect(ring.removeNode('10.0.0.1', null)).toBe(true);
    expect(ring.removeNode('10.0.0.1', null)).toBe(false);
    expect(ring.entries().map(([p, n]) => [p, n.server])).toEqual(before.filter(([, s]) => s === '10.0.0.2'));
    ring.addNode({ server: '10.0.0.9', instance: null, value: 'nine' });
    const after = ring.entries();
    expect(after.filter(([, n]) => n.server === '10.0.0.9').map(([p]) => p)).toEqual(before.filter(([, s]) => s === '10.0.0.1').map(([p]) => p));
    // so the newcomer inherits the removed node's keys, not the order-based winner
    expect(getDestinations(ring, 'foo.bar', 1, true)).toEqual(['nine']);
  });

  it('a visitor that walks the same ring again gets a correct nested walk', () => {
    const ring = new ConsistentHashRing('carbon_ch', nodesOf(S3));
    const outer: string[] = [];
    const inner: string[][] = [];
    ring.walk('foo.bar', (n) => {
      outer.push(n.value);
      inner.push(ringNodes(ring, 'x').map((m) => m.value));
      return true;
    });
    expect(outer).toEqual(ringNodes(ring, 'foo.bar').map((n) => n.value));
    expect(outer).toHaveLength(6);
    for (const i of inner) expect(i).toEqual(ringNodes(ring, 'x').map((n) => n.value));
  });
});

describe('FastHashRing (fast-hashing)', () => {
  // [type, carbon's sorted_nodes, RF 2 diverse routes for NAMES]
  const cases: [CarbonHashType, number[], string[][]][] = [
    ['carbon_ch', [6, 3, 2, 1, 4, 5], [['3', '2'], ['1', '4'], ['5', '6'], ['6', '3'], ['6', '3'], ['3', '2']]],
    ['fnv1a_ch', [1, 6, 3, 5, 2, 4], [['2', '4'], ['5', '2'], ['2', '4'], ['5', '2'], ['4', '1'], ['4', '1']]],
    ['mmh3_ch', [2, 6, 1, 4, 3, 5], [['6', '1'], ['4', '3'], ['3', '5'], ['5', '2'], ['2', '6'], ['2', '6']]],
  ];
  it.each(cases)('%s', (type, sorted, routes) => {
    const ring = new FastHashRing(type, nodesOf(S2));
    expect(ring.sortedNodes().map((n) => n.server)).toEqual(sorted.map((i) => `10.0.0.${i}`));
    expect(NAMES.map((n) => getDestinations(ring, n, 2, true))).toEqual(routes.map((r) => r.map((i) => `10.0.0.${i}:2004:None`)));
    // every node exactly once per key
    for (const n of NAMES) expect(new Set(ringNodes(ring, n)).size).toBe(6);
  });

  it('removeNode re-sorts', () => {
    const ring = new FastHashRing('carbon_ch', nodesOf(S2));
    expect(ring.removeNode('10.0.0.3', null)).toBe(true);
    expect(ring.sortedNodes().map((n) => n.server)).toEqual(['10.0.0.6', '10.0.0.2', '10.0.0.1', '10.0.0.4', '10.0.0.5']);
  });
});

describe('JumpFnv1aRing (carbon-c-relay jump_fnv1a_ch)', () => {
  const member = (spec: string): HashRingNode<string> => {
    const [hostPort, instance] = spec.split('=');
    return { server: hostPort!.split(':')[0]!, instance: instance ?? null, value: hostPort! };
  };

  it('64-bit FNV-1a and jump hash reference values', () => {
    expect(fnv1a64BigInt('')).toBe(0xcbf29ce484222325n);
    expect(fnv1a64BigInt('a')).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv1a64BigInt('foobar')).toBe(0x85944171f73967e8n);
    expect(jumpConsistentHash(256n, 1024)).toBe(520);
    expect(jumpConsistentHash(0n, 1)).toBe(0);
    // signedChar: a byte >= 0x80 enters sign-extended to 64 bits on x86-64 builds
    expect(fnv1a64BigInt('é', false)).toBe(bigFnv1a64([0xc3, 0xa9]));
    expect(fnv1a64BigInt('é', true)).toBe(bigFnv1a64([0xffffffffffffffc3n, 0xffffffffffffffa9n]));
  });

  it('jumpFnv1aBucket (the Kafka jump_fnv1a_ch partitioner) is the ring\'s first pick over members "0".."n-1"', () => {
    for (const n of [1, 2, 3, 8, 12, 100]) {
      const ring = new JumpFnv1aRing(Array.from({ length: n }, (_, i) => ({ server: `p${i}`, instance: String(i), value: i })));
      for (let k = 0; k < 200; k++) {
        const key = `kafka.part.host${k * 31}.metric${k % 7}`;
        expect([key, n, jumpFnv1aBucket(key, n)]).toEqual([key, n, getDestinations(ring, key, 1, false)[0]]);
      }
    }
    // golden: keys whose partition a relay fleet must agree on
    expect(['a.b.c', 'carbon.agents.host1.cpu', 'servers.web-01.loadavg.1min'].map((k) => jumpFnv1aBucket(k, 8))).toEqual(
      ['a.b.c', 'carbon.agents.host1.cpu', 'servers.web-01.loadavg.1min'].map((k) => Number(jumpConsistentHash(fnv1a64BigInt(k), 8))),
    );
  });

  it('matches a BigInt transcription of the algorithm on many keys and sizes', () => {
    for (let n = 1; n <= 40; n += 3) {
      const nodes = Array.from({ length: n }, (_, i) => ({ server: `h${i}`, instance: null, value: i }));
      const ring = new JumpFnv1aRing(nodes);
      for (let k = 0; k < 150; k++) {
        const key = `servers.host${k * 7919}.metric${k % 13}${k % 5 === 0 ? '.ü' : ''}`;
        expect(getDestinations(ring, key, n, false)).toEqual(bigJumpWalk(key, n));
      }
    }
  });

  // Orders as printed by `carbon-c-relay -t -d` (the hash ring dump).
  it.each([
    [['10.0.0.1:2003=10', '10.0.0.2:2003=9', '10.0.0.3:2003', '10.0.0.4:2003=b', '10.0.0.5:2003=a'], ['10.0.0.2:2003', '10.0.0.1:2003', '10.0.0.5:2003', '10.0.0.4:2003', '10.0.0.3:2003']],
    [['a:1=2', 'b:1=10', 'c:1=1a', 'd:1', 'e:1=+3', 'f:1=x'], ['a:1', 'e:1', 'b:1', 'c:1', 'f:1', 'd:1']],
    // numeric-vs-string comparison is not transitive (2 < 10 < 1a < 2): the result depends on glibc's merge sort
    [['c:1=1a', 'a:1=2', 'b:1=10'], ['c:1', 'a:1', 'b:1']],
    [['b:1=10', 'c:1=1a', 'a:1=2'], ['b:1', 'c:1', 'a:1']],
    [['a:1=2', 'b:1=10', 'c:1=1a'], ['a:1', 'b:1', 'c:1']],
    [['b:1=10', 'a:1=2', 'c:1=1a'], ['b:1', 'c:1', 'a:1']],
  ])('member order %j', (config, order) => {
    expect(new JumpFnv1aRing(config.map(member)).buckets().map((n) => n.value)).toEqual(order);
  });

  const A = ['10.0.0.1:2003', '10.0.0.2:2003', '10.0.0.3:2003', '10.0.0.4:2003'];
  const B = ['10.0.0.1:2003=10', '10.0.0.2:2003=9', '10.0.0.3:2003', '10.0.0.4:2003=b', '10.0.0.5:2003=a'];
  const D = ['h1:2003', 'h2:2004', 'h3:2003', 'h4:2003', 'h5:2003', 'h6:2003', 'h7:2003'];
  const F = ['a:1=2', 'b:1=10', 'c:1=1a', 'd:1', 'e:1=+3', 'f:1=x'];
  // [config, replication, [metric, carbon-c-relay's destinations]...]
  const vectors: [string[], number, [string, string[]][]][] = [
    [A, 2, [
      ['servers.host0.cpu.0', ['10.0.0.4:2003', '10.0.0.2:2003']],
      ['servers.host7.cpu.0', ['10.0.0.4:2003', '10.0.0.1:2003']],
      ['servers.host42.cpu.0', ['10.0.0.4:2003', '10.0.0.3:2003']],
      ['foo.bar', ['10.0.0.2:2003', '10.0.0.4:2003']],
      ['x', ['10.0.0.4:2003', '10.0.0.3:2003']],
      ['a.b.c.d', ['10.0.0.2:2003', '10.0.0.4:2003']],
      ['a;x=é', ['10.0.0.4:2003', '10.0.0.3:2003']],
      ['cpu;host=sérvers.ü', ['10.0.0.4:2003', '10.0.0.2:2003']],
      ['m;t=📈', ['10.0.0.2:2003', '10.0.0.1:2003']],
      ['m;a=ü;b=€', ['10.0.0.4:2003', '10.0.0.1:2003']],
      ['carbon.relays.vm.metricsReceived', ['10.0.0.2:2003', '10.0.0.1:2003']],
      ['a;x=1;y=2', ['10.0.0.4:2003', '10.0.0.1:2003']],
      ['a;y=2;x=1', ['10.0.0.3:2003', '10.0.0.2:2003']],
    ]],
    [B, 3, [
      ['servers.host0.cpu.0', ['10.0.0.4:2003', '10.0.0.1:2003', '10.0.0.2:2003']],
      ['servers.host42.cpu.0', ['10.0.0.4:2003', '10.0.0.5:2003', '10.0.0.1:2003']],
      ['foo.bar', ['10.0.0.1:2003', '10.0.0.3:2003', '10.0.0.5:2003']],
      ['a.b.c.d', ['10.0.0.1:2003', '10.0.0.3:2003', '10.0.0.2:2003']],
      ['a;x=é', ['10.0.0.4:2003', '10.0.0.5:2003', '10.0.0.2:2003']],
      ['m;t=📈', ['10.0.0.1:2003', '10.0.0.4:2003', '10.0.0.2:2003']],
      ['a;y=2;x=1', ['10.0.0.5:2003', '10.0.0.1:2003', '10.0.0.3:2003']],
    ]],
    [D, 7, [
      ['servers.host0.cpu.0', ['h4:2003', 'h6:2003', 'h1:2003', 'h7:2003', 'h5:2003', 'h3:2003', 'h2:2004']],
      ['foo.bar', ['h2:2004', 'h7:2003', 'h3:2003', 'h1:2003', 'h4:2003', 'h6:2003', 'h5:2003']],
      ['a;x=é', ['h4:2003', 'h3:2003', 'h7:2003', 'h1:2003', 'h6:2003', 'h2:2004', 'h5:2003']],
      ['cpu;host=sérvers.ü', ['h7:2003', 'h2:2004', 'h5:2003', 'h6:2003', 'h1:2003', 'h4:2003', 'h3:2003']],
      ['m;a=ü;b=€', ['h4:2003', 'h6:2003', 'h5:2003', 'h3:2003', 'h2:2004', 'h1:2003', 'h7:2003']],
    ]],
    [F, 3, [
      ['servers.host7.cpu.0', ['c:1', 'a:1', 'f:1']],
      ['foo.bar', ['e:1', 'd:1', 'b:1']],
      ['a.b.c.d', ['d:1', 'e:1', 'c:1']],
      ['carbon.relays.vm.metricsReceived', ['f:1', 'c:1', 'a:1']],
      ['m;t=📈', ['e:1', 'c:1', 'f:1']],
    ]],
  ];
  it.each(vectors)('carbon-c-relay 3.7.3 routes for %j replication %i', (config, replication, cases) => {
    const ring = new JumpFnv1aRing(config.map(member));
    for (const [metric, dests] of cases) expect([metric, getDestinations(ring, metric, replication, false)]).toEqual([metric, dests]);
  });

  it('replication above the member count yields every member once', () => {
    const ring = new JumpFnv1aRing(A.map(member));
    const got = getDestinations(ring, 'foo.bar', 10, false);
    expect(got).toHaveLength(4);
    expect(new Set(got).size).toBe(4);
    expect(got.slice(0, 2)).toEqual(['10.0.0.2:2003', '10.0.0.4:2003']);
  });
});

// --- BigInt transcriptions of carbon-c-relay's consistent-hash.c, for cross-checking the uint32-pair code ---

const M64 = (1n << 64n) - 1n;

function bigFnv1a64(xs: (number | bigint)[]): bigint {
  let h = 0xcbf29ce484222325n;
  for (const x of xs) h = ((h ^ BigInt(x)) * 0x100000001b3n) & M64;
  return h;
}

function bigJump(key: bigint, buckets: number): number {
  let b = -1n;
  let j = 0n;
  while (j < BigInt(buckets)) {
    b = j;
    key = (key * 2862933555777941757n + 1n) & M64;
    j = BigInt(Math.floor(Number(b + 1n) * (2147483648 / Number((key >> 33n) + 1n))));
  }
  return Number(b);
}

function bigJumpWalk(key: string, n: number): number[] {
  const bytes = [...Buffer.from(key, 'utf8')].map((b) => (b >= 0x80 ? 0xffffffffffffff00n | BigInt(b) : BigInt(b)));
  let h = bigFnv1a64(bytes);
  const left = Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = n; i > 0; ) {
    const j = bigJump(h, i);
    out.push(left[j]!);
    h ^= h >> 12n;
    h = (h ^ (h << 25n)) & M64;
    h ^= h >> 27n;
    h = (h * 2685821657736338717n) & M64;
    left[j] = left[--i]!;
  }
  return out;
}
