import fs from 'node:fs';
import path from 'node:path';
import type { Spool, SpoolRecord } from '../../../src/output/spool/spool';
import { captureLog } from '../../helpers/capture-log';
import { tempDirsRemovedAfterAll } from '../../helpers/relay';
import { appendBatches, Clock, drain, expectBalanced, flat, flipByte, frameOffsets, items, open, segmentFiles } from './spool-helpers';

const newDir = tempDirsRemovedAfterAll();
const ONE_SEGMENT = { segmentBytes: 1024 ** 2 };

/** Reads (after `got`, what the test already read) and acks everything, then syncs; returns the datapoints read here. */
function deliverAll(spool: Spool, got: SpoolRecord[] = []): number {
  const before = got.length;
  got = [...got, ...drain(spool)];
  const last = got[got.length - 1];
  if (last !== undefined) spool.ack(last.id);
  spool.sync();
  return got.slice(before).reduce((n, r) => n + r.length, 0);
}

/** Datapoints (10 per record) in each segment file, in order. */
function perSegment(dir: string): number[] {
  return segmentFiles(dir).map((f) => 10 * frameOffsets(path.join(dir, f)).length);
}

describe('Spool recovery: torn tails', () => {
  it.each([
    ['mid-payload', 30],
    ['mid-frame-header', 3],
  ])('a torn last record (%s) of the segment being written is cut off; earlier records are intact', (_label, keep) => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock, ONE_SEGMENT);
    appendBatches(spool, 0, 10, 10);
    spool.abandon();
    const [name] = segmentFiles(dir);
    const file = path.join(dir, name);
    const tenth = frameOffsets(file)[9];
    fs.truncateSync(file, tenth + keep);

    const { log, entries } = captureLog();
    spool = open(dir, clock, ONE_SEGMENT, log);
    expect(fs.statSync(file).size).toBe(tenth);
    expect(entries.map((e) => e.message)).toEqual(['taking over a stale spool lock', 'spool segment ends in an incomplete record: truncated']);
    expect(entries[1]).toMatchObject({ level: 'warn', cutBytes: keep, keptBytes: tenth, reason: 'torn' });
    expect(spool.pendingDatapoints).toBe(90);
    expect(flat(drain(spool))).toEqual(items(0, 90));
    appendBatches(spool, 90, 2, 10);
    expect(flat(drain(spool))).toEqual(items(90, 110));
    expect(spool.counters).toMatchObject({ corruptRecords: 0, badSegments: 0, written: 20, replayed: 110 });
    expectBalanced(spool, 90);
    spool.close();
  });

  it('a closed segment cut short (damage after its seal) is rescanned and cut at its last whole record', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock);
    appendBatches(spool, 0, 30, 10);
    spool.close();
    const counts = perSegment(dir);
    const first = path.join(dir, segmentFiles(dir)[0]);
    const offsets = frameOffsets(first);
    fs.truncateSync(first, offsets[offsets.length - 1] + 100);

    spool = open(dir, clock);
    expect(spool.pendingDatapoints).toBe(300 - 10);
    expect(flat(drain(spool))).toEqual([...items(0, counts[0] - 10), ...items(counts[0], 300)]);
    expectBalanced(spool, 290);
    spool.close();
  });

  it('an empty segment file (created, never written) is deleted silently; a leftover cursor.tmp too', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock);
    appendBatches(spool, 0, 2, 10);
    spool.close();
    fs.writeFileSync(path.join(dir, '0000000000000009.seg'), '');
    fs.writeFileSync(path.join(dir, 'cursor.tmp'), 'half');
    fs.writeFileSync(path.join(dir, 'README'), 'an operator note');
    spool = open(dir, clock);
    expect(fs.readdirSync(dir).sort()).toEqual(['0000000000000001.seg', 'README', 'lock']);
    expect(flat(drain(spool))).toEqual(items(0, 20));
    expect(spool.counters.badSegments).toBe(0);
    // sequence numbers are never reused, not even an empty file's
    appendBatches(spool, 20, 1, 10);
    expect(segmentFiles(dir)).toEqual(['0000000000000001.seg', '0000000000000010.seg']);
    spool.close();
  });
});

