import fs from 'node:fs';
import { RuleSet, type Rule } from '../../src/routing/rule-set';
import { configFrom, tempDir } from '../helpers/relay';

const rule = (pattern: RegExp, targets: string[], cont = false, name = pattern.source): Rule<string> => ({ name, pattern, targets, continue: cont });

describe('RuleSet.match (carbon relay-rules semantics)', () => {
  const rules = new RuleSet<string>(
    [
      rule(/^servers\.web/, ['web', 'archive'], true),
      rule(/cpu/, ['cpu', 'web'], true),
      rule(/^servers\./, ['servers']),
      rule(/^servers\.db/, ['never-reached']),
      rule(/^stats\./, []),
      rule(/^fan\./, ['a'], true),
      rule(/^fan\./, ['b'], true),
    ],
    ['default', 'archive'],
  );

  it.each<[string, string[]]>([
    // first matching rule without continue stops: later rules and the default are not used
    ['servers.db01.disk', ['servers']],
    // continue accumulates; each target once, in first-seen order; a final stop ends it
    ['servers.web01.cpu.user', ['web', 'archive', 'cpu', 'servers']],
    ['servers.web01.mem', ['web', 'archive', 'servers']],
    // only continue rules matched: the default rule applies last, deduplicated
    ['app.cpu.load', ['cpu', 'web', 'default', 'archive']],
    ['fan.out', ['a', 'b', 'default', 'archive']],
    // nothing matched: the default rule
    ['other.metric', ['default', 'archive']],
    // a matching rule with no destinations stops (blackhole)
    ['stats.timers.x', []],
    // unanchored search
    ['my.cpu', ['cpu', 'web', 'default', 'archive']],
    ['', ['default', 'archive']],
  ])('%s -> %j', (name, expected) => {
    expect(rules.match(name)).toEqual(expected);
  });

  it('patterns are used as given (case-sensitive unless compiled with i)', () => {
    const rs = new RuleSet([rule(/^Upper/, ['u']), rule(/^lower/i, ['l'])], ['d']);
    expect(rs.match('Upper.x')).toEqual(['u']);
    expect(rs.match('upper.x')).toEqual(['d']);
    expect(rs.match('LOWER.x')).toEqual(['l']);
  });

  it('returns a fresh array on every call', () => {
    const rs = new RuleSet([rule(/a/, ['x'])], ['d']);
    const first = rs.match('a');
    first.push('mutated');
    expect(rs.match('a')).toEqual(['x']);
  });

  it('map() keeps the rules and routes to other targets', () => {
    const objects = new Map([['web', { id: 1 }], ['cpu', { id: 2 }], ['default', { id: 3 }], ['archive', { id: 4 }], ['servers', { id: 5 }], ['never-reached', { id: 6 }], ['a', { id: 7 }], ['b', { id: 8 }]]);
    const mapped = rules.map((t) => objects.get(t) as { id: number });
    expect(mapped.match('servers.web01.cpu.user').map((o) => o.id)).toEqual([1, 4, 2, 5]);
    expect(mapped.match('app.cpu').map((o) => o.id)).toEqual([2, 1, 3, 4]);
    expect(mapped.rules.map((r) => r.name)).toEqual(rules.rules.map((r) => r.name));
    expect(mapped.match('servers.web01.cpu.user')[0]).toBe(objects.get('web'));
  });
});

describe('rules loaded from YAML behave like carbon relay-rules.conf', () => {
  const destinations = ['a', 'b', 'c', 'd'].map((name) => ({ name, host: '127.0.0.1', port: 2004 }));

  function route(rules: unknown[], names: string[]): string[][] {
    const dir = tempDir();
    try {
      const cfg = configFrom({ destinations, rules }, {}, dir);
      const set = new RuleSet(cfg.rules.rules, cfg.rules.defaultTargets);
      return names.map((n) => set.match(n));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it('the default rule is evaluated last even when listed first', () => {
    expect(route([{ default: true, destinations: ['d'] }, { pattern: '^x\\.', destinations: ['a'] }, { pattern: 'y', destinations: ['b'], continue: true }], ['x.1', 'y.1', 'z.1'])).toEqual([['a'], ['b', 'd'], ['d']]);
  });

  it('patterns are case-insensitive by default (carbon compiles them with re.I)', () => {
    expect(route([{ pattern: '^Servers\\.', destinations: ['a'] }, { default: true, destinations: ['d'] }], ['servers.x', 'SERVERS.x', 'Servers.x'])).toEqual([['a'], ['a'], ['a']]);
  });

  it('ignoreCase: false makes a pattern case-sensitive', () => {
    expect(route([{ pattern: '^Servers\\.', ignoreCase: false, destinations: ['a'] }, { default: true, destinations: ['d'] }], ['Servers.x', 'servers.x'])).toEqual([['a'], ['d']]);
  });

  it('patterns search anywhere in the name (unanchored)', () => {
    expect(route([{ pattern: 'cpu', destinations: ['a'] }, { default: true, destinations: ['d'] }], ['cpu', 'x.cpu.y', 'x.cp.u'])).toEqual([['a'], ['a'], ['d']]);
  });

  it('continue rules accumulate with de-duplication in first-seen order', () => {
    expect(
      route(
        [
          { pattern: 'a', destinations: ['b', 'a'], continue: true },
          { pattern: 'b', destinations: ['a', 'c'], continue: true },
          { pattern: 'c', destinations: ['c', 'd'] },
          { default: true, destinations: ['d', 'b'] },
        ],
        ['abc', 'ab', 'a', 'x'],
      ),
    ).toEqual([['b', 'a', 'c', 'd'], ['b', 'a', 'c', 'd'], ['b', 'a', 'd'], ['d', 'b']]);
  });

  it('default: false rules are ignored', () => {
    expect(route([{ pattern: 'x', default: false, destinations: ['a'] }, { default: true, destinations: ['d'] }], ['x'])).toEqual([['d']]);
  });

  it('Python (?P<name>...) and (?P=name) syntax works', () => {
    expect(route([{ pattern: '^(?P<host>[a-z]+)\\.(?P=host)$', destinations: ['a'] }, { default: true, destinations: ['d'] }], ['web.web', 'web.db', 'WEB.web'])).toEqual([['a'], ['d'], ['a']]);
  });

  it('a rule with an empty destination list drops (blackholes) what it matches', () => {
    expect(route([{ pattern: '^junk\\.', destinations: [] }, { default: true, destinations: ['d'] }], ['junk.x', 'ok.x'])).toEqual([[], ['d']]);
  });
});
