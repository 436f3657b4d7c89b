import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { freePorts, readWhisper, startCarbonCache, type CarbonCache, type WhisperPoint } from '../helpers/carbon';
import { Haproxy } from '../helpers/haproxy';
import { eventually } from '../helpers/poll';
import { tempDirsRemovedAfterAll } from '../helpers/relay';

/**
 * The "several relays behind a load balancer" shape of the README, with real
 * software around us: Debian's HAProxy (TCP mode, leastconn, health checks on
 * each relay's admin /ready) in front of two carbon-fanout processes started
 * from the built CLI with the same config, which hash every series onto two
 * real carbon-caches (Debian graphite-carbon) in one carbon_ch group.
 *
 * Phase 1: 100,000 datapoints over 200 short connections through HAProxy; every
 * series ends up in exactly one cache's whisper files (the one the relays' ring
 * names), every datapoint at its own 1 s slot.
 *
 * Phase 2: a rolling restart under load: while clients keep sending, relay A
 * gets SIGTERM (HAProxy must see /ready turn 503 and take it out while its
 * receivers still run, within shutdownGrace), exits 0 after draining, is started
 * again and taken back in; then the same for relay B.
 *
 * What "loses nothing" means here, and what it cannot mean: a client cannot
 * know more than what TCP tells it. Each batch is one connection: connect,
 * write the lines, half-close, read until the other side closes. The client
 * resends a batch only when its connection failed before its write completed
 * (refused, reset, timed out before 'finish'): a real sender would resend such a
 * batch, and Graphite overwrites a duplicate (same name, same timestamp, same
 * value) with itself. A batch whose write completed is never resent, even if
 * the connection was then reset: it counts as sent, so if the tier dropped it
 * the test fails. The assertion is then the strongest one that is honest:
 * every datapoint of every batch is in whisper, in the one cache its series
 * hashes to. (Through a proxy, a completed write, or even a clean close, only
 * proves that HAProxy took the bytes; the test holds the whole tier, HAProxy
 * included, to delivering them. Failed-after-write connections, resends and
 * HAProxy's own connection retries and redispatches are printed.)
 */

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const newDir = tempDirsRemovedAfterAll();

const SERIES = 1000;
const BATCH = 500; // datapoints per connection: a round (one datapoint per series) is two batches
const PHASE1_ROUNDS = 100; // 100 rounds x 1000 series = 100,000 datapoints = 200 connections
const CONCURRENCY = 16;
const PHASE2_ROUNDS_PER_SECOND = 20; // 20,000 datapoints/s, 40 connections/s, for as long as the restarts take
const PHASE2_MAX_ROUNDS = 1500;
const RELAYS = ['relay-a', 'relay-b'] as const;
type RelayName = (typeof RELAYS)[number];

const seriesName = (s: number): string => `haproxy_tier.s${String(s).padStart(4, '0')}`;
/** Unique per datapoint, exact in a double, so a value in a slot says which datapoint put it there. */
const valueOf = (s: number, k: number): number => s * 10_000 + k;

/** Round k: one datapoint per series at base + k; half 0 carries series 0..499, half 1 series 500..999. */
interface Batch {
  k: number;
  half: 0 | 1;
}

function payloadOf(b: Batch, base: number): string {
  let text = '';
  for (let s = b.half * BATCH; s < (b.half + 1) * BATCH; s++) text += `${seriesName(s)} ${valueOf(s, b.k)} ${base + b.k}\n`;
  return text;
}

type Outcome = { result: 'sent' } | { result: 'failed-before-write' | 'failed-after-write'; error: string };

/** One batch on one connection: write everything, half-close, read until the peer closes. */
function sendOnce(port: number, payload: string, timeoutMs = 20_000): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    let written = false;
    let error: Error | undefined;
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`no close within ${timeoutMs} ms`)));
    s.once('connect', () => s.end(payload, () => (written = true)));
    s.on('error', (e) => (error ??= e));
    s.resume(); // nothing is expected back; reading is how the close is seen
    s.once('close', () => {
      if (error === undefined) resolve({ result: 'sent' });
      else resolve({ result: written ? 'failed-after-write' : 'failed-before-write', error: error.message });
    });
  });
}

