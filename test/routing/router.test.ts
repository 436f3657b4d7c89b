import fs from 'node:fs';
import path from 'node:path';
import { NameFilter } from '../../src/routing/name-filter';
import { DirectTarget, Router, RouteVerdict } from '../../src/routing/router';
import { RuleSet } from '../../src/routing/rule-set';
import { silentLogger } from '../../src/telemetry/logger';
import { tempDir } from '../helpers/relay';

const target = (n: string): DirectTarget<string> => new DirectTarget(n);

describe('Router', () => {
  const rules = new RuleSet([{ name: 'cpu', pattern: /cpu/i, targets: [target('a')], continue: true }], [target('b')]);

  it('routes the tag-normalised name and reports unparsable tags without dropping', () => {
    const r = new Router(rules, { normalizeTags: true, cacheSize: 100 });
    expect(r.route('host.cpu;z=1;a=2')).toEqual({ verdict: RouteVerdict.Ok, name: 'host.cpu;a=2;z=1', destinations: ['a', 'b'], tagError: false });
    expect(r.route('mem;=bad')).toEqual({ verdict: RouteVerdict.Ok, name: 'mem;=bad', destinations: ['b'], tagError: true });
  });

  it('rejects names that would corrupt the line protocol', () => {
    const r = new Router(rules, { normalizeTags: false, cacheSize: 100 });
    for (const bad of ['', 'a b', 'a\tb', 'a\u0000b', 'a\u00a0b']) expect(r.route(bad).verdict).toBe(RouteVerdict.InvalidName);
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
