import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { orphanSpools } from '../../src/cluster/orphan-spools';
import { workerDataDir } from '../../src/cluster/worker';
import { appendBatches, Clock, drain, open } from '../output/spool/spool-helpers';

/** Every file under `dir` with its bytes: what a read-only look must leave exactly as it was. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}

describe('orphanSpools', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-orphans-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const spoolOf = (worker: number, destination: string): string => path.join(workerDataDir(dataDir, worker), 'spool', destination);

  it('reports the spools of worker indexes at or above the running count that hold undelivered records, and only those', () => {
    const clock = new Clock();
    for (const w of [1, 2, 3]) {
      const s = open(spoolOf(w, 'cache-a'), clock);
      appendBatches(s, 0, 2, 50);
      s.close();
    }
    // a spool whose every record was delivered is not worth a warning
    const done = open(spoolOf(3, 'cache-b'), clock);
    appendBatches(done, 0, 1, 10);
    for (const r of drain(done)) done.ack(r.id);
    done.close();
    // half delivered: what is left counts, less than the whole
    const half = open(spoolOf(2, 'cache-c'), clock);
    appendBatches(half, 0, 2, 50);
    half.ack(drain(half)[0]!.id);
    half.close();

    const found = orphanSpools(dataDir, 2);
    expect(found.map((o) => [o.worker, path.basename(o.dir)])).toEqual([
      [2, 'cache-a'],
      [2, 'cache-c'],
      [3, 'cache-a'],
    ]);
    const [whole, rest] = [found[0]!.pendingBytes, found[1]!.pendingBytes];
    expect(whole).toBeGreaterThan(0);
    expect(rest).toBeGreaterThan(0);
    expect(rest).toBeLessThan(whole);
    expect(orphanSpools(dataDir, 4)).toEqual([]);
    expect(orphanSpools(undefined, 1)).toEqual([]);
  });

  it('only reads: a spool another process holds (lock, unsealed segment) is reported and left byte for byte as it was', () => {
    const held = open(spoolOf(1, 'cache-a'), new Clock());
    appendBatches(held, 0, 1, 5);
    held.sync();
    try {
      const before = snapshot(dataDir);
      const [o, ...rest] = orphanSpools(dataDir, 1);
      expect(rest).toEqual([]);
      expect(o).toMatchObject({ worker: 1 });
      expect(o!.pendingBytes).toBeGreaterThan(0);
      expect(snapshot(dataDir)).toEqual(before);
    } finally {
      held.close();
    }
  });
});
