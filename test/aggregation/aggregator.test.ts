import { Aggregator, type AggregatorOptions } from '../../src/aggregation/aggregator';
import { AggregationCounters } from '../../src/aggregation/counters';
import { parseAggregationRules } from '../../src/routing/aggregation-rules';
import { silentLogger, type Logger } from '../../src/telemetry/logger';
import { captureLog } from '../helpers/capture-log';
import { FakeClock } from '../helpers/fake-clock';
import { waitFor, type Captured } from '../helpers/sink';

/** An interval start for frequency 60 (and 10): 1_700_000_040 is a multiple of 60. */
const T = 1_700_000_040;

interface Setup {
  agg: Aggregator;
  clock: FakeClock;
  counters: AggregationCounters;
  /** Every aggregate emitted, in order. */
  out: Captured[];
  /** Emitted since the last call. */
  take(): Captured[];
}

/** A started aggregator over `rules` (aggregation-rules.conf text), its clock `offsetS` seconds into the interval starting at T. */
async function setup(rules: string, opts: Partial<AggregatorOptions> = {}, log: Logger = silentLogger()): Promise<Setup> {
  const clock = new FakeClock((T + 5) * 1000);
  const counters = new AggregationCounters();
  const out: Captured[] = [];
  let taken = 0;
  const agg = new Aggregator(
    { rules: parseAggregationRules(rules, 'aggregation-rules.conf'), keepRaw: true, maxIntervals: 5, writeBackFrequency: undefined, maxAggregates: 1000, maxValues: 10_000, nameCacheSize: 100, ...opts },
    {
      emit: (b) => {
        for (let i = 0; i < b.length; i++) out.push({ name: b.names[i], value: b.values[i], timestamp: b.timestamps[i] });
      },
      counters,
      log,
      now: clock.now,
      timers: clock,
    },
  );
  await agg.start();
  return { agg, clock, counters, out, take: () => out.slice(taken, (taken = out.length)) };
}

/** Seconds to the next multiple of `f` from the clock. */
function toBoundary(clock: FakeClock, f: number): number {
  const s = clock.now() / 1000;
  return (Math.floor(s / f) + 1) * f - s;
}

const byName = (a: Captured, b: Captured): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.timestamp - b.timestamp);

