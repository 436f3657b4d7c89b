import fs from 'node:fs';
import path from 'node:path';
import { DatapointQueue } from '../../../src/output/queue';
import { SpoolLockedError } from '../../../src/output/spool/spool';
import { processIdentity } from '../../../src/output/spool/lock';
import { tempDirsRemovedAfterAll } from '../../helpers/relay';
import { appendBatches, Clock, drain, expectBalanced, flat, item, items, open, recordItems, segmentFiles, viewOf, type Item } from './spool-helpers';

const newDir = tempDirsRemovedAfterAll();

describe('Spool: writing and reading', () => {
  it('round-trips names (Unicode included), fractional timestamps and every kind of finite or infinite value', () => {
    const clock = new Clock();
    const spool = open(newDir(), clock);
    const sent: Item[] = [
      ['a', 1_700_000_000.125, 0],
      ['servers.ünïcödé.温度', 1_700_000_001.5, -0],
      ['emoji.😀.count', 0.000001, Number.MAX_VALUE],
      ['tags;dc=eu-west;role=db', 1e10 + 0.75, -Infinity],
      ['x'.repeat(2000), -1.5, Infinity],
      ['tiny', 2 ** 40 + 0.5, Number.MIN_VALUE],
      ['lone.surrogate.\ud800', 1, 3],
    ];
    expect(spool.append(viewOf(sent), 0, sent.length)).toBe('written');
    const r = spool.readNext();
    expect(r).toBeDefined();
    if (r === undefined) return;
    // a lone surrogate cannot be UTF-8; it comes back as U+FFFD, like every other UTF-8 path of the relay
    expect(recordItems(r)).toEqual([...sent.slice(0, 6), ['lone.surrogate.\ufffd', 1, 3]]);
    expect(Object.is(r.values[1], -0)).toBe(true);
    expect(r.appendedAtMs).toBe(clock.t);
    expect([r.length, r.nameAt(2), r.timestampAt(2), r.valueAt(2)]).toEqual([7, 'emoji.😀.count', 0.000001, Number.MAX_VALUE]);
    expect(spool.readNext()).toBeUndefined();
    expect(spool.counters).toMatchObject({ written: 7, replayed: 7, acked: 0 });
    expect(spool.pendingDatapoints).toBe(7);
    expectBalanced(spool);
    spool.close();
  });

  it('appends exactly [from, from + count) of a view such as the DatapointQueue', () => {
    const q = new DatapointQueue(64);
    for (const it of items(0, 20)) q.push(...it);
    q.shift(3);
    const spool = open(newDir(), new Clock());
    expect(spool.append(q, 5, 4)).toBe('written');
    expect(spool.append(q, 0, 0)).toBe('written');
    expect(flat(drain(spool))).toEqual(items(8, 12));
    expect(spool.counters.written).toBe(4);
    expectBalanced(spool);
    spool.close();
  });

  it('keeps append order across many records and segment rolls, reading while writing', () => {
    const dir = newDir();
    const spool = open(dir, new Clock());
    const got: Item[] = [];
    for (let b = 0; b < 300; b++) {
      appendBatches(spool, b * 10, 1, 10);
      if (b % 7 === 0) got.push(...flat(drain(spool)));
    }
    got.push(...flat(drain(spool)));
    expect(got).toEqual(items(0, 3000));
    expect(spool.segments).toBeGreaterThan(20);
    expect(segmentFiles(dir)).toHaveLength(spool.segments);
    const sizes = segmentFiles(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    expect(spool.bytes).toBe(sizes);
    expect(spool.counters).toMatchObject({ written: 3000, replayed: 3000, acked: 0 });
    expect(spool.pendingDatapoints).toBe(3000);
    expectBalanced(spool);
    spool.close();
  });

  it('ack deletes fully delivered segments; once all is acked an idle spool has no segment bytes', () => {
    const dir = newDir();
    const spool = open(dir, new Clock());
    appendBatches(spool, 0, 100, 10);
    const segsBefore = spool.segments;
    const records = drain(spool);
    expect(records).toHaveLength(100);
    spool.ack(records[49].id);
    expect(spool.segments).toBeLessThan(segsBefore);
    expect(spool.segments).toBeGreaterThan(0);
    expect(segmentFiles(dir)).toHaveLength(spool.segments);
    expect(spool.pendingDatapoints).toBe(500);
    spool.ack(records[99].id);
    // the segment still being written goes at the next sync, not per ack
    spool.sync();
    expect([spool.bytes, spool.segments, spool.pendingDatapoints, segmentFiles(dir)]).toEqual([0, 0, 0, []]);
    expect(spool.counters).toMatchObject({ written: 1000, acked: 1000, droppedFull: 0, corruptDatapoints: 0 });
    expect(spool.oldestAgeMs()).toBe(0);
    expectBalanced(spool);
    // and it keeps working after emptying
    appendBatches(spool, 1000, 3, 10);
    expect(flat(drain(spool))).toEqual(items(1000, 1030));
    spool.close();
    expect(fs.readdirSync(dir).filter((f) => !f.endsWith('.seg'))).toEqual(['cursor']);
    expect(segmentFiles(dir)).toHaveLength(1);
  });

  it('rewind hands out again from the first unacked record, with the same ids', () => {
    const spool = open(newDir(), new Clock());
    appendBatches(spool, 0, 6, 5);
    const first = drain(spool);
    spool.ack(first[1].id);
    spool.rewind();
    const again = drain(spool);
    expect(again.map((r) => r.id)).toEqual(first.slice(2).map((r) => r.id));
    expect(flat(again)).toEqual(items(10, 30));
    // an ack of a record handed out before the rewind still counts
    spool.ack(first[3].id);
    spool.rewind();
    expect(flat(drain(spool))).toEqual(items(20, 30));
    spool.ack(first[5].id);
    spool.ack(first[5].id);
    expect(spool.counters).toMatchObject({ written: 30, replayed: 30 + 20 + 10, acked: 30 });
    expect(spool.pendingDatapoints).toBe(0);
    expectBalanced(spool);
    spool.close();
  });

  it('reports the age of the oldest unacked record', () => {
    const clock = new Clock();
    const dir = newDir();
    let spool = open(dir, clock);
    expect(spool.oldestAgeMs()).toBe(0);
    appendBatches(spool, 0, 1, 5);
    clock.t += 1000;
    appendBatches(spool, 5, 1, 5);
    clock.t += 500;
    expect(spool.oldestAgeMs()).toBe(1500);
    const [a] = drain(spool);
    expect(spool.oldestAgeMs()).toBe(1500);
    spool.ack(a.id);
    expect(spool.oldestAgeMs()).toBe(500);
    spool.close();
    spool = open(dir, clock);
    clock.t += 100;
    expect(spool.oldestAgeMs()).toBe(600);
    spool.close();
  });

  it('leaves out names longer than 65535 UTF-8 bytes, counted', () => {
    const spool = open(newDir(), new Clock());
    const sent: Item[] = [item(0), ['é'.repeat(40_000), 1, 1], item(2), ['z'.repeat(65_535), 3, 3]];
    expect(spool.append(viewOf(sent), 0, 4)).toBe('written');
    expect(flat(drain(spool))).toEqual([item(0), item(2), ['z'.repeat(65_535), 3, 3]]);
    expect(spool.counters).toMatchObject({ written: 3, droppedInvalid: 1 });
    expect(spool.append(viewOf([['é'.repeat(40_000), 1, 1]]), 0, 1)).toBe('written');
    expect(spool.counters).toMatchObject({ written: 3, droppedInvalid: 2 });
    expectBalanced(spool);
    spool.close();
  });

  it('refuses use after close', () => {
    const spool = open(newDir(), new Clock());
    spool.close();
    spool.close();
    expect(() => spool.readNext()).toThrow(/closed/);
  });
});

describe('Spool: restarts', () => {
  it('resumes at the cursor after close: acked records never come back, unacked ones (even handed out) do', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock);
    appendBatches(spool, 0, 40, 10);
    const records = drain(spool);
    spool.ack(records[24].id);
    spool.close();
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(false);

    spool = open(dir, clock);
    // exact without reading: sealed segments carry their counts, the cursor its segment's acked datapoints
    expect(spool.pendingDatapoints).toBe(150);
    expect(spool.counters.written).toBe(0);
    const again = drain(spool);
    expect(flat(again)).toEqual(items(250, 400));
    spool.ack(again[again.length - 1].id);
    expect(spool.pendingDatapoints).toBe(0);
    expectBalanced(spool, 150);
    spool.sync();
    expect(spool.bytes).toBe(0);
    spool.close();

    spool = open(dir, clock);
    expect([spool.pendingDatapoints, spool.segments, drain(spool)]).toEqual([0, 0, []]);
    appendBatches(spool, 400, 1, 10);
    expect(flat(drain(spool))).toEqual(items(400, 410));
    spool.close();
  });

  it('recovers after a crash (no close): records written come back from the last synced cursor, counted exactly', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock, { segmentBytes: 1024 ** 2 });
    appendBatches(spool, 0, 30, 10);
    const records = drain(spool);
    spool.ack(records[9].id);
    spool.sync();
    // acknowledged after the last sync: delivered again after the crash (at-least-once)
    spool.ack(records[19].id);
    appendBatches(spool, 300, 5, 10);
    spool.abandon();
    expect(fs.readFileSync(path.join(dir, 'lock'), 'latin1').split('\n')[0]).toBe(String(process.pid));

    spool = open(dir, clock);
    // the segment had no seal: open() scanned it for its counts
    expect(spool.pendingDatapoints).toBe(250);
    expect(flat(drain(spool))).toEqual(items(100, 350));
    expectBalanced(spool, 250);
    expect(spool.counters).toMatchObject({ corruptRecords: 0, badSegments: 0 });
    spool.close();
  });

  it('after a crash, segments deleted by acks since the last sync stay gone; the rest of the backlog comes back', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock);
    appendBatches(spool, 0, 30, 10);
    const records = drain(spool);
    spool.ack(records[4].id);
    spool.sync();
    const segmentsAtSync = spool.segments;
    spool.ack(records[19].id);
    expect(spool.segments).toBeLessThan(segmentsAtSync);
    const pending = spool.pendingDatapoints;
    const firstKept = 300 - pending;
    spool.abandon();

    spool = open(dir, clock);
    // the acked part of the cursor's segment comes back with it
    const back = flat(drain(spool));
    const start = back[0] === undefined ? NaN : Number(back[0][0].split('.').pop());
    expect(start).toBeGreaterThan(50);
    expect(start).toBeLessThanOrEqual(200);
    expect(start % 10).toBe(0);
    expect(back).toEqual(items(start, 300));
    expect(spool.pendingDatapoints).toBe(300 - start);
    expectBalanced(spool, 300 - start);
    expect(firstKept).toBe(200);
    spool.close();
  });

  it('a crash with nothing synced replays everything', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock);
    appendBatches(spool, 0, 3, 4);
    spool.ack(drain(spool)[2].id);
    spool.abandon();
    spool = open(dir, clock);
    expect(spool.pendingDatapoints).toBe(12);
    expect(flat(drain(spool))).toEqual(items(0, 12));
    expectBalanced(spool, 12);
    spool.close();
  });

  it('an unreadable cursor file replays the whole spool', () => {
    const dir = newDir();
    const clock = new Clock();
    let spool = open(dir, clock, { segmentBytes: 1024 ** 2 });
    appendBatches(spool, 0, 20, 10);
    spool.ack(drain(spool)[14].id);
    spool.close();
    fs.writeFileSync(path.join(dir, 'cursor'), 'garbage');
    spool = open(dir, clock);
    expect(spool.pendingDatapoints).toBe(200);
    expect(flat(drain(spool))).toEqual(items(0, 200));
    expectBalanced(spool, 200);
    spool.close();
  });
});

