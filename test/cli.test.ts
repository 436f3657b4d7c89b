import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import YAML from 'yaml';
import { main, type CliIO } from '../src/cli';
import type { Relay } from '../src/relay';
import { silentLogger } from '../src/telemetry/logger';
import { tempDir } from './helpers/relay';
import { sendTcp, waitFor } from './helpers/sink';

const ROOT = path.resolve(__dirname, '..');

function io(opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): CliIO & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { stdout, stderr, stdin: Readable.from([opts.stdin ?? '']), env: opts.env ?? {}, out: () => out, err: () => err };
}

describe('carbon-fanout CLI', () => {
  it('check: exit 0 with a one-line summary for the shipped default config', async () => {
    const t = io();
    expect(await main(['check', '-c', path.join(ROOT, 'config/relay.yaml')], t)).toBe(0);
    expect(t.out()).toMatch(/^OK .*relay\.yaml: 3 listeners \(line tcp 0\.0\.0\.0:2003, line udp 0\.0\.0\.0:2003, pickle tcp 0\.0\.0\.0:2004\), 1 destinations \(stdout\), 1 rules\n$/);
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
});