class Clients {
  connections = 0;
  batchesSent = 0;
  datapointsSent = 0;
  /** Connections that failed before the write completed; their batch was sent again. */
  resent: string[] = [];
  /** Connections that failed after the write completed; their batch counts as sent and was not resent. */
  failedAfterWrite: string[] = [];
  readonly batches: Batch[] = [];

  constructor(
    private readonly port: number,
    private readonly base: number,
  ) {}

  /** `concurrency` workers send the batches `source` yields until it is done; a batch is retried until its write completes. */
  async run(source: AsyncIterator<Batch> | Iterator<Batch>, concurrency = CONCURRENCY): Promise<void> {
    const worker = async (): Promise<void> => {
      for (;;) {
        const next = await source.next();
        if (next.done === true) return;
        await this.deliver(next.value);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  private async deliver(b: Batch): Promise<void> {
    const payload = payloadOf(b, this.base);
    for (let attempt = 1; ; attempt++) {
      this.connections++;
      const o = await sendOnce(this.port, payload);
      if (o.result === 'sent' || o.result === 'failed-after-write') {
        if (o.result === 'failed-after-write') this.failedAfterWrite.push(`round ${b.k} half ${b.half}: ${o.error}`);
        this.batches.push(b);
        this.batchesSent++;
        this.datapointsSent += BATCH;
        return;
      }
      this.resent.push(`round ${b.k} half ${b.half} attempt ${attempt}: ${o.error}`);
      if (attempt >= 50) throw new Error(`round ${b.k} half ${b.half}: still failing after ${attempt} attempts: ${o.error}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  summary(): string {
    return `${this.batchesSent} batches (${this.datapointsSent} datapoints) over ${this.connections} connections; resent after failing before the write completed: ${this.resent.length}${
      this.resent.length > 0 ? ` (${this.resent.slice(0, 5).join('; ')}${this.resent.length > 5 ? '; ...' : ''})` : ''
    }; failed after the write completed (not resent): ${this.failedAfterWrite.length}${this.failedAfterWrite.length > 0 ? ` (${this.failedAfterWrite.slice(0, 5).join('; ')})` : ''}`;
  }
}

function* roundsFrom(first: number, count: number): Iterator<Batch> {
  for (let k = first; k < first + count; k++) {
    yield { k, half: 0 };
    yield { k, half: 1 };
  }
}

/** Rounds at `perSecond`, from round `first`, until `stop()` says so once a round is complete. */
async function* pacedRounds(first: number, perSecond: number, stop: () => boolean): AsyncGenerator<Batch> {
  const t0 = Date.now();
  for (let r = 0; r < PHASE2_MAX_ROUNDS && !stop(); r++) {
    const due = t0 + (r * 1000) / perSecond;
    if (due > Date.now()) await new Promise((res) => setTimeout(res, due - Date.now()));
    yield { k: first + r, half: 0 };
    yield { k: first + r, half: 1 };
  }
}

/** A relay as a real process: the built CLI on a YAML config, killed with SIGTERM like a service manager does. */
class RelayProcess {
  private err = '';
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    readonly name: RelayName,
    readonly adminPort: number,
    readonly child: ChildProcess,
  ) {
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitCode = code;
        if (code === null) this.err += `\n(killed by ${signal})`;
        resolve(code);
      }),
    );
  }

  /** Start it and wait until its /ready answers 200 (every listener bound). */
  static async start(name: RelayName, configFile: string, adminPort: number, all: RelayProcess[]): Promise<RelayProcess> {
    const child = spawn(process.execPath, [CLI, 'start', '-c', configFile], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const r = new RelayProcess(name, adminPort, child);
    all.push(r);
    await eventually(
      () => r.readyStatus(),
      (status) => status === 200 || !r.running,
      `${name} /ready 200`,
      { timeoutMs: 20_000, diagnostics: () => r.stderr },
    );
    if (!r.running) throw new Error(`${name} exited before it was ready:\n${r.stderr}`);
    return r;
  }

  get stderr(): string {
    return this.err;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** GET /ready on the admin listener: its status, or 0 when nothing answers. */
  async readyStatus(): Promise<number> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.adminPort}/ready`);
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

function relayConfig(linePort: number, adminPort: number, caches: readonly CarbonCache[]): Record<string, unknown> {
  const reconnect = { initialDelay: '50ms', maxDelay: '500ms' };
  return {
    logLevel: 'info',
    // longer than HAProxy needs to see /ready fail (inter 500ms x fall 2, plus a check in flight)
    shutdownGrace: '3s',
    shutdownTimeout: '10s',
    selfMetrics: { interval: 0 },
    admin: { host: '127.0.0.1', port: adminPort },
    // HAProxy sends a PROXY v2 header on each connection: a relay that did not read it would refuse every one
    listen: { proxyProtocol: true, line: { tcp: { host: '127.0.0.1', port: linePort } } },
    destinations: [
      { name: 'cache-a', host: '127.0.0.1', port: caches[0].picklePort, instance: 'a', protocol: 'pickle', reconnect },
      { name: 'cache-b', host: '127.0.0.1', port: caches[1].picklePort, instance: 'b', protocol: 'pickle', reconnect },
    ],
    groups: [{ name: 'caches', type: 'carbon_ch', members: ['cache-a', 'cache-b'] }],
    rules: [{ default: true, destinations: ['caches'] }],
  };
}

function cli(args: string[], input?: string): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`carbon-fanout ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

describe('two relays behind HAProxy in front of two carbon-caches (one carbon_ch group)', () => {
  const caches: CarbonCache[] = [];
  const processes: RelayProcess[] = [];
  const current = new Map<RelayName, RelayProcess>();
  const configFile = new Map<RelayName, string>();
  const adminPort = new Map<RelayName, number>();
  let haproxy: Haproxy | undefined;
  let frontendPort = 0;
  /** Series index -> the cache (index into caches) the relays' ring puts it in. */
  let placement: number[] = [];
  /** Every datapoint's timestamp is base + its round: all in the past and inside the 1 h archive for the whole test. */
  const base = Math.floor(Date.now() / 1000) - 2400;

  beforeAll(async () => {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
    // 1 s slots: every datapoint of a series has its own slot (one round per second of timestamps)
    caches.push(await startCarbonCache('1s:1h'), await startCarbonCache('1s:1h'));
    const ports = await freePorts(6);
    frontendPort = ports[4];
    const statsPort = ports[5];
    RELAYS.forEach((name, i) => {
      const [line, admin] = [ports[2 * i], ports[2 * i + 1]];
      const file = path.join(newDir(), 'relay.yaml');
      fs.writeFileSync(file, YAML.stringify(relayConfig(line, admin, caches)));
      configFile.set(name, file);
      adminPort.set(name, admin);
    });
    for (const name of RELAYS) current.set(name, await RelayProcess.start(name, configFile.get(name)!, adminPort.get(name)!, processes));
    haproxy = await Haproxy.start({
      frontendPort,
      statsPort,
      servers: RELAYS.map((name, i) => ({ name, port: ports[2 * i], checkPort: adminPort.get(name)! })),
      sendProxy: true,
    });
    const h = haproxy;
    for (const name of RELAYS) await eventually(() => h.server(name), (r) => r.status === 'UP' && r.check_status === 'L7OK', `HAProxy: ${name} UP (checked)`, { diagnostics: () => h.log });
  }, 90_000);

  afterAll(async () => {
    for (const p of processes) p.kill();
    await Promise.all(processes.map((p) => p.exited));
    await haproxy?.stop();
    for (const c of caches) await c.daemon.stop();
  }, 60_000);

  const cacheLog = (): string => caches.map((c, i) => `--- carbon-cache ${i} ---\n${c.daemon.log.slice(-4000)}`).join('\n');

  /** Wait until every datapoint of these batches is in whisper, in the cache its series hashes to; then check no series is anywhere else. */
  async function expectStored(batches: readonly Batch[], what: string): Promise<void> {
    const points: WhisperPoint[] = [];
    const expected: string[] = [];
    for (const b of batches) {
      for (let s = b.half * BATCH; s < (b.half + 1) * BATCH; s++) {
        points.push({ file: caches[placement[s]].whisperFile(seriesName(s)), timestamp: base + b.k });
        expected.push(`${valueOf(s, b.k)}.0`); // Python's repr() of the float
      }
    }
    const missing = (values: (string | null)[]): number => values.filter((v, i) => v !== expected[i]).length;
    const values = await eventually(
      () => readWhisper(points),
      (v) => missing(v) === 0,
      `${what}: all ${points.length} datapoints in whisper`,
      { timeoutMs: 60_000, intervalMs: 1000, diagnostics: cacheLog },
    );
    expect(missing(values)).toBe(0);
    // exactly one cache per series: each cache holds exactly the series the ring gives it, nothing else
    caches.forEach((c, i) => {
      const want = placement.flatMap((p, s) => (p === i ? [seriesName(s)] : [])).sort();
      expect(c.storedMetrics()).toEqual(want);
    });
  }

  it('every config routes identically (check, route), and 100,000 datapoints over 200 connections land each series in exactly one cache', async () => {
    const h = haproxy!;
    // The fleet point: the same file on every relay. On one host the two files must differ in their ports, and the
    // config hash covers the listeners, so the two `check` hashes differ; the files differ in nothing else, and
    // `route` (the relays' own rings) places every series identically from either file.
    const [textA, textB] = RELAYS.map((n) => fs.readFileSync(configFile.get(n)!, 'utf8').split('\n'));
    const differing = textA.flatMap((l, i) => (l !== textB[i] ? [`${l.trim()} | ${textB[i]?.trim()}`] : []));
    expect(textA.length).toBe(textB.length);
    expect(differing).toHaveLength(2);
    for (const d of differing) expect(d).toMatch(/^port: \d+ \| port: \d+$/);
    const hashes = RELAYS.map((n) => /; config hash ([0-9a-f]{16})$/.exec(cli(['check', '-c', configFile.get(n)!]).trim())?.[1]);
    for (const hash of hashes) expect(hash).toMatch(/^[0-9a-f]{16}$/);
    // with relay-a's ports, relay-b's file has relay-a's hash: nothing but the ports sets them apart
    const bWithAPorts = path.join(newDir(), 'relay.yaml');
    fs.writeFileSync(bWithAPorts, textA.join('\n'));
    expect(/; config hash ([0-9a-f]{16})$/.exec(cli(['check', '-c', bWithAPorts]).trim())?.[1]).toBe(hashes[0]);

    const names = Array.from({ length: SERIES }, (_, s) => seriesName(s));
    const routes = RELAYS.map((n) => cli(['route', '-c', configFile.get(n)!], names.join('\n') + '\n'));
    expect(routes[1]).toBe(routes[0]);
    const routed = new Map(routes[0].trim().split('\n').map((l) => l.split('\t') as [string, string]));
    placement = names.map((n) => ['cache-a', 'cache-b'].indexOf(routed.get(n) ?? ''));
    expect(placement.filter((p) => p < 0)).toEqual([]);
    const perCache = [0, 1].map((i) => placement.filter((p) => p === i).length);
    expect(Math.min(...perCache)).toBeGreaterThan(SERIES / 4); // both caches get a share

    const clients = new Clients(frontendPort, base);
    const t0 = Date.now();
    await clients.run(roundsFrom(0, PHASE1_ROUNDS));
    const sendMs = Date.now() - t0;
    expect(clients.datapointsSent).toBe(100_000);
    await expectStored(clients.batches, 'phase 1');
    const stot = await Promise.all(RELAYS.map(async (n) => Number((await h.server(n)).stot)));
    console.log(
      `phase 1: ${clients.summary()}; sent in ${sendMs} ms, all in whisper after ${Date.now() - t0} ms; series per cache ${perCache.join('/')}; ` +
        `HAProxy sessions per relay ${stot.join('/')}; config hashes ${hashes.join(' ')}`,
    );
    expect(clients.failedAfterWrite).toEqual([]);
    // leastconn spread the connections over both relays
    for (const n of stot) expect(n).toBeGreaterThan(0);
  }, 120_000);

  it('a rolling restart under load (SIGTERM, start again; one relay, then the other) loses nothing', async () => {
    const h = haproxy!;
    expect(placement).toHaveLength(SERIES); // phase 1 ran
    const sessionsBefore = h.sessions().length;
    let restartsDone = false;
    const clients = new Clients(frontendPort, base);
    const t0 = Date.now();
    const load = clients.run(pacedRounds(PHASE1_ROUNDS, PHASE2_ROUNDS_PER_SECOND, () => restartsDone));
    const timeline: string[] = [];
    const mark = (what: string): void => {
      timeline.push(`${Date.now() - t0} ms ${what}`);
    };
    try {
      await new Promise((r) => setTimeout(r, 1000)); // load is flowing through both relays first
      for (const name of RELAYS) {
        const old = current.get(name)!;
        old.child.kill('SIGTERM');
        mark(`${name}: SIGTERM`);
        // /ready turns 503 at once; HAProxy takes the relay out while its receivers still run (shutdownGrace)
        await eventually(() => old.readyStatus(), (st) => st === 503, `${name} /ready 503`, { timeoutMs: 2000, intervalMs: 20 });
        mark(`${name}: /ready 503`);
        await eventually(() => h.server(name), (r) => r.status === 'DOWN', `HAProxy: ${name} DOWN`, { timeoutMs: 10_000, diagnostics: () => h.log.slice(-4000) });
        mark(`${name}: DOWN in HAProxy`);
        expect(old.stderr).not.toContain('shutting down: delivering queued datapoints');
        const code = await old.exited;
        mark(`${name}: exited ${code}`);
        expect(code).toBe(0);
        expect(old.stderr).toContain('shutdown complete: every queued datapoint was delivered');
        expect(old.stderr).not.toMatch(/connections still open at the shutdown deadline|undelivered/);
        const fresh = await RelayProcess.start(name, configFile.get(name)!, adminPort.get(name)!, processes);
        current.set(name, fresh);
        mark(`${name}: restarted, /ready 200`);
        const up = await eventually(() => h.server(name), (r) => r.status === 'UP', `HAProxy: ${name} UP again`, { timeoutMs: 10_000, diagnostics: () => h.log.slice(-4000) });
        mark(`${name}: UP in HAProxy`);
        // the restarted relay takes connections again before the other one goes
        await eventually(() => h.server(name), (r) => Number(r.stot) > Number(up.stot), `HAProxy sends ${name} connections again`, { timeoutMs: 10_000 });
        mark(`${name}: taking connections`);
      }
      await new Promise((r) => setTimeout(r, 1000)); // and a little more load on the restarted tier
    } finally {
      restartsDone = true;
      await load;
    }
    mark('load ended');
    const sendMs = Date.now() - t0;
    await expectStored(clients.batches, 'phase 2');
    const sessions = h.sessions().slice(sessionsBefore);
    const states = new Map<string, number>();
    for (const s of sessions) states.set(`${s.server} ${s.state}`, (states.get(`${s.server} ${s.state}`) ?? 0) + 1);
    const retried = sessions.filter((s) => s.retries > 0 || s.redispatched);
    console.log(
      `phase 2: ${clients.summary()}; rounds ${PHASE1_ROUNDS}..${PHASE1_ROUNDS + clients.batches.length / 2 - 1}; load ran ${sendMs} ms, all in whisper after ${Date.now() - t0} ms\n` +
        `timeline: ${timeline.join(', ')}\n` +
        `HAProxy sessions by server and termination state: ${[...states].map(([k, n]) => `${k}: ${n}`).join(', ')}; with connect retries/redispatches: ${retried.length}`,
    );
    // every session reached a relay at the first try and ended normally (no connection cut on either side)
    expect(sessions.filter((s) => s.server === '<NOSRV>' || s.state !== '--').map((s) => s.line)).toEqual([]);
    for (const name of RELAYS) expect(sessions.some((s) => s.server === name)).toBe(true);
    // and HAProxy never had to retry or redispatch a connection: no relay was sent one after its receivers stopped.
    // (With shutdownGrace 0, retries and redispatches hide the restarts from the clients; this is what tells.)
    expect(retried.map((s) => s.line)).toEqual([]);
    expect(clients.failedAfterWrite).toEqual([]);
    expect(clients.resent).toEqual([]);
  }, 150_000);
});
