import fs from 'node:fs';
import path from 'node:path';
import { buildRouters } from '../../src/routing/build';
import { Reloader } from '../../src/routing/reloader';
import { silentLogger } from '../../src/telemetry/logger';
import { configFrom, tempDir } from '../helpers/relay';

/** Three carbon-caches as in carbon.md §5's worked example: 127.0.0.1:2004:a, :2104:b, :2204:c. */
const CACHES = [
  { name: 'a', host: '127.0.0.1', port: 2004, instance: 'a' },
  { name: 'b', host: '127.0.0.1', port: 2104, instance: 'b' },
  { name: 'c', host: '127.0.0.1', port: 2204, instance: 'c' },
];

function routerFor(group: Record<string, unknown>, extra: Record<string, unknown> = {}, dir = tempDir()) {
  const config = configFrom(
    {
      destinations: [...CACHES, { name: 'archive', host: '10.9.9.9', port: 2003, protocol: 'line' }],
      groups: [{ name: 'ring', members: ['a', 'b', 'c'], ...group }],
      rules: [{ default: true, destinations: ['ring'] }],
      ...extra,
    },
    {},
    dir,
  );
  return buildRouters(config, (d) => d.name, silentLogger());
}

describe('hash groups as rule targets', () => {
  // Values verified by running Debian carbon (carbon.md §5 worked example)
  it.each([
    ['carbon_ch', { 'foo.bar': 'c', 'servers.web01.cpu.user': 'a', 'a.b.c.d': 'a', x: 'c' }],
    ['fnv1a_ch', { 'foo.bar': 'c', 'servers.web01.cpu.user': 'c', 'a.b.c.d': 'a', x: 'a' }],
    ['mmh3_ch', { 'foo.bar': 'c', 'servers.web01.cpu.user': 'a', 'a.b.c.d': 'c', x: 'a' }],
  ] as const)('%s sends each metric where carbon-relay sends it', (type, expected) => {
    const { received } = routerFor({ type, replication: 1 });
    for (const [metric, dest] of Object.entries(expected)) expect(received.route(metric).destinations).toEqual([dest]);
  });

  it('with replication 2 and diverse off gives two members, the first being the RF 1 choice', () => {
    const one = routerFor({ replication: 1 }).received;
    const two = routerFor({ replication: 2, diverse: false }).received;
    for (let i = 0; i < 200; i++) {
      const name = `servers.host${i}.cpu`;
      const pair = two.route(name).destinations;
      expect(pair).toHaveLength(2);
      expect(new Set(pair).size).toBe(2);
      expect(pair[0]).toBe(one.route(name).destinations[0]);
    }
  });

  it('with diverse replicas on one host gives a single member (host strings must differ)', () => {
    const { received } = routerFor({ replication: 2, diverse: true });
    for (let i = 0; i < 50; i++) expect(received.route(`m.${i}`).destinations).toHaveLength(1);
  });

  it('never sends twice to one member, even when the ring yields it twice (one node, RF 2)', () => {
    const config = configFrom({
      destinations: [CACHES[0]],
      groups: [{ name: 'ring', members: ['a'], replication: 2, diverse: false }],
      rules: [{ default: true, destinations: ['ring'] }],
    });
    const { received } = buildRouters(config, (d) => d.name, silentLogger());
    expect(received.route('any.metric').destinations).toEqual(['a']);
  });

  it('combines with plain destinations in one rule, each destination once', () => {
    const { received } = routerFor({}, { rules: [{ pattern: '^foo', destinations: ['ring', 'archive', 'c'] }, { default: true, destinations: ['archive'] }] });
    // foo.bar hashes to c: c appears once, in the group's position
    expect(received.route('foo.bar').destinations).toEqual(['c', 'archive']);
    expect(received.route('other').destinations).toEqual(['archive']);
  });

  it('jump_fnv1a_ch spreads names over every member deterministically', () => {
    const { received } = routerFor({ type: 'jump_fnv1a_ch' });
    const seen = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const d = received.route(`svc.host${i}.requests`).destinations;
      expect(d).toHaveLength(1);
      seen.set(d[0]!, (seen.get(d[0]!) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(['a', 'b', 'c']);
    for (const n of seen.values()) expect(n).toBeGreaterThan(800);
  });

  it('aggregated hashing routes by the aggregate names, and a rules file change re-routes cached names', () => {
    const dir = tempDir();
    const rulesFile = path.join(dir, 'aggregation-rules.conf');
    // raw foo.bar hashes to c, the aggregate bar.foo to b, foo.all to c (carbon_ch, checked below)
    fs.writeFileSync(rulesFile, 'bar.foo (60) = sum foo.*\n');
    const { received, internal, reloadables } = routerFor({ aggregationRules: rulesFile }, {}, dir);
    const plain = routerFor({}).received;
    expect([plain.route('foo.bar').destinations, plain.route('bar.foo').destinations, plain.route('foo.all').destinations]).toEqual([['c'], ['b'], ['c']]);
    expect(received.route('foo.bar').destinations).toEqual(['b']);
    expect(received.route('x').destinations).toEqual(plain.route('x').destinations);

    // a second rule: the metric now feeds two aggregates, and goes to the union of their members
    fs.writeFileSync(rulesFile, 'bar.foo (60) = sum foo.*\nfoo.all (60) = sum foo.*\n');
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(rulesFile, later, later);
    let invalidations = 0;
    const reloader = new Reloader(reloadables, 10_000, () => {
      invalidations++;
      received.invalidate();
      internal.invalidate();
    });
    expect(reloader.poll()).toBe(true);
    expect(invalidations).toBe(1);
    expect(received.route('foo.bar').destinations).toEqual(['b', 'c']);
    expect(reloader.poll()).toBe(false);
  });
});

describe('group config', () => {
  it('refuses two members that differ only by port (one ring node in carbon)', () => {
    expect(() =>
      configFrom({
        destinations: [
          { name: 'a', host: '10.0.0.1', port: 2004 },
          { name: 'b', host: '10.0.0.1', port: 2104 },
        ],
        groups: [{ name: 'ring', members: ['a', 'b'] }],
        rules: [{ default: true, destinations: ['ring'] }],
      }),
    ).toThrow(/"b" and "a" have the same host and instance/);
  });
});