describe('Spool recovery: corrupt records', () => {
  it('a flipped payload byte in a closed segment: that record is skipped and counted, the rest delivered, the loss accounted', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock, ONE_SEGMENT);
    appendBatches(spool, 0, 10, 10);
    spool.close();
    const file = path.join(dir, segmentFiles(dir)[0]);
    flipByte(file, frameOffsets(file)[3] + 8 + 20);

    spool = open(dir, clock, ONE_SEGMENT);
    // the seal counted the record when it was written
    expect(spool.pendingDatapoints).toBe(100);
    const got = drain(spool);
    expect(flat(got)).toEqual([...items(0, 30), ...items(40, 100)]);
    expect(spool.counters.corruptRecords).toBe(1);
    expect(spool.pendingDatapoints).toBe(100);
    expect(deliverAll(spool, got)).toBe(0);
    // pending at open (100) = acked + corruptDatapoints, known once the segment is passed
    expect(spool.counters).toMatchObject({ acked: 90, corruptDatapoints: 10, written: 0 });
    expectBalanced(spool, 100);
    expect([spool.pendingDatapoints, spool.bytes]).toEqual([0, 0]);
    spool.close();
  });

  it('a flipped payload byte in the segment a crash left open is left out of the counts by the scan', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock, ONE_SEGMENT);
    appendBatches(spool, 0, 10, 10);
    spool.abandon();
    const file = path.join(dir, segmentFiles(dir)[0]);
    flipByte(file, frameOffsets(file)[6] + 8 + 40);

    spool = open(dir, clock, ONE_SEGMENT);
    expect(spool.pendingDatapoints).toBe(90);
    expect(deliverAll(spool)).toBe(90);
    expect(spool.counters).toMatchObject({ acked: 90, corruptRecords: 1, corruptDatapoints: 0 });
    expectBalanced(spool, 90);
    expect([spool.pendingDatapoints, spool.bytes]).toEqual([0, 0]);
    spool.close();
  });

  it('a record damaged on disk after it was written, in the segment being written', () => {
    const dir = newDir();
    const spool = open(dir, new Clock(), ONE_SEGMENT);
    appendBatches(spool, 0, 5, 10);
    const file = path.join(dir, segmentFiles(dir)[0]);
    flipByte(file, frameOffsets(file)[2] + 4);
    const got = drain(spool);
    expect(flat(got)).toEqual([...items(0, 20), ...items(30, 50)]);
    expect(deliverAll(spool, got)).toBe(0);
    expect(spool.counters).toMatchObject({ written: 50, acked: 40, corruptRecords: 1, corruptDatapoints: 10 });
    expectBalanced(spool);
    expect(spool.pendingDatapoints).toBe(0);
    spool.close();
  });

  it('a corrupt trailing record skipped by readNext does not keep the spool from emptying', () => {
    const dir = newDir();
    const spool = open(dir, new Clock(), ONE_SEGMENT);
    appendBatches(spool, 0, 3, 10);
    const got = drain(spool);
    spool.ack(got[2].id);
    appendBatches(spool, 30, 1, 10);
    const file = path.join(dir, segmentFiles(dir)[0]);
    flipByte(file, frameOffsets(file)[3] + 30);
    expect(drain(spool)).toEqual([]);
    spool.sync();
    expect([spool.bytes, spool.pendingDatapoints]).toEqual([0, 0]);
    expect(spool.counters).toMatchObject({ written: 40, acked: 30, corruptRecords: 1, corruptDatapoints: 10 });
    expectBalanced(spool);
    spool.close();
  });

  it('an impossible length skips the rest of its segment (nothing after it can be framed); later segments are read', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock);
    appendBatches(spool, 0, 40, 10);
    spool.close();
    const counts = perSegment(dir);
    const first = path.join(dir, segmentFiles(dir)[0]);
    const fd = fs.openSync(first, 'r+');
    fs.writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0x7f]), 0, 4, frameOffsets(first)[2]);
    fs.closeSync(fd);

    spool = open(dir, clock);
    const got = drain(spool);
    expect(flat(got)).toEqual([...items(0, 20), ...items(counts[0], 400)]);
    expect(deliverAll(spool, got)).toBe(0);
    expect(spool.counters).toMatchObject({ acked: 400 - counts[0] + 20, corruptRecords: 1, corruptDatapoints: counts[0] - 20 });
    expectBalanced(spool, 400);
    expect(spool.pendingDatapoints).toBe(0);
    spool.close();
  });

  it('an impossible length in the segment a crash left open is cut off there and counted', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock, ONE_SEGMENT);
    appendBatches(spool, 0, 10, 10);
    spool.abandon();
    const file = path.join(dir, segmentFiles(dir)[0]);
    const at = frameOffsets(file)[7];
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([1, 0, 0, 0]), 0, 4, at);
    fs.closeSync(fd);

    spool = open(dir, clock, ONE_SEGMENT);
    expect(fs.statSync(file).size).toBe(at);
    expect(spool.pendingDatapoints).toBe(70);
    expect(flat(drain(spool))).toEqual(items(0, 70));
    expect(spool.counters.corruptRecords).toBe(1);
    expectBalanced(spool, 70);
    spool.close();
  });
});

