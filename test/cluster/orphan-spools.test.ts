import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { orphanSpools } from '../../src/cluster/orphan-spools';
import { workerDataDir } from '../../src/cluster/worker';
import { silentLogger } from '../../src/telemetry/logger';
import { appendBatches, Clock, drain, open } from '../output/spool/spool-helpers';

describe('orphanSpools', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-orphans-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const deps = { log: silentLogger(), now: () => Date.now() };
  const spoolOf = (worker: number, destination: string): string => path.join(workerDataDir(dataDir, worker), 'spool', destination);

  it('reports the spools of worker indexes at or above the running count that still hold datapoints, and only those', () => {
    const clock = new Clock();
    for (const w of [1, 2, 3]) {
      const s = open(spoolOf(w, 'cache-a'), clock);
      appendBatches(s, 0, 2, 50);
      s.close();
    }
    // a spool whose every record was delivered is not an orphan worth a warning
    const done = open(spoolOf(3, 'cache-b'), clock);
    appendBatches(done, 0, 1, 10);
    for (const r of drain(done)) done.ack(r.id);
    done.close();

    const found = orphanSpools(dataDir, 2, deps);
    expect(found.map((o) => [o.worker, path.basename(o.dir), o.pendingDatapoints])).toEqual([
      [2, 'cache-a', 100],
      [3, 'cache-a', 100],
    ]);
    expect(found.every((o) => o.bytes > 0)).toBe(true);
    expect(orphanSpools(dataDir, 4, deps)).toEqual([]);
    expect(orphanSpools(undefined, 1, deps)).toEqual([]);
  });

  it('reports a spool another process holds locked, with its count unknown', () => {
    const held = open(spoolOf(1, 'cache-a'), new Clock());
    appendBatches(held, 0, 1, 5);
    try {
      const [o, ...rest] = orphanSpools(dataDir, 1, deps);
      expect(rest).toEqual([]);
      expect(o).toMatchObject({ worker: 1, pendingDatapoints: undefined });
    } finally {
      held.close();
    }
  });
});
