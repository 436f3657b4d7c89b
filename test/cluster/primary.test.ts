import { fork } from 'node:child_process';
import path from 'node:path';
import { Primary } from '../../src/cluster/primary';
import { workerHandle } from '../../src/cluster/worker-handle';
import { silentLogger } from '../../src/telemetry/logger';
import { configFrom } from '../helpers/relay';

const SCRIPT = path.join(__dirname, '../fixtures/cluster/scripted-worker.js');

interface Status {
  received: { total: number };
  workers: { index: number; state: string; pid: number | null }[];
}

/**
 * Primary with real forked processes speaking the worker protocol (the
 * relay itself is left out: test/interop/workers.test.ts runs the whole CLI).
 */
describe('Primary', () => {
  const config = configFrom({
    workers: 2,
    shutdownTimeout: '10s',
    selfMetrics: { interval: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    destinations: [{ name: 'out', type: 'file', file: 'out.txt' }],
    rules: [{ default: true, destinations: ['out'] }],
  });

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