describe('Spool recovery: bad segments', () => {
  it.each([
    ['garbage header', (file: string) => fs.writeFileSync(file, Buffer.alloc(4000, 0x41))],
    ['unknown version', (file: string) => flipByte(file, 4)],
    ['shorter than a header', (file: string) => fs.truncateSync(file, 20)],
  ])('a segment with a %s is renamed to .bad and skipped; the others are read', (_label, damage) => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock);
    appendBatches(spool, 0, 40, 10);
    spool.close();
    const names = segmentFiles(dir);
    const counts = perSegment(dir);
    damage(path.join(dir, names[1]));

    const { log, entries } = captureLog();
    spool = open(dir, clock, {}, log);
    expect(fs.existsSync(path.join(dir, `${names[1]}.bad`))).toBe(true);
    expect(segmentFiles(dir)).toEqual(names.filter((n) => n !== names[1]));
    expect(entries.filter((e) => e.level === 'warn').map((e) => e.message)).toEqual(['unreadable spool segment renamed to .bad and skipped']);
    expect(spool.counters.badSegments).toBe(1);
    expect(spool.pendingDatapoints).toBe(400 - counts[1]);
    expect(spool.bytes).toBe(segmentFiles(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0));
    expect(flat(drain(spool))).toEqual([...items(0, counts[0]), ...items(counts[0] + counts[1], 400)]);
    expectBalanced(spool, 400 - counts[1]);
    spool.close();
  });

  it('the last segment quarantined: its sequence number is not reused', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock, ONE_SEGMENT);
    appendBatches(spool, 0, 2, 10);
    spool.close();
    fs.writeFileSync(path.join(dir, '0000000000000002.seg'), 'garbage that is not a header, but long enough to be one.....');
    spool = open(dir, clock, ONE_SEGMENT);
    appendBatches(spool, 20, 1, 10);
    expect(segmentFiles(dir)).toEqual(['0000000000000001.seg', '0000000000000003.seg']);
    expect(flat(drain(spool))).toEqual(items(0, 30));
    expect(spool.counters.badSegments).toBe(1);
    expectBalanced(spool, 20);
    spool.close();
  });

  it('a segment name that cannot be opened as a file does not make open() throw', () => {
    const dir = newDir();
    const clock = new Clock();
    fs.mkdirSync(path.join(dir, '0000000000000004.seg'));
    const spool = open(dir, clock);
    expect(spool.counters.badSegments).toBe(1);
    expect([spool.segments, spool.pendingDatapoints]).toEqual([0, 0]);
    appendBatches(spool, 0, 1, 10);
    expect(flat(drain(spool))).toEqual(items(0, 10));
    expect(segmentFiles(dir)).toEqual(['0000000000000005.seg']);
    expectBalanced(spool);
    spool.close();
  });
});
