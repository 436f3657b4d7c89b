import { fork } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { Primary } from '../../src/cluster/primary';
import { workerHandle } from '../../src/cluster/worker-handle';
import { silentLogger } from '../../src/telemetry/logger';
import { freePorts } from '../helpers/carbon';
import { configFrom } from '../helpers/relay';

const SCRIPT = path.join(__dirname, '../fixtures/cluster/scripted-worker.js');

interface Status {
  received: { total: number };
  workers: { index: number; state: string; pid: number | null; connections: number }[];
  listeners: { name: string; port: number }[];
}

/**
 * Primary with real forked processes speaking the worker protocol (the
 * relay itself is left out: test/interop/workers.test.ts runs the whole CLI).
 */
describe('Primary', () => {
  const baseConfig = {
    workers: 2,
    shutdownTimeout: '10s',
    selfMetrics: { interval: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    listen: { line: { tcp: { host: '127.0.0.1', port: 0 } }, pickle: { tcp: { host: '127.0.0.1', port: 0 } } },
    destinations: [{ name: 'out', type: 'file', file: 'out.txt' }],
    rules: [{ default: true, destinations: ['out'] }],
  };
  const config = configFrom(baseConfig);

  const scripted = (dieOn: (index: number) => string) => (index: number) =>
    workerHandle(fork(SCRIPT, [], { env: { ...process.env, SCRIPTED_WORKER_INDEX: String(index), SCRIPTED_WORKER_DIE_ON: dieOn(index) }, stdio: 'ignore' }), silentLogger(), index);

  /** Opens `n` connections at once; resolves with what each was answered first (which worker took it) and the sockets. */
  async function openTogether(port: number, n: number): Promise<{ who: string[]; sockets: net.Socket[] }> {
    const sockets = Array.from({ length: n }, () => net.connect(port, '127.0.0.1'));
    const who = await Promise.all(sockets.map((s) => new Promise<string>((resolve, reject) => {
      s.once('error', reject);
      s.once('data', (d: Buffer) => resolve(d.toString().trim()));
    })));
    return { who, sockets };
  }

  it('hands connections that arrive together to the worker holding the fewest, per listener, and counts them in /status', async () => {
    const primary = new Primary(config, { log: silentLogger(), fork: scripted(() => '') });
    await primary.start();
    const linePort = primary.listenerPort('line');
    expect(linePort).toBeGreaterThan(0);
    try {
      const line = await openTogether(linePort, 8);
      expect(line.who.filter((w) => w === 'line w0')).toHaveLength(4);
      expect(line.who.filter((w) => w === 'line w1')).toHaveLength(4);
      const status = (await (await fetch(`http://127.0.0.1:${primary.adminPort}/status`)).json()) as Status;
      expect(status.workers.map((w) => w.connections)).toEqual([4, 4]);
      // the workers know only the configured port 0; the primary bound the real ones (a listener it does not bind keeps the workers' port)
      expect(status.listeners).toEqual([
        { name: 'line', port: linePort },
        { name: 'pickle', port: primary.listenerPort('pickle') },
        { name: 'udp', port: 2003 },
      ]);

      // three of worker 0's close: the next three go to worker 0, which now holds the fewest
      const w0 = line.sockets.filter((_, i) => line.who[i] === 'line w0').slice(0, 3);
      await Promise.all(w0.map((s) => new Promise((r) => s.once('close', r).end())));
      for (let i = 0; i < 200 && ((await (await fetch(`http://127.0.0.1:${primary.adminPort}/status`)).json()) as Status).workers[0].connections !== 1; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const pickle = await openTogether(primary.listenerPort('pickle'), 3);
      expect(pickle.who).toEqual(['pickle w0', 'pickle w0', 'pickle w0']);
      for (const s of [...line.sockets, ...pickle.sockets]) s.destroy();
    } finally {
      await primary.stop(Date.now() + 10_000);
    }
    // stop closed the listening sockets
    await expect(new Promise((resolve, reject) => net.connect(linePort, '127.0.0.1').once('connect', resolve).once('error', reject))).rejects.toThrow();
  }, 30_000);

  it('holds listen.maxConnections per listener across all workers: beyond it connections are closed unread, and a worker counts each', async () => {
    const capped = configFrom({ ...baseConfig, listen: { ...baseConfig.listen, maxConnections: 3 } });
    const primary = new Primary(capped, { log: silentLogger(), fork: scripted(() => '') });
    await primary.start();
    const status = async (): Promise<Status & { refused: number }> => (await (await fetch(`http://127.0.0.1:${primary.adminPort}/status`)).json()) as Status & { refused: number };
    /** Connects and resolves with what the connection was answered before it closed ('' when closed unanswered). */
    const refusedOrServed = (port: number): Promise<{ socket: net.Socket; answer: Promise<string> }> =>
      new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        const answer = new Promise<string>((done) => {
          socket.once('data', (d: Buffer) => done(d.toString().trim()));
          socket.once('close', () => done(''));
        });
        socket.once('connect', () => resolve({ socket, answer }));
      });
    try {
      const line = await openTogether(primary.listenerPort('line'), 3);
      // least connections: two to one worker, one to the other
      expect([...line.who].sort()).toEqual(line.who.filter((w) => w === 'line w0').length === 2 ? ['line w0', 'line w0', 'line w1'] : ['line w0', 'line w1', 'line w1']);
      const over = await Promise.all([refusedOrServed(primary.listenerPort('line')), refusedOrServed(primary.listenerPort('line'))]);
      expect(await Promise.all(over.map((o) => o.answer))).toEqual(['', '']);
      expect((await status()).refused).toBe(2);
      // another listener has its own count
      const pickle = await openTogether(primary.listenerPort('pickle'), 1);
      expect(pickle.who[0]).toMatch(/^pickle w[01]$/);
      // one line connection closes: once its worker reports it, the listener takes one more
      await new Promise((r) => line.sockets[0].once('close', r).end());
      for (let i = 0; i < 200 && (await status()).workers.reduce((n, w) => n + w.connections, 0) !== 3; i++) await new Promise((r) => setTimeout(r, 10));
      const again = await refusedOrServed(primary.listenerPort('line'));
      expect(await again.answer).toMatch(/^line w[01]$/);
      expect((await status()).refused).toBe(2);
      for (const s of [...line.sockets, ...pickle.sockets, again.socket, ...over.map((o) => o.socket)]) s.destroy();
    } finally {
      await primary.stop(Date.now() + 10_000);
    }
  }, 30_000);

  it('stops while clients still hold connections it handed over (the workers end them as they drain)', async () => {
    const primary = new Primary(config, { log: silentLogger(), fork: scripted(() => '') });
    await primary.start();
    const { sockets } = await openTogether(primary.listenerPort('line'), 2);
    const closed = Promise.all(sockets.map((s) => new Promise((r) => s.once('close', r))));
    const outcome = await primary.stop(Date.now() + 600_000);
    expect(outcome.delivered).toBe(10 + 11);
    await closed;
  }, 30_000);

  it('a reload that moves a TCP receiver rebinds it in the primary; one the config drops stops listening', async () => {
    const primary = new Primary(config, { log: silentLogger(), fork: scripted(() => '') });
    await primary.start();
    try {
      // an address that cannot be bound: the receiver keeps the one it has
      const taken = net.createServer();
      const [takenPort] = await freePorts(1);
      await new Promise<void>((r) => taken.listen(takenPort, '127.0.0.1', () => r()));
      const before = primary.listenerPort('line');
      const refused = await primary.reload(() => ({ config: configFrom({ ...baseConfig, listen: { ...baseConfig.listen, line: { tcp: { host: '127.0.0.1', port: takenPort } } } }), warnings: [] }));
      await new Promise((r) => taken.close(r));
      expect(refused).toMatchObject({ notApplied: [expect.stringMatching(/listener line on 127\.0\.0\.1:\d+: listen EADDRINUSE/)] });
      expect(primary.listenerPort('line')).toBe(before);
      const kept = await openTogether(before, 1);
      expect(kept.who[0]).toMatch(/^line w[01]$/);
      kept.sockets[0].destroy();

      const [port] = await freePorts(1);
      const next = configFrom({ ...baseConfig, listen: { line: { tcp: { host: '127.0.0.1', port } } } });
      const outcome = await primary.reload(() => ({ config: next, warnings: [] }));
      expect(outcome).not.toHaveProperty('notApplied');
      expect(primary.listenerPort('line')).toBe(port);
      expect(primary.listenerPort('pickle')).toBe(0);
      const { who, sockets } = await openTogether(port, 2);
      expect(who.sort()).toEqual(['line w0', 'line w1']);
      for (const s of sockets) s.destroy();
    } finally {
      await primary.stop(Date.now() + 10_000);
    }
  }, 30_000);

  it('a worker that dies while a /status request waits on it: answered at once without it, and the primary lives on', async () => {
    const forks: number[] = [];
    const primary = new Primary(config, {
      log: silentLogger(),
      // far beyond the test's own timeout: only the worker's exit can answer for it
      requestTimeoutMs: 600_000,
      fork: (index) => {
        forks.push(index);
        const dieOn = index === 1 && forks.filter((i) => i === 1).length === 1 ? 'status' : '';
        const env = { ...process.env, SCRIPTED_WORKER_INDEX: String(index), SCRIPTED_WORKER_DIE_ON: dieOn };
        return workerHandle(fork(SCRIPT, [], { env, stdio: 'ignore' }), silentLogger(), index);
      },
    });
    await primary.start();
    try {
      const res = await fetch(`http://127.0.0.1:${primary.adminPort}/status`);
      expect(res.status).toBe(200);
      const status = (await res.json()) as Status;
      // worker 0's count alone; worker 1 is listed, not running
      expect(status.received.total).toBe(100);
      expect(status.workers[0].state).toBe('running');
      expect(status.workers[1]).toMatchObject({ index: 1, pid: null });
      expect(['stopped', 'restarting']).toContain(status.workers[1].state);
      // a second request goes only to worker 0 (worker 1 is not running) and is answered too
      expect(((await (await fetch(`http://127.0.0.1:${primary.adminPort}/status`)).json()) as Status).received.total).toBe(100);
    } finally {
      const outcome = await primary.stop(Date.now() + 10_000);
      // worker 0 reported its drain; worker 1 was dead or restarting (restart timers are cancelled by stop)
      expect(outcome.delivered).toBeGreaterThanOrEqual(10);
    }
  }, 30_000);
});
