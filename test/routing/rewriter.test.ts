import { compileRewrite, RewriteSyntaxError } from '../../src/config/rewrite-rules';
import { NameFilter } from '../../src/routing/name-filter';
import { Rewriter } from '../../src/routing/rewriter';
import { silentLogger } from '../../src/telemetry/logger';
import { DirectTarget, Router, RouteVerdict } from '../../src/routing/router';
import { RuleSet } from '../../src/routing/rule-set';
import type { RouteCache } from '../../src/routing/route-cache';

type Spec = { match: string; replace: string; ignoreCase?: boolean; stop?: boolean };

const rewriter = (...specs: Spec[]): Rewriter => new Rewriter(specs.map((s, i) => compileRewrite(`rewrite ${i + 1}`, s.match, s.replace, s.ignoreCase ?? false, s.stop ?? false)));

describe('Rewriter', () => {
  // [what, rules, input, output]; the carbon-c-relay rows are its manual's examples and what its 3.7.3 `-t` mode printed
  it.each<[string, Spec[], string, string]>([
    ['the manual: server\\.(x|y|z)\\. into role.\\1.', [{ match: 'server\\.(x|y|z)\\.', replace: 'role.\\1.' }], 'server.x.cpu', 'role.x.cpu'],
    ['the manual: \\_1 lower-cases the group', [{ match: '^servers\\.([A-Za-z]+)\\.(.*)$', replace: 'srv.\\_1.\\^2' }], 'servers.WEB.cpu', 'srv.web.CPU'],
    ['\\.1 turns dots into underscores', [{ match: '^a\\.(x\\.y)\\.(.*)$', replace: 'b.\\.1.\\2' }], 'a.x.y.z', 'b.x_y.z'],
    ['\\_.1 lower-cases and turns dots into underscores', [{ match: '^c\\.(X\\.Y)$', replace: 'd.\\_.1' }], 'c.X.Y', 'd.x_y'],
    ['\\^.1 upper-cases and turns dots into underscores', [{ match: '^e\\.(x\\.y)$', replace: 'f.\\^.1' }], 'e.x.y', 'f.X_Y'],
    ['only the first match is replaced; the text around it is kept', [{ match: 'mid', replace: 'MID' }], 'aamidbbmid', 'aaMIDbbmid'],
    ['a group used twice', [{ match: '^k\\.(.*)$', replace: '\\1\\1.x' }], 'k.v', 'vv.x'],
    ['a group that did not take part is empty', [{ match: '^(a)|(b)$', replace: '[\\2]' }], 'a.z', '[].z'],
    ['multi-digit group numbers', [{ match: '^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)$', replace: '\\12.\\10' }], 'abcdefghijkl', 'l.j'],
    ['named groups, Python syntax, either bracket', [{ match: '^(?P<host>[^.]+)\\.(?P<metric>.*)$', replace: '\\g<metric>.by_host.\\g{host}' }], 'web01.cpu', 'cpu.by_host.web01'],
    ['\\g<0> is the whole match', [{ match: 'cpu', replace: '\\g<0>_total' }], 'web.cpu.user', 'web.cpu_total.user'],
    ['\\\\ is a backslash', [{ match: '^x$', replace: 'a\\\\b' }], 'x', 'a\\b'],
    ['case changes are ASCII only (tolower)', [{ match: '^(.*)$', replace: '\\_1' }], 'ÀB.Ç', 'Àb.Ç'],
    ['case-sensitive by default (as carbon-c-relay)', [{ match: '^SERVERS\\.', replace: 'up.' }], 'servers.a', 'servers.a'],
    ['ignoreCase', [{ match: '^SERVERS\\.', replace: 'up.', ignoreCase: true }], 'servers.a', 'up.a'],
    ['an empty replacement deletes the match', [{ match: '\\.tmp$', replace: '' }], 'a.b.tmp', 'a.b'],
    ['rules chain: a -> b, then b -> c (the manual)', [{ match: '^a$', replace: 'b' }, { match: '^b$', replace: 'c' }], 'a', 'c'],
    ['stop: the later rules are skipped', [{ match: '^a$', replace: 'b', stop: true }, { match: '^b$', replace: 'c' }], 'a', 'b'],
    ['stop only when its rule matches', [{ match: '^z$', replace: 'y', stop: true }, { match: '^a$', replace: 'b' }], 'a', 'b'],
    ['no rule matches: unchanged', [{ match: '^q', replace: 'r' }], 'a.b', 'a.b'],
  ])('%s', (_what, specs, input, output) => {
    expect(rewriter(...specs).rewrite(input)).toBe(output);
  });

  it('returns the very same string when nothing matched (the router compares by identity first)', () => {
    const name = 'untouched.name';
    expect(rewriter({ match: '^zzz', replace: 'y' }).rewrite(name)).toBe(name);
  });

  it.each<[string, string, string, RegExp]>([
    ['a group the pattern does not have', '^a\\.(b)', 'x.\\2', /refers to group 2, but the pattern has only 1$/],
    ['a group in a pattern without groups', '^a', 'x.\\1', /refers to group 1, but the pattern has no groups$/],
    ['a name the pattern does not define', '^(?P<a>x)', '\\g<b>', /refers to group "b", which the pattern does not name$/],
    ['an unterminated \\g<', '^(x)', '\\g<1', /unterminated \\g< at position 1/],
    ['a backslash before another character', '^(x)', 'a\\x', /"\\" at position 2 of the replacement must be followed by a group/],
    ['a trailing backslash', '^(x)', 'a\\', /"\\" at position 2/],
    ['\\0', '^(x)', '\\0', /is not a group; write \\g<0> for the whole match$/],
  ])('refuses %s', (_what, match, replace, message) => {
    expect(() => compileRewrite('r', match, replace, false, false)).toThrow(RewriteSyntaxError);
    expect(() => compileRewrite('r', match, replace, false, false)).toThrow(message);
  });
});

