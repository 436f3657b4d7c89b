import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { freePorts } from '../helpers/carbon';
import { tempDirsRemovedAfterAll } from '../helpers/relay';
import { CaptureServer, waitFor } from '../helpers/sink';
import { WatchedProcess } from '../helpers/watched-process';

const ROOT = path.resolve(__dirname, '../..');
const newDir = tempDirsRemovedAfterAll();

interface WorkerStatus {
  index: number;
  pid: number | null;
  state: string;
  restarts: number;
  received: number | null;
  connections: number;
}
interface Status {
  ready: boolean;
  config: { hash: string };
  received: { total: number };
  destinations: { name: string; sent: { total: number }; dropped: { total: number } }[];
  workers: WorkerStatus[];
}

/** Send `lines` over `connections` TCP connections at once (each connection its own share), resolving when all are closed. */
async function sendLines(port: number, lines: string[], connections: number): Promise<void> {
  const shares = Array.from({ length: connections }, (_, i) => lines.filter((_, j) => j % connections === i).join(''));
  await Promise.all(
    shares.map(
      (data) =>
        new Promise<void>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => s.end(data));
          s.on('error', reject);
          s.on('close', () => resolve());
        }),
    ),
  );
}

const lines = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}.s${i % 500} ${i} 1700000000\n`);

/**
 * `workers: 2` on the built CLI: one primary, two worker processes sharing
 * the receivers' ports. What is measured is what an operator sees: every
 * datapoint delivered once, counters summed across workers on /status and
 * /metrics, a killed worker restarted with its spool replayed, a SIGHUP
 * applied by every worker, and a SIGTERM that drains them all.
 */
describe('workers: 2', () => {
  let relay: WatchedProcess;
  let sink: CaptureServer;
  let adminPort: number;
  let linePort: number;
  let sinkPort: number;
  let file: string;

  const admin = async <T>(p: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${adminPort}${p}`)).json()) as T;
  const adminText = async (p: string): Promise<string> => (await fetch(`http://127.0.0.1:${adminPort}${p}`)).text();
  const writeConfig = (extraRule: boolean): void => {
    fs.writeFileSync(
      file,
      YAML.stringify({
        workers: 2,
        shutdownTimeout: '10s',
        selfMetrics: { interval: 0 },
        dataDir: 'state',
        admin: { host: '127.0.0.1', port: adminPort },
        listen: { line: { tcp: { host: '127.0.0.1', port: linePort } } },
        destinations: [
          // always: every datapoint is on disk before it is sent, so a worker killed with SIGKILL loses none
          { name: 'sink', host: '127.0.0.1', port: sinkPort, protocol: 'line', reconnect: { initialDelay: '50ms', maxDelay: '200ms' }, spool: { mode: 'always', syncInterval: '50ms' } },
        ],
        rules: [...(extraRule ? [{ pattern: '^never\\.', destinations: [] }] : []), { default: true, destinations: ['sink'] }],
      }),
    );
  };

  beforeAll(async () => {
    [adminPort, linePort, sinkPort] = await freePorts(3);
    sink = new CaptureServer('line');
    await sink.listen(sinkPort);
    file = path.join(newDir(), 'relay.yaml');
    writeConfig(false);
    relay = new WatchedProcess(spawn(process.execPath, ['dist/cli.js', 'start', '-c', file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] }), 4_000_000);
    await waitFor(() => relay.output.includes('"message":"carbon-fanout started"') || relay.exitStatus !== null, 'the primary reporting its workers started', 30_000);
    expect(relay.exitStatus).toBeNull();
  }, 40_000);

  afterAll(async () => {
    await relay?.stop(5000);
    await sink?.close();
  });

  it('spreads connections over both workers and delivers every datapoint once; /status and /metrics add the workers up', async () => {
    const sent = lines('spread', 40_000);
    await sendLines(linePort, sent, 16);
    await waitFor(() => sink.datapoints.length >= sent.length, `the sink receiving ${sent.length} datapoints`, 30_000);
    expect(sink.datapoints.map((d) => `${d.name} ${d.value} ${d.timestamp}\n`).sort()).toEqual([...sent].sort());

    const status = await admin<Status>('/status');
    expect(status.ready).toBe(true);
    expect(status.workers.map((w) => w.state)).toEqual(['running', 'running']);
    expect(new Set(status.workers.map((w) => w.pid)).size).toBe(2);
    // round-robin hands 16 connections to both workers
    for (const w of status.workers) expect(w.received).toBeGreaterThan(0);
    expect(status.workers.reduce((n, w) => n + (w.received ?? 0), 0)).toBe(sent.length);
    expect(status.received.total).toBe(sent.length);
    const sink0 = status.destinations.find((d) => d.name === 'sink');
    expect(sink0?.dropped.total).toBe(0);

    // connections that arrive together are shared evenly: the primary hands each to the worker holding the fewest
    const open = async (): Promise<number[]> => (await admin<Status>('/status')).workers.map((w) => w.connections);
    for (let i = 0; i < 500 && (await open()).some((n) => n !== 0); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await open()).toEqual([0, 0]);
    const idle = await Promise.all(
      Array.from({ length: 8 }, () => new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(linePort, '127.0.0.1', () => resolve(s));
        s.on('error', reject);
      })),
    );
    for (let i = 0; i < 500 && (await open()).reduce((a, b) => a + b, 0) !== 8; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await open()).toEqual([4, 4]);
    for (const s of idle) s.destroy();

    const metrics = await adminText('/metrics');
    expect(metrics).toContain(`carbon_fanout_datapoints_received_total{listener="line",protocol="line"} ${sent.length}`);
    expect(metrics).toContain('carbon_fanout_workers{state="running"} 2');
    expect(metrics).toContain('carbon_fanout_destination_up{destination="sink"} 1');
    // the operator compares this hash with `carbon-fanout check`'s: one series, the primary's
    expect(metrics.match(/^carbon_fanout_config_info\{/gm)).toHaveLength(1);
    expect(metrics).toContain(`carbon_fanout_config_info{hash="${status.config.hash}"} 1`);
  }, 60_000);

  it('restarts a worker killed with SIGKILL, which replays its spool: nothing lost', async () => {
    const before = sink.datapoints.length;
    await sink.close();
    const sent = lines('crash', 20_000);
    await sendLines(linePort, sent, 16);
    // what a worker has appended to its spool file survives its SIGKILL (the page cache is the kernel's)
    const pending = async (): Promise<number> => Number(/^carbon_fanout_spool_pending_datapoints\{destination="sink"\} (\d+)$/m.exec(await adminText('/metrics'))?.[1] ?? -1);
    for (let i = 0; i < 3000 && (await pending()) < sent.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await pending()).toBe(sent.length);
    expect((await admin<Status>('/status')).received.total).toBe(before + sent.length);
    const victim = (await admin<Status>('/status')).workers[1];
    process.kill(victim.pid as number, 'SIGKILL');
    let restarted: WorkerStatus | undefined;
    for (let i = 0; i < 3000; i++) {
      restarted = (await admin<Status>('/status')).workers[1];
      if (restarted.state === 'running' && restarted.pid !== victim.pid) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(restarted).toMatchObject({ state: 'running', restarts: 1 });
    expect(relay.output).toContain('worker died: restarting it');

    sink = new CaptureServer('line');
    await sink.listen(sinkPort);
    await waitFor(() => sink.datapoints.length >= sent.length, `the sink receiving the ${sent.length} spooled datapoints`, 30_000);
    const got = sink.datapoints.filter((d) => d.name.startsWith('crash.')).map((d) => `${d.name} ${d.value} ${d.timestamp}\n`);
    expect(got.sort()).toEqual([...sent].sort());
    expect(await adminText('/metrics')).toContain('carbon_fanout_worker_restarts_total 1');
  }, 90_000);

  it('SIGHUP reloads every worker; SIGTERM drains them all and the primary exits 0', async () => {
    const before = (await admin<Status>('/status')).config.hash;
    writeConfig(true);
    relay.child.kill('SIGHUP');
    let after = before;
    for (let i = 0; i < 1000 && after === before; i++) {
      await new Promise((r) => setTimeout(r, 10));
      after = (await admin<Status>('/status')).config.hash;
    }
    if (after === before) throw new Error(`hash unchanged after SIGHUP; relay log:\n${relay.output.slice(-4000)}`);
    const metrics = await adminText('/metrics');
    expect(metrics).toContain('carbon_fanout_config_reloads_total{reason="applied"} 1');
    expect(relay.exitStatus).toBeNull();

    const sent = lines('drain', 5000);
    await sendLines(linePort, sent, 4);
    relay.child.kill('SIGTERM');
    await relay.exited;
    expect(relay.exitStatus).toBe('exited with 0');
    const got = sink.datapoints.filter((d) => d.name.startsWith('drain.')).map((d) => `${d.name} ${d.value} ${d.timestamp}\n`);
    expect(got.sort()).toEqual([...sent].sort());
    // the primary's total (its lines carry no "worker")
    expect(relay.output).toMatch(/^(?![^\n]*"worker")[^\n]*"message":"shutdown complete: every queued datapoint was delivered"/m);
  }, 60_000);
});

