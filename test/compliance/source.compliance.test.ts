import { sourceSchema, type SourceConfig } from '../../src/config/schema';
import { buildSource } from '../../src/sources/build';
import type { Source } from '../../src/sources/source';
import type { CounterKind } from '../../src/telemetry/counters';
import { silentLogger } from '../../src/telemetry/logger';
import { CopyingSink } from '../helpers/copying-sink';
import { FakeCatchpoint } from '../helpers/fake-catchpoint';
import { drive, FakeClock } from '../helpers/fake-clock';
import type { Datapoint } from '../helpers/fixtures';
import { eventLoopTurns } from '../helpers/scripted-transport';
import { waitFor } from '../helpers/sink';
import { settlesWithin } from '../helpers/deadline';

/**
 * The contract every source kind keeps, checked the same way for each, on a
 * fake clock against a local fake of the kind's API. A new kind (kafka, ...)
 * is one more entry in SOURCES.
 */

type SourceKind = SourceConfig['type'];

/** The far end a source polls, as this suite drives it. */
interface SourcePeer {
  /** This kind's own config keys, pointing at the peer (the suite adds type and name). */
  readonly target: Record<string, unknown>;
  /** The next poll gets MixedAnswer's datapoints: good ones and every kind of bad one. */
  serveMixed(): void;
  /** The next poll's call is never answered. */
  hangNext(): void;
  /** Polls that reached the peer. */
  pollsSeen(): number;
  close(): Promise<void>;
}

/** What serveMixed() hands out, and what the source must make of it. */
interface MixedAnswer {
  /** Datapoints in the answer, good and bad. */
  polled: number;
  /** What the sink must get, in order. */
  delivered: Datapoint[];
  /** The source's counters after that one poll (only these keys are checked). */
  counters: Record<string, number>;
}

interface SourceCase {
  readonly id: string;
  readonly type: SourceKind;
  /** Fake-clock ms between polls. */
  readonly intervalMs: number;
  /** Counter of datapoints handed to the sink. */
  readonly deliveredCounter: string;
  /** Counters of datapoints skipped as invalid, one reason each. */
  readonly skippedCounters: readonly string[];
  /** Counter of polls started (counted when a poll starts, before any I/O). */
  readonly pollsCounter: string;
  peer(t0: number): Promise<SourcePeer>;
  mixed(t0: number): MixedAnswer;
}

const MIN = 60_000;

const SOURCES = [
  {
    id: 'catchpoint',
    type: 'catchpoint',
    intervalMs: 15 * MIN,
    deliveredCounter: 'datapoints',
    // each invalid or out-of-window item in the mixed answer carries exactly one value, so items count datapoints here
    skippedCounters: ['invalidItems', 'invalidValues', 'nullValues', 'outsideWindow'],
    pollsCounter: 'polls',
    peer: (t0: number) => catchpointPeer(t0),
    mixed: (t0: number) => catchpointMixed(t0).expected,
  },
] as const satisfies readonly SourceCase[];

/** Compile-time: every source kind in the schema has an entry above. */
// kafka consumes instead of polling on a clock: its contract (exact counts, resume, pause) is test/integration/kafka-source.test.ts
type Uncovered = Exclude<SourceKind, (typeof SOURCES)[number]['type'] | 'kafka'>;
const EVERY_KIND_COVERED: [Uncovered] extends [never] ? true : Uncovered = true;

// --- catchpoint ---

const TEST_ID = 142619;

