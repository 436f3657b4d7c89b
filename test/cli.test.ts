import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { main, type CliIO } from '../src/cli';
import type { Relay } from '../src/relay/relay';
import { silentLogger } from '../src/telemetry/logger';
import { Spool } from '../src/output/spool/spool';
import { workerDataDir } from '../src/cluster/worker';
import { spoolDirectory } from '../src/output/kinds/spool-queue';
import { captureIo, type CapturedIo } from './helpers/cli-io';
import { captureLog, type LogEntry } from './helpers/capture-log';
import { tempDir } from './helpers/relay';
import { CaptureServer, sendTcp, waitFor } from './helpers/sink';
import { freePorts } from './helpers/carbon';

const ROOT = path.resolve(__dirname, '..');

const io = (opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): CapturedIo => captureIo(opts);

/** `start` on a config file until it is up, then a stop signal; what it logged (it must exit 0). */
async function startAndStop(cfg: string): Promise<LogEntry[]> {
  const { log, entries } = captureLog();
  let stop!: (s: string) => void;
  let started = false;
  const exit = main(['start', '-c', cfg], { ...io(), log, shutdown: new Promise((r) => (stop = r)), onStarted: () => (started = true) });
  await waitFor(() => started, 'relay started');
  stop('test');
  expect(await exit).toBe(0);
  return entries;
}