describe('workers: 2 that cannot start', () => {
  /** Starts the CLI with `listen` (ports from `taken`'s), waits for it to exit, and returns its output. */
  async function startWith(listen: (port: number) => object, take: (port: number) => Promise<() => Promise<void>>): Promise<{ output: string; adminPort: number }> {
    const [adminPort, port] = await freePorts(2);
    const release = await take(port);
    try {
      const file = path.join(newDir(), 'relay.yaml');
      fs.writeFileSync(
        file,
        YAML.stringify({
          workers: 2,
          selfMetrics: { interval: 0 },
          admin: { host: '127.0.0.1', port: adminPort },
          listen: listen(port),
          destinations: [{ name: 'out', type: 'file', file: path.join(path.dirname(file), 'out.txt') }],
          rules: [{ default: true, destinations: ['out'] }],
        }),
      );
      const relay = new WatchedProcess(spawn(process.execPath, ['dist/cli.js', 'start', '-c', file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] }), 64 * 1024);
      await Promise.race([relay.exited, new Promise((r) => setTimeout(r, 30_000))]);
      expect(relay.exitStatus).toBe('exited with 1');
      return { output: relay.output, adminPort };
    } finally {
      await release();
    }
  }

  it('a TCP port already taken (the primary listens on it): the workers are stopped and the primary exits 1 with the reason', async () => {
    const { output, adminPort } = await startWith(
      (port) => ({ line: { tcp: { host: '127.0.0.1', port } } }),
      async (port) => {
        const taken = net.createServer();
        await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', () => resolve()));
        return () => new Promise<void>((resolve) => taken.close(() => resolve()));
      },
    );
    expect(output).toMatch(/"error":"listener line on 127\.0\.0\.1:\d+: listen EADDRINUSE[^\n]*"message":"startup failed"/);
    // both workers had started; each drained and exited before the primary did
    expect(output.match(/"message":"worker started"/g)).toHaveLength(2);
    expect(output.match(/"message":"shutdown complete[^"]*"[^\n]*"worker"|"worker":\d[^\n]*"message":"shutdown complete/g)?.length ?? 0).toBe(2);
    // the admin listener the primary had opened is closed again
    await expect(fetch(`http://127.0.0.1:${adminPort}/health`)).rejects.toThrow();
  }, 40_000);

  it('a UDP port already taken (the workers bind it): every worker is stopped and the primary exits 1 with the reason', async () => {
    const { output, adminPort } = await startWith(
      (port) => ({ line: { udp: { host: '127.0.0.1', port } } }),
      async (port) => {
        const taken = dgram.createSocket('udp4');
        await new Promise<void>((resolve) => taken.bind(port, '127.0.0.1', () => resolve()));
        return () => new Promise<void>((resolve) => taken.close(() => resolve()));
      },
    );
    expect(output).toContain('"message":"worker could not start"');
    expect(output).toMatch(/"error":"[^"]*EADDRINUSE[^\n]*"message":"startup failed"/);
    await expect(fetch(`http://127.0.0.1:${adminPort}/health`)).rejects.toThrow();
  }, 40_000);
});
