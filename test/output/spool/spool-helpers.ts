import fs from 'node:fs';
import path from 'node:path';
import type { DatapointView } from '../../../src/model/datapoint-view';
import { Spool, type SpoolOptions, type SpoolRecord } from '../../../src/output/spool/spool';
import { silentLogger, type Logger } from '../../../src/telemetry/logger';

export type Item = [name: string, timestamp: number, value: number];

export function viewOf(items: readonly Item[]): DatapointView {
  return {
    length: items.length,
    nameAt: (k) => items[k][0],
    timestampAt: (k) => items[k][1],
    valueAt: (k) => items[k][2],
  };
}

/** Datapoint i of a test: fractional timestamps, values that are not integers. */
export const item = (i: number): Item => [`servers.host${i % 7}.metric.${i}`, 1_700_000_000 + i + 0.25, i / 8 - 3];
export const items = (from: number, to: number): Item[] => Array.from({ length: to - from }, (_, k) => item(from + k));

export function recordItems(r: SpoolRecord): Item[] {
  return r.names.map((n, k): Item => [n, r.timestamps[k], r.values[k]]);
}

/** A clock that moves only when the test says so. */
export class Clock {
  constructor(public t = 1_700_000_000_000) {}
  readonly now = (): number => this.t;
}

export function open(dir: string, clock: Clock, opts: Partial<SpoolOptions> = {}, log: Logger = silentLogger()): Spool {
  return Spool.open({ dir, segmentBytes: 4096, maxBytes: 1024 ** 3, maxAgeMs: 0, minFreeBytes: 0, whenFull: 'drop_oldest', ...opts }, { log, now: clock.now });
}

/** Appends `batches` records of `size` datapoints, numbered from `first`. */
export function appendBatches(spool: Spool, first: number, batches: number, size: number): void {
  for (let b = 0; b < batches; b++) {
    const start = first + b * size;
    expect(spool.append(viewOf(items(start, start + size)), 0, size)).toBe('written');
  }
}

/** Reads every record now available. */
export function drain(spool: Spool): SpoolRecord[] {
  const out: SpoolRecord[] = [];
  for (let r = spool.readNext(); r !== undefined; r = spool.readNext()) out.push(r);
  return out;
}

export const flat = (records: SpoolRecord[]): Item[] => records.flatMap(recordItems);

export function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.seg'))
    .sort();
}

/** Byte offsets of each record frame in a segment file (walking the length fields). */
export function frameOffsets(file: string): number[] {
  const b = fs.readFileSync(file);
  const out: number[] = [];
  for (let p = 56; p + 8 <= b.length; p += 8 + b.readUInt32LE(p)) out.push(p);
  return out;
}

export function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, offset);
  b[0] ^= 0xff;
  fs.writeSync(fd, b, 0, 1, offset);
  fs.closeSync(fd);
}

export const segPath = (dir: string, name: string): string => path.join(dir, name);

/**
 * Every datapoint written (plus what was pending at open) is acked, still
 * pending, or dropped for one reason. `refusedFull`: the part of droppedFull
 * that drop_newest refused (never written).
 */
export function expectBalanced(spool: Spool, atOpen = 0, refusedFull = 0): void {
  const c = spool.counters;
  expect({ in: c.written + atOpen, out: c.acked + spool.pendingDatapoints + (c.droppedFull - refusedFull) + c.droppedAge + c.corruptDatapoints }).toEqual({
    in: c.written + atOpen,
    out: c.written + atOpen,
  });
}