describe('carbon-fanout CLI', () => {
  it('check: exit 0 with a one-line summary for the shipped default config', async () => {
    const t = io();
    expect(await main(['check', '-c', path.join(ROOT, 'config/relay.yaml')], t)).toBe(0);
    expect(t.out()).toMatch(/^OK .*relay\.yaml: 4 listeners \(line tcp 0\.0\.0\.0:2003, line udp 0\.0\.0\.0:2003, pickle tcp 0\.0\.0\.0:2004, http 127\.0\.0\.1:8080\), 1 destinations \(stdout\), 1 rules, admin 127\.0\.0\.1:8081, (1 process|\d+ workers); config hash [0-9a-f]{16}\n$/);
  });

  it('check: the fan-out example is valid when its API key is set, and names the variable when it is not', async () => {
    const ok = io({ env: { HG_API_KEY: 'sekrit-key-123' } });
    expect(await main(['check', '-c', path.join(ROOT, 'config/fanout.example.yaml')], ok)).toBe(0);
    expect(ok.out()).toContain('2 destinations (hostedgraphite, local-cache)');
    expect(ok.out()).not.toContain('sekrit');
    const missing = io();
    expect(await main(['check', '-c', path.join(ROOT, 'config/fanout.example.yaml')], missing)).toBe(1);
    expect(missing.err()).toMatch(/^config error: .*relay-rules\.example\.yaml:\d+: .*environment variable HG_API_KEY is not set\n$/);
  });

  it('check: exit 1 naming file, line and key path for a rule with an unknown destination', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'destinations:\n  - name: a\n    file: "-"\nrules:\n  - pattern: ^x\n    destinations: [a, nope]\n  - default: true\n    destinations: [a]\n');
    const t = io();
    expect(await main(['check', '-c', file], t)).toBe(1);
    expect(t.err()).toBe(`config error: ${file}:6: rules.0.destinations.1: unknown destination or group "nope" (known: a)\n`);
  });

  it('route: prints each metric with its destinations in send order, from arguments or stdin', async () => {
    const env = { HG_API_KEY: 'k' };
    const cfg = path.join(ROOT, 'config/fanout.example.yaml');
    const args = io({ env });
    expect(await main(['route', '-c', cfg, 'test.foo', 'servers.web01.cpu', 'TEST.upper'], args)).toBe(0);
    expect(args.out()).toBe('test.foo\tlocal-cache\nservers.web01.cpu\thostedgraphite,local-cache\nTEST.upper\tlocal-cache\n');
    const stdin = io({ env, stdin: 'a.b 1 2\n\nbad\u0001name\n' });
    expect(await main(['route', '-c', cfg], stdin)).toBe(0);
    expect(stdin.out()).toBe('a.b\thostedgraphite,local-cache\nbad\u0001name\t(invalid name: dropped)\n');
  });

  it('route: shows a rewritten name as `original -> rewritten`, routed by the new name; names no rule changed print as before', async () => {
    const dir = tempDir();
    const cfg = path.join(dir, 'relay.yaml');
    fs.writeFileSync(
      cfg,
      YAML.stringify({
        destinations: [
          { name: 'servers', file: 'servers.txt' },
          { name: 'rest', file: 'rest.txt' },
        ],
        rewrite: [
          { match: '^servers\\.([A-Za-z]+)\\.', replace: 'srv.\\_1.' },
          { match: '\\.blank$', replace: ' ' },
        ],
        rules: [{ pattern: '^srv\\.', destinations: ['servers'] }, { default: true, destinations: ['rest'] }],
      }),
    );
    const t = io();
    expect(await main(['route', '-c', cfg, 'servers.WEB.cpu', 'other.cpu', 'x.blank', 'bad\u0080c1'], t)).toBe(0);
    expect(t.out()).toBe('servers.WEB.cpu -> srv.web.cpu\tservers\nother.cpu\trest\nx.blank -> x \t(rewritten to an invalid name: dropped)\nbad\u0080c1\t(invalid name: dropped)\n');
  });

  it('usage errors exit 2', async () => {
    const t = io();
    expect(await main(['frobnicate', '-c', 'x'], t)).toBe(2);
    expect(t.err()).toContain('unknown command "frobnicate"');
    expect(await main(['check'], io())).toBe(2);
  });

  it('start: relays to the file destination and flushes on shutdown', async () => {
    const dir = tempDir();
    const outFile = path.join(dir, 'out.txt');
    const cfg = path.join(dir, 'relay.yaml');
    fs.writeFileSync(
      cfg,
      YAML.stringify({
        listen: { line: { tcp: { host: '127.0.0.1', port: 0 } } },
        admin: { port: 0 },
        selfMetrics: { interval: 0 },
        destinations: [{ name: 'f', file: 'out.txt' }],
        rules: [{ default: true, destinations: ['f'] }],
      }),
    );
    let stop!: (s: string) => void;
    let relay: Relay | undefined;
    const t: CliIO = { ...io(), log: silentLogger(), shutdown: new Promise((r) => (stop = r)), onStarted: (r) => (relay = r) };
    const exit = main(['start', '-c', cfg], t);
    await waitFor(() => relay !== undefined, 'relay started');
    await sendTcp(relay!.listeners.line!.port, 'cli.metric 12.5 1700000000\n');
    await waitFor(() => relay!.destinations.get('f')!.counters.sent === 1, 'written');
    stop('test');
    expect(await exit).toBe(0);
    expect(fs.readFileSync(outFile, 'utf8')).toBe('cli.metric 12.5 1700000000\n');
  });

  it('--version and -V print the package version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const t = io();
      expect(await main([flag], t)).toBe(0);
      expect(t.out()).toBe(`${version}\n`);
    }
  });

  it('start: warns once when the HTTP front door serves other hosts without authentication, naming the open endpoint groups', async () => {
    const startWith = async (http: Record<string, unknown>, endpoints?: Record<string, unknown>): Promise<LogEntry[]> => {
      const dir = tempDir();
      const cfg = path.join(dir, 'relay.yaml');
      fs.writeFileSync(
        cfg,
        YAML.stringify({
          listen: { http: { port: 0, ...http } },
          ...(endpoints !== undefined && { http: endpoints }),
          admin: false,
          selfMetrics: { interval: 0 },
          destinations: [{ name: 'f', file: 'out.txt' }],
          rules: [{ default: true, destinations: ['f'] }],
        }),
      );
      return (await startAndStop(cfg)).filter((e) => e.level === 'warn');
    };
    const open = await startWith({ host: '0.0.0.0' });
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ message: expect.stringContaining('without authentication'), host: '0.0.0.0', endpointGroups: ['feed', 'sink', 'publish', 'collectd', 'grafana', 'github', 'pagerduty'] });
    expect(await startWith({ host: '127.0.0.1' })).toEqual([]);
    // keys for every group but one, which overrides them with no auth: only it is named; a webhook with its secret is not open
    const oneOpen = await startWith({ host: '0.0.0.0' }, { auth: { apiKeys: ['k'] }, feed: { auth: {} }, pagerduty: { auth: {}, secret: 's' } });
    expect(oneOpen.map((e) => e.endpointGroups)).toEqual([['feed']]);
    expect(await startWith({ host: '::' }, { auth: { allow: ['10.0.0.0/8'] } })).toEqual([]);
  });

  it('start: warns about spools of workers it no longer runs that still hold datapoints (lowering `workers` leaves them), and delivers them', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, 'data');
    const spoolDir = spoolDirectory(workerDataDir(dataDir, 2), 'cache');
    const orphan = Spool.open(
      { dir: spoolDir, segmentBytes: 65536, maxBytes: 1024 ** 3, maxAgeMs: 0, minFreeBytes: 0, whenFull: 'drop_oldest' },
      { log: silentLogger(), now: () => Date.now() },
    );
    orphan.append({ length: 3, nameAt: (k) => `a.b${k}`, timestampAt: () => 1_700_000_000, valueAt: (k) => k }, 0, 3);
    orphan.close();
    const sink = new CaptureServer('line');
    const port = await sink.listen();
    const cfg = path.join(dir, 'relay.yaml');
    fs.writeFileSync(
      cfg,
      YAML.stringify({
        dataDir,
        admin: false,
        selfMetrics: { interval: 0 },
        listen: { line: { tcp: { host: '127.0.0.1', port: 0 } } },
        destinations: [{ name: 'cache', host: '127.0.0.1', port, protocol: 'line', spool: { mode: 'overflow' } }],
        rules: [{ default: true, destinations: ['cache'] }],
      }),
    );
    const { log, entries } = captureLog();
    let stop!: (s: string) => void;
    let started = false;
    const exit = main(['start', '-c', cfg], { ...io(), log, shutdown: new Promise((r) => (stop = r)), onStarted: () => (started = true) });
    try {
      await waitFor(() => started, 'relay started');
      await waitFor(() => sink.datapoints.length === 3, 'the orphaned spool delivered');
      expect(sink.datapoints.map((d) => d.name).sort()).toEqual(['a.b0', 'a.b1', 'a.b2']);
    } finally {
      stop('test');
      expect(await exit).toBe(0);
      await sink.close();
    }
    const warned = entries.filter((e) => e.level === 'warn' && e.message.includes('no longer runs holds undelivered datapoints'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ worker: 2, pendingBytes: expect.any(Number), dir: spoolDir });
  });

  it('start: SIGHUP re-reads the config: a valid change is applied, an invalid one changes nothing and is counted', async () => {
    const dir = tempDir();
    const cfg = path.join(dir, 'relay.yaml');
    const config = (rules: unknown[], extra: Record<string, unknown>[] = []): string =>
      YAML.stringify({
        listen: { line: { tcp: { host: '127.0.0.1', port: 0 } } },
        admin: { port: 0 },
        selfMetrics: { interval: 0 },
        destinations: [{ name: 'f', file: 'out.txt' }, ...extra],
        rules,
      });
    fs.writeFileSync(cfg, config([{ default: true, destinations: ['f'] }]));
    let stop!: (s: string) => void;
    let relay: Relay | undefined;
    let reload: (() => void) | undefined;
    const t: CliIO = { ...io(), log: silentLogger(), shutdown: new Promise((r) => (stop = r)), onStarted: (r) => (relay = r), onReloadable: (f) => (reload = f) };
    const exit = main(['start', '-c', cfg], t);
    await waitFor(() => relay !== undefined && reload !== undefined, 'relay started');
    fs.writeFileSync(cfg, config([{ pattern: '^x\\.', destinations: ['g'] }, { default: true, destinations: ['f'] }], [{ name: 'g', file: 'g.txt' }]));
    reload!();
    await waitFor(() => relay!.destinations.has('g'), 'the new destination is in');
    await sendTcp(relay!.listeners.line!.port, 'x.routed 1 1700000000\nother 2 1700000000\n');
    await waitFor(() => relay!.destinations.get('g')!.counters.sent === 1 && relay!.destinations.get('f')!.counters.sent === 1, 'routed by the new rules');
    fs.writeFileSync(cfg, 'destinations: [oops\n');
    reload!();
    await waitFor(() => relay!.counters.reloadsFailed === 1, 'the invalid config counted');
    expect(relay!.destinations.has('g')).toBe(true);
    expect(relay!.counters.reloadsApplied).toBe(1);
    stop('test');
    expect(await exit).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'g.txt'), 'utf8')).toBe('x.routed 1 1700000000\n');
  });

  it('reload: asks the running relay through its admin listener and prints the result', async () => {
    const dir = tempDir();
    const cfg = path.join(dir, 'relay.yaml');
    const [adminPort] = await freePorts(1);
    const config = (dests: string[]): string =>
      YAML.stringify({
        listen: { line: { tcp: { host: '127.0.0.1', port: 0 } } },
        admin: { port: adminPort, users: [{ user: 'ops', password: 'pw' }] },
        selfMetrics: { interval: 0 },
        destinations: dests.map((name) => ({ name, file: `${name}.txt` })),
        rules: [{ default: true, destinations: dests }],
      });
    fs.writeFileSync(cfg, config(['f']));
    let stop!: (s: string) => void;
    let relay: Relay | undefined;
    const t: CliIO = { ...io(), log: silentLogger(), shutdown: new Promise((r) => (stop = r)), onStarted: (r) => (relay = r) };
    const exit = main(['start', '-c', cfg], t);
    await waitFor(() => relay !== undefined, 'relay started');
    fs.writeFileSync(cfg, config(['f', 'g']));
    const cli = io();
    expect(await main(['reload', '-c', cfg], cli)).toBe(0);
    expect(JSON.parse(cli.out())).toMatchObject({ result: 'applied', added: ['g'], removed: [], kept: ['f'] });
    expect(relay!.destinations.has('g')).toBe(true);
    const again = io();
    expect(await main(['reload', '-c', cfg], again)).toBe(0);
    expect(JSON.parse(again.out())).toMatchObject({ result: 'unchanged' });
    stop('test');
    expect(await exit).toBe(0);
  });

  describe('with carbon-relay\'s own files', () => {
    const carbonDir = path.join(ROOT, 'test/fixtures/carbon');
    const rulesConf = path.join(carbonDir, 'rules/carbon.conf');

    it('check --carbon-conf summarises the relay carbon-relay would run', async () => {
      const t = io();
      expect(await main(['check', '--carbon-conf', rulesConf], t)).toBe(0);
      expect(t.out()).toMatch(/^OK .*rules\/carbon\.conf: 3 listeners \(line tcp 127\.0\.0\.1:2013, line udp 0\.0\.0\.0:2013, pickle tcp 0\.0\.0\.0:2014\), 3 destinations/);
      const b = io();
      expect(await main(['check', '--carbon-conf', rulesConf, '--instance', 'b'], b)).toBe(0);
      expect(b.out()).toContain('line tcp 127.0.0.1:2113');
    });

    it('route --carbon-conf prints destinations as DESTINATIONS writes them, in carbon\'s rule order', async () => {
      const t = io();
      expect(await main(['route', '--carbon-conf', rulesConf, 'carbon.agents.x', 'servers.web1.cpu', 'load.100%.x', 'other'], t)).toBe(0);
      expect(t.out()).toBe(
        [
          'carbon.agents.x\t127.0.0.1:2004:a,127.0.0.1:2104:b',
          // the [web] pattern holds ' # web servers' (no inline comments), so it cannot match a valid name
          'servers.web1.cpu\t127.0.0.1:2004:a,127.0.0.1:2104:b',
          'load.100%.x\t127.0.0.1:2104:b,127.0.0.1:2004:a',
          'other\t127.0.0.1:2004:a,127.0.0.1:2104:b',
          '',
        ].join('\n'),
      );
    });

    it('route --carbon-conf shows the ring members of a hashing relay, IPv6 in brackets', async () => {
      const t = io();
      expect(await main(['route', '--carbon-conf', path.join(carbonDir, 'hashing/carbon.conf'), 'foo.bar'], t)).toBe(0);
      expect(t.out()).toMatch(/^foo\.bar\t(cache-[12]\.example\.com:2004:[ab]|\[2001:db8::7\]:2004:c),(cache-[12]\.example\.com:2004:[ab]|\[2001:db8::7\]:2004:c)\n$/);
    });

    it('convert prints YAML that loads to a relay routing every name the same way', async () => {
      const dir = tempDir();
      for (const conf of ['rules/carbon.conf', 'hashing/carbon.conf', 'debian/carbon.conf']) {
        const t = io();
        expect(await main(['convert', '--carbon-conf', path.join(carbonDir, conf)], t)).toBe(0);
        expect(t.out()).toMatch(/^# carbon-fanout config converted from /);
        const yamlFile = path.join(dir, conf.replace('/', '-') + '.yaml');
        fs.writeFileSync(yamlFile, t.out());
        const names = ['carbon.agents.x', 'servers.web7.cpu', 'load.100%.y', 'foo.bar', 'a;b=c', ...Array.from({ length: 50 }, (_, i) => `m.${i}.x`)];
        const native = io();
        const carbon = io();
        expect(await main(['route', '-c', yamlFile, ...names], native)).toBe(0);
        expect(await main(['route', '--carbon-conf', path.join(carbonDir, conf), ...names], carbon)).toBe(0);
        // native output names destinations by their config name; carbon's by host:port:instance, which here is the same text
        expect(native.out()).toBe(carbon.out());
        expect(native.out().split('\n')).toHaveLength(names.length + 1);
      }
    });

    it('warnings about carbon settings we do not support go to stderr and do not fail check', async () => {
      const dir = tempDir();
      const conf = path.join(dir, 'carbon.conf');
      fs.writeFileSync(conf, '[relay]\nDESTINATIONS = 127.0.0.1:2004\nRELAY_METHOD = consistent-hashing\nUSE_RATIO_RESET = True\nFROBNICATE = 1\n');
      const t = io();
      expect(await main(['check', '--carbon-conf', conf], t)).toBe(0);
      expect(t.err()).toMatch(new RegExp(`^warning: ${conf}:4: .*USE_RATIO_RESET.*not supported`, 'm'));
      expect(t.err()).toMatch(new RegExp(`^warning: ${conf}:5: .*FROBNICATE.*unknown setting`, 'm'));
    });

    it('a broken carbon.conf fails with file and line', async () => {
      const dir = tempDir();
      const conf = path.join(dir, 'carbon.conf');
      fs.writeFileSync(conf, '[relay]\nDESTINATIONS = 127.0.0.1:2004\nRELAY_METHOD = sideways\n');
      const t = io();
      expect(await main(['check', '--carbon-conf', conf], t)).toBe(1);
      expect(t.err()).toMatch(new RegExp(`^config error: ${conf}:3: .*RELAY_METHOD.*must be one of`));
    });

    it('usage errors: convert needs --carbon-conf; -c and --carbon-conf exclude each other; --rules needs --carbon-conf', async () => {
      const a = io();
      expect(await main(['convert', '-c', 'x.yaml'], a)).toBe(2);
      expect(a.err()).toContain('--carbon-conf FILE is required');
      const b = io();
      expect(await main(['check', '-c', 'x.yaml', '--carbon-conf', rulesConf], b)).toBe(2);
      expect(b.err()).toContain('not both');
      const c = io();
      expect(await main(['check', '-c', 'x.yaml', '--rules', 'r.conf'], c)).toBe(2);
      expect(c.err()).toContain('--rules needs --carbon-conf');
    });
  });
});