/** One raw-data answer for the window [t0 - 15m, t0): 12 values, 4 good. */
function catchpointMixed(t0: number): { body: unknown; expected: MixedAnswer } {
  const iso = (ms: number): string => new Date(ms).toISOString();
  const item = (at: number, node: number | undefined, values: unknown[]): Record<string, unknown> => ({
    dimension: { name: iso(at) },
    breakdown_1: { id: TEST_ID },
    ...(node !== undefined && { breakdown_2: { id: node } }),
    synthetic_metrics: values,
  });
  const body = {
    start: iso(t0 - 15 * MIN),
    end: iso(t0),
    detail: {
      // 'Bad;Name' cannot be a tagged metric name: its values are invalid
      fields: { synthetic_metrics: [{ index: 0, name: 'DNS' }, { index: 1, name: 'Connect' }, { index: 2, name: 'Bad;Name' }] },
      items: [
        item(t0 - 10 * MIN, 1, [1, 2, 3]), // 2 good, 1 invalid value
        item(t0 - 9 * MIN, 2, [null, 'x', 4]), // 1 null, 2 invalid values
        item(t0 - 8 * MIN, 3, [5, 6, 7, 8]), // 2 good, 2 invalid values (bad field, more values than fields)
        item(t0 - 7 * MIN, undefined, [9]), // an invalid item (no node)
        item(t0, 1, [10]), // on the window's end: outside it
      ],
    },
  };
  const ts = (ms: number): number => ms / 1000;
  const name = (field: string, node: number): string => `catchpoint.testdata.${field};testId=${TEST_ID};nodeId=${node}`;
  return {
    body,
    expected: {
      polled: 12,
      delivered: [
        { name: name('DNS', 1), value: 1, timestamp: ts(t0 - 10 * MIN) },
        { name: name('Connect', 1), value: 2, timestamp: ts(t0 - 10 * MIN) },
        { name: name('DNS', 3), value: 5, timestamp: ts(t0 - 8 * MIN) },
        { name: name('Connect', 3), value: 6, timestamp: ts(t0 - 8 * MIN) },
      ],
      counters: { polls: 1, datapoints: 4, invalidItems: 1, invalidValues: 5, nullValues: 1, outsideWindow: 1, pollsFailed: 0 },
    },
  };
}

async function catchpointPeer(t0: number): Promise<SourcePeer> {
  const api = new FakeCatchpoint();
  await api.listen();
  return {
    // a long call timeout, so a hung call stays hung until stop() cancels it
    target: { baseUrl: api.baseUrl, clientId: api.clientId, clientSecret: api.clientSecret, tests: { web: [TEST_ID] }, interval: '15m', timeout: '1m' },
    serveMixed: () => api.rawReplies.push({ body: catchpointMixed(t0).body }),
    hangNext: () => api.rawReplies.push('hang'),
    pollsSeen: () => api.rawRequests.length,
    close: () => api.close(),
  };
}

// --- the suite ---

/** 10:15 UTC on a fake clock. */
const T0 = Date.UTC(2024, 4, 1, 10, 15);

interface Harness {
  source: Source;
  peer: SourcePeer;
  sink: CopyingSink;
  clock: FakeClock;
}

const running: Harness[] = [];

afterEach(async () => {
  for (const h of running.splice(0)) {
    await settlesWithin(h.source.stop(Date.now()), 2000, `stop ${h.source.name}`).catch(() => undefined);
    await h.peer.close();
  }
});

async function harness(c: SourceCase, name = `cmp-${c.id}`): Promise<Harness> {
  const peer = await c.peer(T0);
  const clock = new FakeClock(T0);
  const sink = new CopyingSink();
  const cfg = sourceSchema.parse({ type: c.type, name, ...peer.target });
  // random 0.5: no retry jitter
  const source = buildSource(cfg, { sink, log: silentLogger(), now: clock.now, timers: clock, random: () => 0.5 });
  const h = { source, peer, sink, clock };
  running.push(h);
  return h;
}

function reported(s: Source): Map<string, { value: number; kind: CounterKind }> {
  const m = new Map<string, { value: number; kind: CounterKind }>();
  s.reportCounters((key, value, kind) => {
    if (m.has(key)) throw new Error(`${key} reported twice`);
    m.set(key, { value, kind });
  });
  return m;
}

const counter = (s: Source, key: string): number => {
  const v = reported(s).get(key);
  if (v === undefined) throw new Error(`no counter ${key}`);
  return v.value;
};

it('every source kind in the schema has an entry in SOURCES', () => {
  expect(EVERY_KIND_COVERED).toBe(true);
});

