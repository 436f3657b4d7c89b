import path from 'node:path';
import { OrphanDrain } from '../../src/cluster/orphan-drain';
import { orphanSpools } from '../../src/cluster/orphan-spools';
import { workerDataDir } from '../../src/cluster/worker';
import { spoolDirectory } from '../../src/output/kinds/spool-queue';
import { silentLogger } from '../../src/telemetry/logger';
import { captureLog } from '../helpers/capture-log';
import { configFrom, tempDir } from '../helpers/relay';
import { CaptureServer, waitFor } from '../helpers/sink';
import { freePorts } from '../helpers/carbon';
import { appendBatches, Clock, open } from '../output/spool/spool-helpers';

/** A spool left by worker `index` for destination `name`: `count` datapoints in records of 50 (spool-helpers' items). */
function leaveSpool(dataDir: string, index: number, name: string, count: number): void {
  const spool = open(spoolDirectory(workerDataDir(dataDir, index), name), new Clock(Date.now()));
  appendBatches(spool, 0, count / 50, 50);
  spool.close();
}

describe('OrphanDrain', () => {
  const config = (dataDir: string, port: number) =>
    configFrom({
      dataDir,
      workers: 1,
      admin: false,
      selfMetrics: { interval: 0 },
      listen: { line: { tcp: { host: '127.0.0.1', port: 0 } } },
      destinations: [{ name: 'cache', host: '127.0.0.1', port, protocol: 'line', reconnect: { initialDelay: '20ms', maxDelay: '50ms' }, spool: { mode: 'overflow' } }],
      rules: [{ default: true, destinations: ['cache'] }],
    });

  it("delivers the spools of worker indexes no longer run, each datapoint once, then stops and leaves them empty", async () => {
    const dataDir = path.join(tempDir(), 'data');
    leaveSpool(dataDir, 1, 'cache', 150);
    leaveSpool(dataDir, 3, 'cache', 100);
    const sink = new CaptureServer('line');
    const port = await sink.listen();
    const drain = new OrphanDrain(config(dataDir, port), 1, silentLogger(), 20);
    try {
      await drain.start();
      await drain.done;
      await waitFor(() => sink.datapoints.length >= 250, 'both spools delivered');
      // spool-helpers number items from 0 in each spool: 0..149 from worker 1, 0..99 from worker 3
      const names = sink.datapoints.map((d) => d.name).sort();
      const expected = [...Array.from({ length: 150 }, (_, i) => i), ...Array.from({ length: 100 }, (_, i) => i)].map((i) => `servers.host${i % 7}.metric.${i}`).sort();
      expect(names).toEqual(expected);
      expect(orphanSpools(dataDir, 1)).toEqual([]);
    } finally {
      await drain.stop(Date.now() + 1000);
      await sink.close();
    }
  });

  it('waits while the destination is down and delivers once it comes up', async () => {
    const dataDir = path.join(tempDir(), 'data');
    leaveSpool(dataDir, 2, 'cache', 100);
    const [port] = await freePorts(1);
    const drain = new OrphanDrain(config(dataDir, port!), 1, silentLogger(), 20);
    const sink = new CaptureServer('line');
    try {
      await drain.start();
      await new Promise((r) => setTimeout(r, 200));
      expect(orphanSpools(dataDir, 1).map((o) => o.worker)).toEqual([2]);
      await sink.listen(port);
      await drain.done;
      expect(sink.datapoints).toHaveLength(100);
      expect(orphanSpools(dataDir, 1)).toEqual([]);
    } finally {
      await drain.stop(Date.now() + 1000);
      await sink.close();
    }
  });

  it('stopped with the destination down: nothing lost, the spool stays on disk for the next start', async () => {
    const dataDir = path.join(tempDir(), 'data');
    leaveSpool(dataDir, 2, 'cache', 100);
    const [port] = await freePorts(1);
    const drain = new OrphanDrain(config(dataDir, port!), 1, silentLogger(), 20);
    await drain.start();
    await new Promise((r) => setTimeout(r, 100));
    const report = await drain.stop(Date.now() + 200);
    expect(report.undelivered).toBe(0);
    await drain.done;
    const [left] = orphanSpools(dataDir, 1);
    expect(left).toMatchObject({ worker: 2 });
    // the same bytes as before: nothing acknowledged that was not sent
    const again = path.join(tempDir(), 'data');
    leaveSpool(again, 2, 'cache', 100);
    expect(left!.pendingBytes).toBe(orphanSpools(again, 1)[0]!.pendingBytes);
  });

  it('never fails the start: a spool it cannot open (held here) is warned about and skipped', async () => {
    const dataDir = path.join(tempDir(), 'data');
    leaveSpool(dataDir, 1, 'cache', 50);
    const held = open(spoolDirectory(workerDataDir(dataDir, 1), 'cache'), new Clock(Date.now()));
    const { log, entries } = captureLog();
    const drain = new OrphanDrain(config(dataDir, 1), 1, log, 20);
    try {
      await expect(drain.start()).resolves.toBeUndefined();
      await drain.done;
      expect(entries.find((e) => e.message.startsWith('could not start delivering'))).toMatchObject({ level: 'warn', worker: 1 });
    } finally {
      held.close();
      await drain.stop(Date.now());
    }
  });

  it('a spool of a destination no longer in the config is left, and said so', async () => {
    const dataDir = path.join(tempDir(), 'data');
    leaveSpool(dataDir, 1, 'gone', 50);
    const sink = new CaptureServer('line');
    const { log, entries } = captureLog();
    const drain = new OrphanDrain(config(dataDir, await sink.listen()), 1, log, 20);
    try {
      await drain.start();
      await drain.done;
      expect(entries.find((e) => e.message.includes('their destinations are not in the config'))).toMatchObject({ level: 'warn', worker: 1, dirs: [spoolDirectory(workerDataDir(dataDir, 1), 'gone')] });
      expect(orphanSpools(dataDir, 1).map((o) => o.worker)).toEqual([1]);
      expect(sink.datapoints).toEqual([]);
    } finally {
      await drain.stop(Date.now());
      await sink.close();
    }
  });

  it('has nothing to do without orphaned spools (or without dataDir)', async () => {
    const drain = new OrphanDrain(config(path.join(tempDir(), 'data'), 1), 1, silentLogger(), 20);
    await drain.start();
    await drain.done;
    await drain.stop(Date.now());
  });
});
