import fs from 'node:fs';
import path from 'node:path';
import { Spool, type AppendResult, type SpoolOptions } from '../../../src/output/spool/spool';
import { silentLogger } from '../../../src/telemetry/logger';
import { tempDirsRemovedAfterAll } from '../../helpers/relay';
import { appendBatches, Clock, drain, expectBalanced, flat, items, open, segmentFiles, viewOf } from './spool-helpers';

const newDir = tempDirsRemovedAfterAll();
const MAX = 16 * 1024;

/** Appends 10-datapoint batches numbered from `first`; returns each result. */
function offer(spool: Spool, first: number, batches: number): AppendResult[] {
  const out: AppendResult[] = [];
  for (let b = 0; b < batches; b++) out.push(spool.append(viewOf(items(first + b * 10, first + b * 10 + 10)), 0, 10));
  return out;
}

const diskBytes = (dir: string): number => segmentFiles(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);

describe('Spool: maxBytes', () => {
  it('drop_oldest deletes whole oldest segments, counting their datapoints, and keeps the newest', () => {
    const dir = newDir();
    const spool = open(dir, new Clock(), { maxBytes: MAX, whenFull: 'drop_oldest' });
    for (let b = 0; b < 200; b++) {
      expect(offer(spool, b * 10, 1)).toEqual(['written']);
      expect(spool.bytes).toBeLessThanOrEqual(MAX);
    }
    expect(spool.bytes).toBe(diskBytes(dir));
    const dropped = spool.counters.droppedFull;
    expect(dropped).toBeGreaterThan(0);
    expect(dropped % 10).toBe(0);
    expect(spool.counters).toMatchObject({ written: 2000, acked: 0, droppedFull: 2000 - spool.pendingDatapoints });
    expect(flat(drain(spool))).toEqual(items(dropped, 2000));
    expectBalanced(spool);
    spool.close();
  });

  it('drop_oldest may delete records already handed out and not acked: they count as dropped, their ack changes nothing', () => {
    const spool = open(newDir(), new Clock(), { maxBytes: MAX, whenFull: 'drop_oldest' });
    offer(spool, 0, 20);
    const early = drain(spool);
    offer(spool, 200, 60);
    expect(spool.counters.droppedFull).toBeGreaterThan(200);
    spool.ack(early[early.length - 1].id);
    expect(spool.counters.acked).toBe(0);
    const rest = drain(spool);
    expect(flat(rest)).toEqual(items(spool.counters.droppedFull, 800));
    spool.ack(rest[rest.length - 1].id);
    spool.sync();
    const c = spool.counters;
    expect([c.written, c.acked + spool.pendingDatapoints + c.droppedFull, spool.bytes]).toEqual([800, 800, 0]);
    expectBalanced(spool);
    spool.close();
  });

  it('drop_newest refuses (and counts) what does not fit, keeps what was there, and accepts again once acks free space', () => {
    const dir = newDir();
    const spool = open(dir, new Clock(), { maxBytes: MAX, whenFull: 'drop_newest' });
    const results = offer(spool, 0, 100);
    const written = results.indexOf('full');
    expect(written).toBeGreaterThan(10);
    expect(results).toEqual([...Array<AppendResult>(written).fill('written'), ...Array<AppendResult>(100 - written).fill('full')]);
    expect(spool.counters).toMatchObject({ written: written * 10, droppedFull: 1000 - written * 10, blocked: 0 });
    expect(spool.bytes).toBeLessThanOrEqual(MAX);
    expect(spool.bytes).toBe(diskBytes(dir));
    const got = drain(spool);
    expect(flat(got)).toEqual(items(0, written * 10));
    spool.ack(got[got.length - 1].id);
    spool.sync();
    expect(offer(spool, 5000, 1)).toEqual(['written']);
    expect(spool.counters).toMatchObject({ written: written * 10 + 10, acked: written * 10, droppedFull: 1000 - written * 10 });
    expect(spool.pendingDatapoints).toBe(10);
    expectBalanced(spool, 0, 1000 - written * 10);
    spool.close();
  });

  it("block answers 'blocked' (counted) without writing, until acks make room", () => {
    const spool = open(newDir(), new Clock(), { maxBytes: MAX, whenFull: 'block' });
    const results = offer(spool, 0, 100);
    const written = results.indexOf('blocked');
    expect(results.slice(written).every((r) => r === 'blocked')).toBe(true);
    expect(spool.counters).toMatchObject({ written: written * 10, blocked: 1000 - written * 10, droppedFull: 0 });
    const got = drain(spool);
    // more than the first segment's records
    spool.ack(got[11].id);
    // the caller still holds what was blocked and offers it again
    expect(offer(spool, written * 10, 1)).toEqual(['written']);
    expect(flat(drain(spool))).toEqual(items(written * 10, written * 10 + 10));
    expect(spool.counters).toMatchObject({ written: written * 10 + 10, acked: 120, droppedFull: 0 });
    expect(spool.pendingDatapoints).toBe(written * 10 + 10 - 120);
    expectBalanced(spool);
    spool.close();
  });

  it.each(['drop_oldest', 'drop_newest', 'block'] as const)('%s: a batch larger than maxBytes is refused as full, deleting nothing', (whenFull) => {
    const spool = open(newDir(), new Clock(), { maxBytes: 4096, whenFull });
    offer(spool, 0, 2);
    expect(spool.append(viewOf(items(100, 300)), 0, 200)).toBe('full');
    expect(spool.counters).toMatchObject({ written: 20, droppedFull: 200, blocked: 0 });
    expect(flat(drain(spool))).toEqual(items(0, 20));
    expectBalanced(spool, 0, 200);
    spool.close();
  });
});

