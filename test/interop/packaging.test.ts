import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sendTcp, waitFor } from '../helpers/sink';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const UNIT = path.join(ROOT, 'deploy/carbon-fanout.service');

/**
 * What an operator gets: the systemd unit is valid, and the npm tarball (package.json "files")
 * installs on its own from the registry and runs, without the repository around it.
 */

/** The environment for child npm/relay processes: without the npm_* variables of an enclosing `npm run`, which would point a nested npm at this repository. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return env;
}

interface Output {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion; never rejects on a non-zero exit (the caller asserts on it). */
async function exec(cmd: string, args: readonly string[], cwd: string, timeoutMs = 60_000): Promise<Output> {
  try {
    const r = await run(cmd, [...args], { cwd, env: cleanEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : null, stdout: e.stdout ?? '', stderr: `${e.stderr ?? ''}\n${e.message}` };
  }
}

describe('deploy/carbon-fanout.service', () => {
  // Verified as shipped: ExecStart is /usr/bin/env (present everywhere), so systemd-analyze checks a real
  // executable; carbon-fanout itself is found on PATH at run time. No systemd runs in the test container:
  // `verify` only loads and checks the unit file, it starts nothing.
  it('passes systemd-analyze verify with no message about the unit', async () => {
    const r = await exec('systemd-analyze', ['--man=no', '--recursive-errors=no', 'verify', UNIT], os.tmpdir());
    // verify also loads units installed on this machine (it may warn about their files): only lines about ours count
    const ours = r.stderr.split('\n').filter((l) => l.includes('carbon-fanout'));
    expect({ code: r.code, ours }).toEqual({ code: 0, ours: [] });
  });

  it('would catch a broken unit (a misspelt key and a missing binary), so a clean verify means something', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-unit-'));
    try {
      const broken = fs
        .readFileSync(UNIT, 'utf8')
        .replace(/^NoNewPrivileges=/m, 'NoNewPrivilege=')
        .replace(/^ExecStart=\/usr\/bin\/env /m, 'ExecStart=/nonexistent/carbon-fanout ');
      fs.writeFileSync(path.join(dir, 'carbon-fanout.service'), broken);
      const r = await exec('systemd-analyze', ['--man=no', '--recursive-errors=no', 'verify', path.join(dir, 'carbon-fanout.service')], dir);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Unknown key 'NoNewPrivilege'/);
      expect(r.stderr).toMatch(/\/nonexistent\/carbon-fanout is not executable/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is hardened: systemd-analyze security rates its exposure low, and no JIT-breaking MemoryDenyWriteExecute', async () => {
    const r = await exec('systemd-analyze', ['--man=no', 'security', '--offline=yes', '--no-pager', UNIT], os.tmpdir());
    const m = /Overall exposure level for carbon-fanout\.service: ([\d.]+)/.exec(r.stdout + r.stderr);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(2.5);
    const unit = fs.readFileSync(UNIT, 'utf8');
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=/m);
    // the drain must finish before systemd's SIGKILL: TimeoutStopSec > shutdownTimeout (10 s default) + shutdownGrace
    const stop = /^TimeoutStopSec=(\d+)s?$/m.exec(unit);
    expect(Number(stop?.[1])).toBeGreaterThanOrEqual(20);
  });
});