describe.each(SOURCES)('source kind $id', (c) => {
  it('datapoints polled = handed to the sink + counted invalid, exactly', async () => {
    const { source, peer, sink, clock } = await harness(c);
    peer.serveMixed();
    const result = await drive(source.pollNow(), clock);
    const mixed = c.mixed(T0);
    expect(peer.pollsSeen()).toBe(1);
    expect(sink.points).toEqual(mixed.delivered);
    expect(result).toMatchObject({ ok: true, datapoints: mixed.delivered.length });
    const delivered = counter(source, c.deliveredCounter);
    const skipped = c.skippedCounters.reduce((n, k) => n + counter(source, k), 0);
    expect(delivered).toBe(sink.points.length);
    expect(delivered + skipped).toBe(mixed.polled);
    for (const [key, value] of Object.entries(mixed.counters)) expect([key, counter(source, key)]).toEqual([key, value]);
  });

  it('stop(deadline) resolves by the deadline with a StopReport even while a poll hangs', async () => {
    const { source, peer, clock } = await harness(c);
    peer.hangNext();
    await source.start();
    clock.advance(0); // the first poll is due at start
    await waitFor(() => peer.pollsSeen() === 1, 'the hung call reached the peer');
    const deadline = Date.now() + 300;
    const report = await settlesWithin(source.stop(deadline), 2000, 'stop with a hung poll');
    expect(Date.now()).toBeLessThanOrEqual(deadline + 500);
    expect(report).toEqual({ name: `cmp-${c.id}`, undelivered: 0, abandoned: [expect.any(String)], abandonedPoll: true });
    // stopped for good: time passing polls no more
    clock.advance(3 * c.intervalMs);
    await eventLoopTurns(3);
    expect(counter(source, c.pollsCounter)).toBe(1);
    expect(peer.pollsSeen()).toBe(1);
  });

  it('stop(deadline) with no poll running reports nothing abandoned', async () => {
    const { source, peer, clock } = await harness(c);
    await source.start();
    await drive(source.pollNow(), clock);
    const report = await settlesWithin(source.stop(Date.now() + 1000), 3000, 'stop');
    expect(report).toEqual({ name: `cmp-${c.id}`, undelivered: 0, abandoned: [], abandonedPoll: false });
    clock.advance(3 * c.intervalMs);
    await eventLoopTurns(3);
    expect(counter(source, c.pollsCounter)).toBe(1);
    expect(peer.pollsSeen()).toBe(1);
  });

  it('pause() defers the next poll; resume() lets it run', async () => {
    const { source, peer, clock } = await harness(c);
    await source.start();
    // paused with nothing due: resume starts no poll
    source.pause();
    source.resume();
    expect(counter(source, c.pollsCounter)).toBe(0);

    source.pause();
    clock.advance(0); // the first poll falls due while paused
    await eventLoopTurns(3);
    expect(counter(source, c.pollsCounter)).toBe(0);
    expect(peer.pollsSeen()).toBe(0);

    source.resume();
    expect(counter(source, c.pollsCounter)).toBe(1);
    await waitFor(() => peer.pollsSeen() === 1, 'the deferred poll reached the peer');
    // the poll ends by scheduling the next one, an interval after it started
    await waitFor(() => clock.pending.length === 1, 'the next poll scheduled');
    expect(clock.pending).toEqual([c.intervalMs]);

    source.pause();
    clock.advance(c.intervalMs);
    await eventLoopTurns(3);
    expect(counter(source, c.pollsCounter)).toBe(1);
    source.resume();
    expect(counter(source, c.pollsCounter)).toBe(2);
    await waitFor(() => peer.pollsSeen() === 2, 'the second deferred poll reached the peer');
  });

  it('reports counters of kinds counter/gauge only, at sources.<name>', async () => {
    const { source, peer, clock } = await harness(c, 'named-source');
    expect(source.name).toBe('named-source');
    expect(source.type).toBe(c.type);
    expect(source.counterPath).toBe('sources.named-source');
    peer.serveMixed();
    await drive(source.pollNow(), clock);
    const m = reported(source);
    expect(m.size).toBeGreaterThan(0);
    for (const [key, { value, kind }] of m) {
      expect([key, ['counter', 'gauge'].includes(kind)]).toEqual([key, true]);
      expect([key, Number.isFinite(value) && value >= 0]).toEqual([key, true]);
    }
    for (const key of [c.deliveredCounter, c.pollsCounter, ...c.skippedCounters]) expect([key, m.get(key)?.kind]).toEqual([key, 'counter']);
  });
});