describe('Spool: maxAgeMs', () => {
  it('deletes whole segments whose newest record is older than maxAgeMs, counting their unacked datapoints', () => {
    const dir = newDir();
    const clock = new Clock();
    const start = clock.t;
    let spool = open(dir, clock, { maxAgeMs: 60_000 });
    appendBatches(spool, 0, 30, 10);
    const early = drain(spool);
    spool.ack(early[2].id);
    // a restart starts a new segment, so the two ages never share one
    spool.close();
    spool = open(dir, clock, { maxAgeMs: 60_000 });
    clock.t = start + 30_000;
    appendBatches(spool, 300, 5, 10);
    clock.t = start + 60_000;
    expect(spool.readNext()?.names[0]).toBe(items(30, 31)[0][0]);
    spool.rewind();
    clock.t = start + 60_001;
    expect(flat(drain(spool))).toEqual(items(300, 350));
    expect(spool.counters).toMatchObject({ droppedAge: 270, acked: 0 });
    expect(spool.pendingDatapoints).toBe(50);
    expect(spool.oldestAgeMs()).toBe(30_001);
    // the segment being written ages out too
    clock.t = start + 90_001;
    expect(spool.append(viewOf(items(900, 901)), 0, 1)).toBe('written');
    expect(spool.counters).toMatchObject({ droppedAge: 320, written: 51 });
    expect(spool.pendingDatapoints).toBe(1);
    expect(flat(drain(spool))).toEqual(items(900, 901));
    expectBalanced(spool, 300 - 30);
    spool.close();
  });

  it('applies at open to what aged while the relay was down', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock, { maxAgeMs: 1000 });
    appendBatches(spool, 0, 20, 10);
    spool.close();
    clock.t += 1001;
    spool = open(dir, clock, { maxAgeMs: 1000 });
    expect([spool.pendingDatapoints, spool.bytes, spool.counters.droppedAge, segmentFiles(dir)]).toEqual([0, 0, 200, []]);
    expectBalanced(spool, 200);
    spool.close();
  });
});

describe('Spool: minFreeBytes', () => {
  function openWithFree(dir: string, clock: Clock, free: { bytes: number }, opts: Partial<SpoolOptions> = {}): Spool {
    const o: SpoolOptions = { dir, segmentBytes: 4096, maxBytes: 1024 ** 3, maxAgeMs: 0, minFreeBytes: 100 * 1024 ** 2, whenFull: 'drop_oldest', ...opts };
    return Spool.open(o, { log: silentLogger(), now: clock.now, freeBytes: () => free.bytes });
  }

  it("refuses with 'reserve' (counted) while the filesystem is low, and writes again once it is not", () => {
    const clock = new Clock();
    const free = { bytes: 10 * 1024 ** 2 };
    const spool = openWithFree(newDir(), clock, free);
    expect(offer(spool, 0, 3)).toEqual(['reserve', 'reserve', 'reserve']);
    expect(spool.counters).toMatchObject({ written: 0, droppedReserve: 30 });
    expect(spool.bytes).toBe(0);
    free.bytes = 1024 ** 3;
    // free space is looked at again after a second, not on every append
    expect(offer(spool, 30, 1)).toEqual(['reserve']);
    clock.t += 1000;
    expect(offer(spool, 40, 1)).toEqual(['written']);
    expect(spool.counters).toMatchObject({ written: 10, droppedReserve: 40 });
    expect(flat(drain(spool))).toEqual(items(40, 50));
    expectBalanced(spool);
    spool.close();
  });

  it('reads real free space with statfs', () => {
    const clock = new Clock();
    let spool = open(newDir(), clock, { minFreeBytes: 1 });
    expect(offer(spool, 0, 1)).toEqual(['written']);
    spool.close();
    spool = open(newDir(), clock, { minFreeBytes: Number.MAX_SAFE_INTEGER });
    expect(offer(spool, 0, 1)).toEqual(['reserve']);
    spool.close();
  });
});

describe('Spool: records past 64 MiB', () => {
  it('a batch whose record would pass the 64 MiB bound is written as several records, in order', () => {
    const dir = newDir();
    const spool = open(dir, new Clock(), { segmentBytes: 1024 ** 3, maxBytes: 1024 ** 3 });
    const name = 'n'.repeat(60_000);
    const n = 1200;
    const view = { length: n, nameAt: (): string => name, timestampAt: (k: number): number => k + 0.5, valueAt: (k: number): number => -k };
    expect(spool.append(view, 0, n)).toBe('written');
    const got = drain(spool);
    expect(got.length).toBe(2);
    expect(got.map((r) => r.length).reduce((a, b) => a + b)).toBe(n);
    const ts = got.flatMap((r) => Array.from(r.timestamps));
    expect(ts).toEqual(Array.from({ length: n }, (_, k) => k + 0.5));
    expect(got.every((r) => r.names.every((s) => s === name))).toBe(true);
    expect(spool.counters.written).toBe(n);
    expectBalanced(spool);
    spool.close();
  });
});
