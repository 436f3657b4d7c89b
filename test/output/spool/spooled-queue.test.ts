import { SpooledQueue, type SpooledQueueOptions } from '../../../src/output/spool/spooled-queue';
import type { Spool } from '../../../src/output/spool/spool';
import { silentLogger } from '../../../src/telemetry/logger';
import { tempDirsRemovedAfterAll } from '../../helpers/relay';
import { eventLoopTurns } from '../../helpers/scripted-transport';
import { Clock, item, open, type Item } from './spool-helpers';

const newDir = tempDirsRemovedAfterAll();

/** limit 1000, high 500, low 250, records of 100, replay 1000/s. */
const OPTS: SpooledQueueOptions = { mode: 'overflow', maxQueueSize: 1000, highWaterMark: 500, lowWaterMark: 250, spillWhenSlow: true, replayRate: 1000, syncIntervalMs: 60_000, recordSize: 100 };

function setup(opts: Partial<SpooledQueueOptions> = {}, spoolOpts: Parameters<typeof open>[2] = {}) {
  const clock = new Clock();
  const dir = newDir();
  let spool: Spool | undefined;
  const q = new SpooledQueue({ ...OPTS, ...opts }, { openSpool: () => (spool = open(dir, clock, spoolOpts)), log: silentLogger(), now: clock.now });
  const events = { readable: 0, full: [] as boolean[] };
  q.onReadable = () => events.readable++;
  q.onFull = (f) => events.full.push(f);
  q.open();
  return { q, clock, dir, events, spool: (): Spool => spool as Spool };
}

function push(q: SpooledQueue, from: number, n: number): boolean[] {
  const out: boolean[] = [];
  for (let i = from; i < from + n; i++) {
    const [name, ts, v] = item(i);
    out.push(q.push(name, ts, v));
  }
  return out;
}

function memory(q: SpooledQueue): Item[] {
  return Array.from({ length: q.length }, (_, k): Item => [q.nameAt(k), q.timestampAt(k), q.valueAt(k)]);
}

describe('SpooledQueue (overflow)', () => {
  it('while the link is down every datapoint goes to disk, one record per recordSize; link up replays below the low-water mark', async () => {
    const { q, events, spool } = setup();
    push(q, 0, 300);
    await eventLoopTurns(); // the last partial record is written on the next turn
    expect(q.length).toBe(0);
    expect(spool().counters.written).toBe(300);
    expect(spool().pendingDatapoints).toBe(300);
    q.linkChanged(true);
    // records move in until the low-water mark is reached (250): three records of 100
    expect(q.length).toBe(300);
    expect(memory(q)).toEqual(Array.from({ length: 300 }, (_, i) => item(i)));
    expect(events.readable).toBe(1);
    q.close();
  });

  it('live datapoints go to memory while the link is up and memory is below its high-water mark', () => {
    const { q, spool } = setup();
    q.linkChanged(true);
    push(q, 0, 400);
    expect(q.length).toBe(400);
    expect(spool().counters.written).toBe(0);
    q.close();
  });

  it('whenSlow spool: past the high-water mark new datapoints spill to disk; whenSlow pause: memory fills to its bound and refuses', async () => {
    const spill = setup();
    spill.q.linkChanged(true);
    expect(push(spill.q, 0, 700).every(Boolean)).toBe(true);
    await eventLoopTurns();
    expect(spill.q.length).toBe(500);
    expect(spill.spool().counters.written).toBe(200);
    spill.q.close();

    const pause = setup({ spillWhenSlow: false });
    pause.q.linkChanged(true);
    const accepted = push(pause.q, 0, 1100);
    expect(accepted.filter(Boolean)).toHaveLength(1000);
    expect(pause.spool().counters.written).toBe(0);
    pause.q.close();
  });

  it('a replayed record is acknowledged only once all its datapoints were shifted out (written to the link)', async () => {
    const { q, spool } = setup();
    push(q, 0, 200);
    await eventLoopTurns();
    q.linkChanged(true);
    expect(q.length).toBe(200);
    q.shift(150);
    expect(spool().counters.acked).toBe(100); // the first record; the second is half sent
    q.shift(50);
    expect(spool().counters.acked).toBe(200);
    q.close();
  });

  it('replay is capped by replayRate and resumes as time passes', async () => {
    const { q, clock, spool } = setup({ replayRate: 200, lowWaterMark: 900, highWaterMark: 950 });
    push(q, 0, 1000);
    await eventLoopTurns();
    q.linkChanged(true);
    expect(q.length).toBe(200); // a full bucket holds one second's worth
    q.shift(200);
    expect(q.length).toBe(0); // no tokens left until time passes
    clock.t += 500;
    q.linkChanged(true);
    expect(q.length).toBe(100);
    expect(spool().counters.replayed).toBe(300);
    q.close();
  });

  it('close spools the live datapoints held in memory; replayed ones stay on disk unacknowledged; a new queue delivers all of them once', async () => {
    const first = setup();
    push(first.q, 0, 100); // down: to disk
    await eventLoopTurns();
    first.q.linkChanged(true); // 100 replayed into memory, not yet sent
    push(first.q, 100, 50); // live, into memory
    expect(first.q.length).toBe(150);
    expect(first.q.close()).toEqual({ spooled: 50, lost: 0 });

    const clock = new Clock();
    let reopened: Spool | undefined;
    const q2 = new SpooledQueue(OPTS, { openSpool: () => (reopened = open(first.dir, clock)), log: silentLogger(), now: clock.now });
    q2.open();
    expect(reopened?.pendingDatapoints).toBe(150);
    q2.linkChanged(true);
    expect(memory(q2).map(([, , v]) => v).sort((a, b) => a - b)).toEqual(Array.from({ length: 150 }, (_, i) => item(i)[2]));
    q2.close();
  });

  it('whenFull block: a full spool keeps the record, reports full (receivers pause) and refuses more; freeing space resumes', async () => {
    // segments of 64 KiB, at most two: about 3,000 datapoints of these names
    const { q, events, spool, clock } = setup({ recordSize: 100 }, { segmentBytes: 64 * 1024, maxBytes: 128 * 1024, whenFull: 'block' });
    let n = 0;
    while (events.full.length === 0 && n < 20_000) {
      push(q, n, 100);
      n += 100;
    }
    expect(events.full).toEqual([true]);
    const written = spool().counters.written;
    // the refused record is held whole, and more is held up to the memory bound (1,000) while receivers pause; beyond, refused
    expect(push(q, n, 1000).filter((ok) => !ok)).toHaveLength(100);
    // deliver everything on disk: segments are deleted, space frees, the held record goes in
    q.linkChanged(true);
    let guard = 0;
    while (q.length > 0 && guard++ < 1000) {
      q.shift(q.length);
      clock.t += 1000; // a second of replay allowance
      q.linkChanged(true);
    }
    expect(events.full).toEqual([true, false]);
    expect(spool().counters.written).toBe(written + 1000);
    q.close();
  });
});

describe('SpooledQueue (always)', () => {
  it('every datapoint is written to disk first; memory is filled from the spool at the link pace', async () => {
    const { q, spool, events } = setup({ mode: 'always' });
    q.linkChanged(true);
    push(q, 0, 150);
    expect(q.length).toBe(100); // the first full record went to disk and came straight back
    await eventLoopTurns();
    expect(q.length).toBe(150);
    expect(spool().counters.written).toBe(150);
    expect(events.readable).toBe(2);
    q.shift(150);
    expect(spool().counters.acked).toBe(150);
    q.close();
  });
});