describe('Spool: lock', () => {
  it('a second Spool on the same directory throws until the first is closed', () => {
    const dir = newDir();
    const clock = new Clock();
    const spool = open(dir, clock);
    expect(() => open(dir, clock)).toThrow(SpoolLockedError);
    expect(() => open(dir, clock)).toThrow(/already open in this process/);
    spool.close();
    open(dir, clock).close();
  });

  it('a lock held by another live process throws, naming the pid and the lock file', () => {
    const dir = newDir();
    fs.writeFileSync(path.join(dir, 'lock'), `${process.ppid}\nsomehost\n`);
    expect(() => open(dir, new Clock())).toThrow(new RegExp(`in use by process ${process.ppid}.*${path.join(dir, 'lock')}`));
    expect(fs.readFileSync(path.join(dir, 'lock'), 'latin1')).toBe(`${process.ppid}\nsomehost\n`);
  });

  it('names its boot and start time, and a live pid whose process booted or started otherwise is a reused pid: taken over', () => {
    const dir = newDir();
    const clock = new Clock();
    const spool = open(dir, clock);
    const written = fs.readFileSync(path.join(dir, 'lock'), 'latin1').split('\n');
    expect(written[2]).toBe(processIdentity(process.pid));
    expect(written[2]).toMatch(/^[0-9a-f-]{36}:\d+$/);
    spool.close();
    const parent = processIdentity(process.ppid)!;
    const [boot, start] = parent.split(':') as [string, string];
    // the live parent's pid, recorded by a process of another boot, or one that started at another time
    for (const other of [`00000000-0000-0000-0000-000000000000:${start}`, `${boot}:${Number(start) + 1}`]) {
      fs.writeFileSync(path.join(dir, 'lock'), `${process.ppid}\nhost\n${other}\n`);
      const s = open(dir, clock);
      expect(fs.readFileSync(path.join(dir, 'lock'), 'latin1').split('\n')[0]).toBe(String(process.pid));
      s.close();
    }
    // the same boot and start time: the owner is that very process, still running
    fs.writeFileSync(path.join(dir, 'lock'), `${process.ppid}\nhost\n${parent}\n`);
    expect(() => open(dir, clock)).toThrow(SpoolLockedError);
  });

  it('a stale lock (dead pid, garbage, or our own pid with no live Spool) is taken over', () => {
    const dir = newDir();
    const clock = new Clock();
    for (const content of ['4194305\nhost\n', '', 'not a pid', `${process.pid}\n`]) {
      fs.writeFileSync(path.join(dir, 'lock'), content);
      const spool = open(dir, clock);
      expect(fs.readFileSync(path.join(dir, 'lock'), 'latin1').split('\n')[0]).toBe(String(process.pid));
      spool.close();
      expect(fs.existsSync(path.join(dir, 'lock'))).toBe(false);
    }
  });
});