describe('npm package: pack, install from the tarball, run', () => {
  const dirs: string[] = [];
  let children: ChildProcess[] = [];
  let installed = '';
  let packedFiles: string[] = [];
  let work = '';

  const tmp = (prefix: string): string => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(d);
    return d;
  };

  beforeAll(async () => {
    const packDir = tmp('cf-pack-');
    const packed = await exec('npm', ['pack', '--json', '--pack-destination', packDir], ROOT);
    expect(packed.code).toBe(0);
    const info = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packedFiles = info[0]!.files.map((f) => f.path);
    const tarball = path.join(packDir, info[0]!.filename);

    // an empty project elsewhere: only the tarball and the registry, no repository, no devDependencies;
    // without the optional Kafka client, whose librdkafka build (CKJS_LINKING=dynamic, as CI sets) takes minutes
    work = tmp('cf-install-');
    fs.writeFileSync(path.join(work, 'package.json'), '{ "private": true }\n');
    const inst = await exec('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--omit=optional', tarball], work, 120_000);
    if (inst.code !== 0) throw new Error(`npm install ${tarball} failed:\n${inst.stderr}`);
    installed = path.join(work, 'node_modules/carbon-fanout');
  }, 150_000);

  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children = [];
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('ships the built CLI, example configs and the unit, and nothing from src/, test/ or bench/', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/cli.js', 'config/relay.yaml', 'config/fanout.example.yaml', 'relay-rules.example.yaml', 'deploy/carbon-fanout.service']));
    expect(packedFiles.filter((f) => /^(src|test|bench)\//.test(f) || f.endsWith('.ts'))).toEqual([]);
    expect(packedFiles.filter((f) => !/^(dist|config|deploy)\//.test(f)).sort()).toEqual(['README.md', 'package.json', 'relay-rules.example.yaml']);
    expect(fs.readFileSync(path.join(installed, 'deploy/carbon-fanout.service'), 'utf8')).toBe(fs.readFileSync(UNIT, 'utf8'));
  });

  it('installs only production dependencies', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) expect(fs.existsSync(path.join(work, 'node_modules', dep, 'package.json'))).toBe(true);
    for (const dep of ['typescript', 'jest', 'dependency-cruiser', '@confluentinc/kafka-javascript']) expect(fs.existsSync(path.join(work, 'node_modules', dep))).toBe(false);
  });

  it('npx carbon-fanout check accepts the shipped config/relay.yaml', async () => {
    const r = await exec('npx', ['--no', '--', 'carbon-fanout', 'check', '-c', path.join(installed, 'config/relay.yaml')], work);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK /);
  });

  it('the installed carbon-fanout start relays a line to a file, answers /ready, and exits 0 on SIGTERM', async () => {
    const out = path.join(work, 'out.txt');
    const config = path.join(work, 'relay.yaml');
    fs.writeFileSync(
      config,
      [
        'shutdownTimeout: 5s',
        'selfMetrics: { interval: 0 }',
        'admin: { port: 0 }',
        'listen:',
        '  line:',
        '    tcp: { host: 127.0.0.1, port: 0 }',
        'destinations:',
        '  - name: out',
        '    type: file',
        `    file: ${JSON.stringify(out)}`,
        'rules:',
        '  - default: true',
        '    destinations: [out]',
        '',
      ].join('\n'),
    );
    // the installed bin link itself (what `npm install -g` puts on PATH and the unit's ExecStart runs), not npx:
    // npx (npm 11) dies of the SIGTERM itself instead of passing it on, leaving the relay orphaned
    const bin = path.join(work, 'node_modules/.bin/carbon-fanout');
    const child = spawn(bin, ['start', '-c', config], { cwd: work, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.resume();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

    await waitFor(() => stderr.includes('carbon-fanout started'), `the relay to start; stderr so far:\n${stderr}`, 20_000);
    // not a TTY: one JSON object a line, which is what journald gets under systemd
    const logs = stderr
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { message?: string; listener?: string; address?: string; port?: number });
    const line = logs.find((l) => l.listener === 'line' && l.message === 'listening');
    const admin = logs.find((l) => l.listener === 'admin' && l.message === 'listening');
    const linePort = Number(/:(\d+)$/.exec(line?.address ?? '')?.[1]);
    expect(linePort).toBeGreaterThan(0);
    const ready = await fetch(`http://127.0.0.1:${admin?.port}/ready`);
    expect(ready.status).toBe(200);

    await sendTcp(linePort, 'packaging.installed 42 1700000000\n');
    await waitFor(() => fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('packaging.installed 42 1700000000\n'), 'the line in the file destination', 10_000);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain('shutdown complete');
  }, 40_000);
});