describe('Aggregator (carbon-aggregator semantics, fake clock)', () => {
  it('buckets to timestamp - timestamp % frequency and computes every method as carbon does, at the next multiple of the frequency', async () => {
    const methods = ['sum', 'avg', 'min', 'max', 'count', 'p50', 'p75', 'p80', 'p90', 'p95', 'p99', 'p999'];
    const s = await setup(methods.map((m) => `agg.<host>.${m} (60) = ${m} raw.<host>.*`).join('\n'));
    // interval T: 1, 2, 7, 4 (in that order, from two hosts' series); T+59.9 still belongs to it; T-0.5 to the one before
    s.agg.offer('raw.a.x', T, 1);
    s.agg.offer('raw.a.y', T + 12.5, 2);
    s.agg.offer('raw.a.x', T + 30, 7);
    s.agg.offer('raw.a.z', T + 59.9, 4);
    s.agg.offer('raw.a.x', T - 0.5, 100);
    expect(s.out).toEqual([]);
    s.clock.advance(toBoundary(s.clock, 60) * 1000 - 1);
    expect(s.out).toEqual([]);
    s.clock.advance(1);
    const got = new Map(s.take().map((c) => [`${c.name}@${c.timestamp}`, c.value]));
    // sorted 1 2 4 7: p50 rank 1.5 -> 3; p75 2.25 -> 4.75; p80 2.4 -> 5.2; p90 2.7 -> 6.1; p95 2.85 -> 6.55; p99 2.97 -> 6.91; p999 2.997 -> 6.991
    const expected: Record<string, number> = { sum: 14, avg: 3.5, min: 1, max: 7, count: 4, p50: 3, p75: 4.75, p80: 5.2, p90: 6.1, p95: 6.55, p99: 6.91, p999: 6.991 };
    for (const m of methods) {
      expect(got.get(`agg.a.${m}@${T}`)).toBeCloseTo(expected[m], 12);
      expect(got.get(`agg.a.${m}@${T - 60}`)).toBe(m === 'count' ? 1 : 100);
    }
    expect(got.size).toBe(methods.length * 2);
    // carbon's arithmetic exactly: (factor * (n-1)) interpolation in binary floating point
    expect(got.get(`agg.a.p90@${T}`)).toBe(4 * (3 - 2.7) + 7 * (2.7 - 2));
    expect(s.counters.datapointsAggregated).toBe(5 * methods.length);
    expect(s.counters.aggregatesEmitted).toBe(2 * methods.length);
    expect(s.counters.heldValues).toBe(5 * 7);
  });

  it('<<field>> spans dots, <field> does not; names no rule matches are left alone', async () => {
    const s = await setup('by.<path>.sum (10) = sum pre.<<path>>.count\nhost.<h>.sum (10) = sum pre.<h>.count');
    expect(s.agg.offer('pre.a.b.c.count', T, 1)).toBe(true);
    expect(s.agg.offer('pre.a.count', T, 2)).toBe(true);
    expect(s.agg.offer('other.a.count', T, 4)).toBe(true);
    s.clock.advance(toBoundary(s.clock, 10) * 1000);
    expect(s.take().sort(byName)).toEqual([
      { name: 'by.a.b.c.sum', value: 1, timestamp: T },
      { name: 'by.a.sum', value: 2, timestamp: T },
      { name: 'host.a.sum', value: 2, timestamp: T },
    ]);
  });

  it('re-emits an interval with all its values when late ones arrive within maxIntervals; older ones are refused and counted', async () => {
    const s = await setup('total (60) = sum in.*', { maxIntervals: 2 });
    s.agg.offer('in.a', T, 1);
    s.clock.advance(toBoundary(s.clock, 60) * 1000);
    expect(s.take()).toEqual([{ name: 'total', value: 1, timestamp: T }]);
    // nothing new: nothing emitted at the next compute
    s.clock.advance(60_000);
    expect(s.take()).toEqual([]);
    // now in interval T+120: T is 2 intervals back, still kept
    s.agg.offer('in.b', T + 1, 2);
    s.clock.advance(60_000);
    expect(s.take()).toEqual([{ name: 'total', value: 3, timestamp: T }]);
    // now in T+180: T is 3 back, forgotten at that compute; a value for it is late
    expect(s.agg.size).toBe(0);
    s.agg.offer('in.c', T + 2, 4);
    expect(s.counters.lateDatapoints).toBe(1);
    s.clock.advance(60_000);
    expect(s.take()).toEqual([]);
    expect(s.counters).toMatchObject({ datapointsAggregated: 2, aggregatesEmitted: 2, openAggregates: 0 });
  });

  it('refuses intervals more than maxIntervals ahead of the clock (memory stays bounded), counted', async () => {
    const s = await setup('total (60) = sum in.*', { maxIntervals: 1 });
    s.agg.offer('in.a', T + 60, 1);
    s.agg.offer('in.a', T + 120, 1);
    expect(s.counters).toMatchObject({ datapointsAggregated: 1, futureDatapoints: 1 });
  });

  it('a new aggregate over maxAggregates is refused and counted (logged rate-limited); closing aggregates frees room', async () => {
    const log = captureLog();
    const s = await setup('agg.<x> (60) = sum in.<x>', { maxAggregates: 2, maxIntervals: 0 }, log.log);
    for (const name of ['in.a', 'in.b', 'in.c', 'in.d', 'in.a']) s.agg.offer(name, T, 1);
    expect(s.counters.aggregateCapHits).toBe(2);
    await waitFor(() => log.entries.length > 0, 'logged');
    expect(log.entries.map((e) => [e.level, e.message, e.aggregate])).toEqual([['warn', 'maxAggregates aggregates open, dropping datapoints for new ones', 'agg.c']]);
    expect(s.agg.size).toBe(2);
    s.clock.advance(toBoundary(s.clock, 60) * 1000);
    expect(s.take().sort(byName)).toEqual([
      { name: 'agg.a', value: 2, timestamp: T },
      { name: 'agg.b', value: 1, timestamp: T },
    ]);
    // maxIntervals 0: the interval is forgotten once the next begins, and the aggregates with it
    expect(s.agg.size).toBe(0);
    s.agg.offer('in.c', T + 60, 5);
    expect(s.agg.size).toBe(1);
    expect(s.counters.aggregateCapHits).toBe(2);
  });

  it('percentile values over maxValues are refused and counted; other methods hold no values', async () => {
    const s = await setup('p (60) = p50 in.*\ns (60) = sum in.*', { maxValues: 3 });
    for (let i = 1; i <= 5; i++) s.agg.offer('in.a', T, i);
    expect(s.counters).toMatchObject({ heldValues: 3, valueCapHits: 2, datapointsAggregated: 8 });
    s.clock.advance(toBoundary(s.clock, 60) * 1000);
    expect(s.take().sort(byName)).toEqual([
      { name: 'p', value: 2, timestamp: T },
      { name: 's', value: 15, timestamp: T },
    ]);
  });

  it('stop emits every interval not emitted since its last value, the current partial one too, and forgets them', async () => {
    const s = await setup('total (60) = sum in.*\np (60) = max in.*');
    s.agg.offer('in.a', T - 60, 1);
    s.clock.advance(toBoundary(s.clock, 60) * 1000);
    s.take();
    s.agg.offer('in.a', T + 60, 2);
    s.agg.offer('in.a', T + 61, 3);
    await s.agg.stop(Date.now());
    expect(s.take().sort(byName)).toEqual([
      { name: 'p', value: 3, timestamp: T + 60 },
      { name: 'total', value: 5, timestamp: T + 60 },
    ]);
    expect(s.counters).toMatchObject({ openAggregates: 0, heldValues: 0 });
    expect(s.clock.pending).toEqual([]);
  });

  it('keepRaw: matched datapoints are routed raw too, or not (counted); a datapoint named like its own aggregate never is (carbon)', async () => {
    const rules = 'sum.<x> (60) = sum in.<x>\nin.<x> (60) = max in.<x>';
    const keep = await setup('sum.<x> (60) = sum in.<x>');
    expect(keep.agg.offer('in.a', T, 1)).toBe(true);
    expect(keep.agg.offer('other', T, 1)).toBe(true);
    const self = await setup(rules);
    expect(self.agg.offer('in.a', T, 1)).toBe(false);
    const drop = await setup('sum.<x> (60) = sum in.<x>', { keepRaw: false });
    expect(drop.agg.offer('in.a', T, 1)).toBe(false);
    expect(drop.agg.offer('in.a', T, 1)).toBe(false);
    expect(drop.agg.offer('other', T, 1)).toBe(true);
    expect([keep.counters.rawConsumed, self.counters.rawConsumed, drop.counters.rawConsumed]).toEqual([0, 1, 2]);
    for (const s of [keep, self, drop]) await s.agg.stop(0);
  });

  it('the first rule to open an aggregate sets its method and frequency; two rules naming it add a datapoint twice (carbon)', async () => {
    const s = await setup('all (60) = sum in.*\nall (10) = max in.<x>');
    s.agg.offer('in.a', T + 1, 3);
    s.agg.offer('in.b', T + 2, 4);
    // frequency 60 (the first rule's): nothing at T+10
    s.clock.advance(toBoundary(s.clock, 10) * 1000);
    expect(s.take()).toEqual([]);
    s.clock.advance(toBoundary(s.clock, 60) * 1000);
    expect(s.take()).toEqual([{ name: 'all', value: 14, timestamp: T }]);
  });

  it('writeBackFrequency: computes that often when shorter than the frequency, partial intervals included (carbon)', async () => {
    const s = await setup('total (60) = sum in.*', { writeBackFrequency: 20 });
    s.agg.offer('in.a', T + 1, 1);
    s.clock.advance(toBoundary(s.clock, 20) * 1000);
    expect(s.take()).toEqual([{ name: 'total', value: 1, timestamp: T }]);
    s.agg.offer('in.a', T + 25, 2);
    s.clock.advance(20_000);
    expect(s.take()).toEqual([{ name: 'total', value: 3, timestamp: T }]);
    s.clock.advance(20_000);
    expect(s.take()).toEqual([]);
  });

  it('memoises the rules per name: a name is matched once however many datapoints carry it', async () => {
    const s = await setup('sum.<x> (60) = sum in.<x>');
    const rule = s.agg.opts.rules[0];
    const spy = jest.spyOn(rule, 'aggregateName');
    for (let i = 0; i < 100; i++) s.agg.offer('in.a', T, 1);
    expect(spy).toHaveBeenCalledTimes(1);
  });
});
