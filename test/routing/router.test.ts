import fs from 'node:fs';
import path from 'node:path';
import { NameFilter } from '../../src/routing/name-filter';
import type { RouteCache } from '../../src/routing/route-cache';
import { NameFault } from '../../src/codec/name-validation';
import { DirectTarget, Router, RouteVerdict } from '../../src/routing/router';
import { RuleSet } from '../../src/routing/rule-set';
import { silentLogger } from '../../src/telemetry/logger';
import { configFrom, tempDir } from '../helpers/relay';
import { ConfigError } from '../../src/config/config-error';
import { buildRouters } from '../../src/routing/build';

const target = (n: string): DirectTarget<string> => new DirectTarget(n);

describe('Router', () => {
  const rules = new RuleSet([{ name: 'cpu', pattern: /cpu/i, targets: [target('a')], continue: true }], [target('b')]);

  it('routes the tag-normalised name and reports unparsable tags without dropping', () => {
    const r = new Router(rules, { normalizeTags: true, cacheSize: 100 });
    expect(r.route('host.cpu;z=1;a=2')).toEqual({ verdict: RouteVerdict.Ok, name: 'host.cpu;a=2;z=1', destinations: ['a', 'b'], tagError: false, fault: NameFault.None, rewritten: false });
    expect(r.route('mem;=bad')).toEqual({ verdict: RouteVerdict.Ok, name: 'mem;=bad', destinations: ['b'], tagError: true, fault: NameFault.None, rewritten: false });
  });

  it('hands one destination array to every name with the same destinations, and tells lists apart past their first entry', () => {
    const r = new Router(rules, { normalizeTags: false, cacheSize: 100 });
    const a = r.route('host1.cpu').destinations;
    expect(a).toEqual(['a', 'b']);
    expect(r.route('host2.cpu').destinations).toBe(a);
    const b = r.route('host1.mem').destinations;
    expect(b).toEqual(['b']);
    expect(r.route('host2.mem').destinations).toBe(b);
    const two = new RuleSet([{ name: 'x', pattern: /x/, targets: [target('a'), target('c')], continue: false }], [target('a'), target('b')]);
    const r2 = new Router(two, { normalizeTags: false, cacheSize: 100 });
    expect(r2.route('y').destinations).toEqual(['a', 'b']);
    expect(r2.route('x').destinations).toEqual(['a', 'c']);
    expect(r2.route('y2').destinations).toEqual(['a', 'b']);
  });

  it('rejects names that would corrupt the line protocol, at every level', () => {
    const r = new Router(rules, { normalizeTags: false, cacheSize: 100 });
    for (const bad of ['', 'a b', 'a\tb', 'a\u0000b', 'a\u00a0b', 'a\u0085b', 'a\u2028b']) {
      expect(r.route(bad)).toMatchObject({ verdict: RouteVerdict.InvalidName, fault: NameFault.Unsafe, destinations: [] });
    }
  });

  it('routes C1 control characters (U+0080-U+009F) but marks them Unprintable, which carbon and strict listeners refuse', () => {
    const r = new Router(rules, { normalizeTags: false, cacheSize: 100 });
    for (const bad of ['a\u0080b', 'a\u009fb', 'a\ufeffb']) expect(r.route(bad)).toMatchObject({ verdict: RouteVerdict.Ok, fault: NameFault.Unprintable, destinations: ['b'] });
    expect(r.route('a\u00a1b')).toMatchObject({ verdict: RouteVerdict.Ok, fault: NameFault.None });
  });

  it('refuses names over maxNameLength UTF-8 bytes before the cache, and never caches them', () => {
    const r = new Router(rules, { normalizeTags: false, cacheSize: 100, maxNameLength: 10 });
    const cacheSize = (): number => (r as unknown as { cache: RouteCache<unknown> }).cache.size;
    expect(r.maxNameLength).toBe(10);
    expect(r.route('a'.repeat(10)).verdict).toBe(RouteVerdict.Ok);
    expect(cacheSize()).toBe(1);
    const long = 'a'.repeat(11);
    expect(r.route(long)).toEqual({ verdict: RouteVerdict.NameTooLong, name: long, destinations: [], tagError: false, fault: NameFault.None, rewritten: false });
    expect(r.route('\u00e9'.repeat(5)).verdict).toBe(RouteVerdict.Ok); // 10 bytes
    expect(r.route('\u00e9'.repeat(6)).verdict).toBe(RouteVerdict.NameTooLong); // 12 bytes, 6 units
    expect(r.route('x'.repeat(1_000_000)).verdict).toBe(RouteVerdict.NameTooLong);
    expect(r.route(`bad name ${'x'.repeat(20)}`).verdict).toBe(RouteVerdict.NameTooLong);
    expect(cacheSize()).toBe(2);
  });

  it('defaults maxNameLength to 4096 bytes', () => {
    const r = new Router(rules, { normalizeTags: false, cacheSize: 100 });
    expect(r.maxNameLength).toBe(4096);
    expect(r.route('a'.repeat(4096)).verdict).toBe(RouteVerdict.Ok);
    expect(r.route('a'.repeat(4097)).verdict).toBe(RouteVerdict.NameTooLong);
  });

  it('applies the blacklist before the whitelist; an empty whitelist allows everything', () => {
    const both = new NameFilter({ allow: [/^keep\./], block: [/secret/] }, silentLogger());
    const r = new Router(rules, { filter: both, normalizeTags: false, cacheSize: 100 });
    expect(r.route('keep.secret').verdict).toBe(RouteVerdict.Blacklisted);
    expect(r.route('other.x').verdict).toBe(RouteVerdict.NotWhitelisted);
    expect(r.route('keep.x').verdict).toBe(RouteVerdict.Ok);
    const blockOnly = new Router(rules, { filter: new NameFilter({ allow: [], block: [/secret/] }, silentLogger()), normalizeTags: false, cacheSize: 100 });
    expect(blockOnly.route('other.x').verdict).toBe(RouteVerdict.Ok);
  });

  it('re-reads carbon-format filter files when they change, and invalidation re-routes cached names', () => {
    const dir = tempDir();
    const file = path.join(dir, 'blacklist.conf');
    fs.writeFileSync(file, '# comment\n\n^drop\\.\n[invalid\n');
    const filter = new NameFilter({ allow: [], block: [], blockFile: file }, silentLogger());
    const r = new Router(rules, { filter, normalizeTags: false, cacheSize: 100 });
    expect(r.route('drop.me').verdict).toBe(RouteVerdict.Blacklisted);
    expect(r.route('also.me').verdict).toBe(RouteVerdict.Ok);
    fs.writeFileSync(file, '^also\\.\n');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(filter.refresh()).toBe(true);
    expect(r.route('also.me').verdict).toBe(RouteVerdict.Ok); // still the cached decision
    r.invalidate();
    expect(r.route('also.me').verdict).toBe(RouteVerdict.Blacklisted);
    expect(r.route('drop.me').verdict).toBe(RouteVerdict.Ok);
    fs.rmSync(file);
    expect(filter.refresh()).toBe(true);
    r.invalidate();
    expect(r.route('also.me').verdict).toBe(RouteVerdict.Ok);
  });
});

describe('buildRouters and listen.maxNameLength', () => {
  const base = { destinations: [{ name: 'd', host: '127.0.0.1', port: 2004 }], rules: [{ default: true, destinations: ['d'] }] };

  it('both routers apply the configured limit; the default is 4096', () => {
    const built = buildRouters(configFrom({ ...base, listen: { maxNameLength: 100 } }), (d) => d.name, silentLogger());
    expect([built.received.maxNameLength, built.internal.maxNameLength]).toEqual([100, 100]);
    expect(built.received.route('a'.repeat(101)).verdict).toBe(RouteVerdict.NameTooLong);
    expect(buildRouters(configFrom(base), (d) => d.name, silentLogger()).received.maxNameLength).toBe(4096);
  });

  it('is at least 1 and at most 16000 (a line must fit carbon\'s 16,384-byte limit)', () => {
    expect(configFrom({ ...base, listen: { maxNameLength: 16_000 } }).listen.maxNameLength).toBe(16_000);
    expect(() => configFrom({ ...base, listen: { maxNameLength: 16_001 } })).toThrow(ConfigError);
    expect(() => configFrom({ ...base, listen: { maxNameLength: 0 } })).toThrow(ConfigError);
  });
});