describe('Router with rewrite rules', () => {
  const rules = new RuleSet([{ name: 'srv', pattern: /^srv\./, targets: [new DirectTarget('servers')], continue: false }], [new DirectTarget('default')]);
  const opts = { normalizeTags: false, cacheSize: 100, maxNameLength: 32 };

  it('routes by the rewritten name and sends it', () => {
    const r = new Router(rules, { ...opts, rewriter: rewriter({ match: '^servers\\.', replace: 'srv.' }) });
    expect(r.route('servers.web.cpu')).toMatchObject({ verdict: RouteVerdict.Ok, name: 'srv.web.cpu', destinations: ['servers'], rewritten: true });
    expect(r.route('other.cpu')).toMatchObject({ verdict: RouteVerdict.Ok, name: 'other.cpu', destinations: ['default'], rewritten: false });
  });

  it('a rewrite to the same text is not a rewrite', () => {
    const r = new Router(rules, { ...opts, rewriter: rewriter({ match: 'cpu', replace: 'cpu' }) });
    expect(r.route('a.cpu')).toMatchObject({ verdict: RouteVerdict.Ok, rewritten: false });
  });

  it.each([
    ['empty', { match: '^.*$', replace: '' }, 'a.b', ''],
    ['whitespace', { match: '\\.', replace: ' ' }, 'a.b', 'a b'],
    ['a newline', { match: '\\.', replace: '\n' }, 'a.b', 'a\nb'],
  ])('drops a name rewritten to something unsafe (%s), showing the result', (_what, spec, input, result) => {
    const r = new Router(rules, { ...opts, rewriter: rewriter(spec) });
    expect(r.route(input)).toMatchObject({ verdict: RouteVerdict.InvalidRewrite, name: result, destinations: [], rewritten: true });
  });

  it('drops a name rewritten over maxNameLength, keeping the received name in the route', () => {
    const r = new Router(rules, { ...opts, rewriter: rewriter({ match: '^(.*)$', replace: '\\1\\1\\1' }) });
    expect(r.route('0123456789.x')).toMatchObject({ verdict: RouteVerdict.InvalidRewrite, name: '0123456789.x', rewritten: true });
    expect(r.route('short')).toMatchObject({ verdict: RouteVerdict.Ok, name: 'shortshortshort' });
  });

  it('filters judge the name as received; tag normalisation the rewritten one', () => {
    const r = new Router(rules, {
      ...opts,
      maxNameLength: 100,
      normalizeTags: true,
      rewriter: rewriter({ match: '^blocked\\.', replace: 'srv.' }, { match: '^tagged', replace: 'srv.t;z=1;a=2' }),
      filter: new NameFilter({ allow: [], block: [/^blocked\./] }, silentLogger()),
    });
    expect(r.route('blocked.x')).toMatchObject({ verdict: RouteVerdict.Blacklisted });
    expect(r.route('tagged')).toMatchObject({ verdict: RouteVerdict.Ok, name: 'srv.t;a=2;z=1', destinations: ['servers'], rewritten: true });
  });

  it('runs the rules once per distinct name: the rewritten name is cached with the route', () => {
    const rw = rewriter({ match: '^servers\\.', replace: 'srv.' });
    const calls: string[] = [];
    const counting = { rewrite: (n: string) => (calls.push(n), rw.rewrite(n)) } as Rewriter;
    const r = new Router(rules, { ...opts, rewriter: counting });
    for (let i = 0; i < 1000; i++) expect(r.route('servers.a').name).toBe('srv.a');
    expect(calls).toEqual(['servers.a']);
    expect((r as unknown as { cache: RouteCache<unknown> }).cache.size).toBe(1);
  });
});
