import type { CatchpointSourceConfig } from '../../src/config/schema';
import fs from 'node:fs';
import path from 'node:path';
import type { RelayConfig } from '../../src/config/load';
import { Relay } from '../../src/relay/relay';
import type { CatchpointSource } from '../../src/sources/catchpoint/catchpoint-source';
import { silentLogger } from '../../src/telemetry/logger';
import { configFrom, tempDirsRemovedAfterAll } from '../helpers/relay';
import { CaptureServer, waitFor, type Captured } from '../helpers/sink';
import { FakeCatchpoint, rawAnswer, type RawRequest, type Reply } from '../helpers/fake-catchpoint';
import { drive, FakeClock } from '../helpers/fake-clock';

const MIN = 60_000;
const T0 = Date.UTC(2024, 4, 1, 10, 15);
/** Values are minutes since BASE, so each datapoint says which minute it is. */
const BASE = T0 - 60 * MIN;
const WEB = 142619;
const TX = 142602;
const PREFIX = 'carbon.relays.test-a';

const iso = (ms: number): string => new Date(ms).toISOString();
/** The datapoint the relay must deliver for test `test` at minute `t` (ms). */
const point = (test: number, t: number): Captured => ({ name: `catchpoint.testdata.DNS;testId=${test};nodeId=14`, value: (t - BASE) / MIN, timestamp: t / 1000 });
/** Every minute in [from, to). */
const minutes = (from: number, to: number): number[] => Array.from({ length: (to - from) / MIN }, (_, i) => from + i * MIN);
const win = (tests: number[], from: number, to: number): string => `${tests.join(',')} ${iso(from)} ${iso(to)}`;

/**
 * Reloading pull sources on a real relay whose only destination is a TCP
 * line-protocol capture server, with a Catchpoint source against the fake
 * Catchpoint API on a fake clock, and a dataDir (positions in
 * dataDir/sources/<name>/position.json). The fake API answers every minute
 * of the asked window, both ends included (as the real one may): a minute is
 * delivered by exactly one poll only if windows are adjacent and each one's
 * end is left to the next.
 */
describe('reload: pull sources', () => {
  const newDir = tempDirsRemovedAfterAll();
  let api: FakeCatchpoint;
  let capture: CaptureServer;
  let relay: Relay | undefined;
  let clock: FakeClock;
  let dataDir: string;
  /** Every minute the fake API put in an answer, by test: what it served. */
  let served: { test: number; t: number; window: string }[];

  beforeEach(async () => {
    api = new FakeCatchpoint();
    await api.listen();
    served = [];
    api.raw = (r: RawRequest): Reply => {
      const from = Date.parse(r.startTime as string);
      const to = Date.parse(r.endTime as string);
      const items: { time: string; test: number; node: number; values: number[] }[] = [];
      for (const test of r.tests) {
        for (let t = from; t <= to; t += MIN) {
          items.push({ time: iso(t), test, node: 14, values: [(t - BASE) / MIN] });
          served.push({ test, t, window: win(r.tests, from, to) });
        }
      }
      return { body: rawAnswer(['DNS'], items) };
    };
    capture = new CaptureServer('line');
    await capture.listen();
    clock = new FakeClock(T0);
    dataDir = newDir();
  });

  afterEach(async () => {
    await relay?.stop(Date.now() + 1000);
    relay = undefined;
    await capture.close();
    await api.close();
  });

  function cpSource(name: string, over: Record<string, unknown> = {}): Record<string, unknown> {
    return { name, type: 'catchpoint', baseUrl: api.baseUrl, clientId: '${CP_CLIENT_ID}', clientSecret: '${CP_CLIENT_SECRET}', interval: '5m', tests: { web: [WEB] }, ...over };
  }

  /** A validated config (the real loader) with these sources. */
  function config(sources: Record<string, unknown>[], extra: Record<string, unknown> = {}): RelayConfig {
    return configFrom(
      {
        listen: { line: { tcp: { host: '127.0.0.1', port: 0 } } },
        admin: false,
        selfMetrics: { interval: 0, prefix: PREFIX },
        destinations: [{ name: 'cap', host: '127.0.0.1', port: capture.port, protocol: 'line' }],
        rules: [{ default: true, destinations: ['cap'] }],
        dataDir,
        sources,
        ...extra,
      },
      { CP_CLIENT_ID: api.clientId, CP_CLIENT_SECRET: api.clientSecret },
      newDir(),
    );
  }

  async function start(sources: Record<string, unknown>[], extra: Record<string, unknown> = {}): Promise<Relay> {
    relay = Relay.fromConfig(config(sources, extra), { log: silentLogger(), now: clock.now, timers: clock });
    await relay.start();
    return relay;
  }

  function source(r: Relay, name: string): CatchpointSource {
    const s = r.sources.get(name);
    if (s === undefined) throw new Error(`no source ${name}`);
    return s as CatchpointSource;
  }

  /** Move the fake clock by `ms` (firing the poll that falls due) and let that poll finish. */
  async function pollAfter(r: Relay, name: string, ms: number): Promise<void> {
    clock.advance(ms);
    await drive(source(r, name).whenIdle(), clock);
  }

  /** The source datapoints the destination received (self-metrics, which tests emit, are routed there too). */
  const delivered = (): Captured[] => capture.datapoints.filter((d) => d.name.startsWith('catchpoint.'));

  const windows = (): string[] => api.rawRequests.map((r) => win(r.tests, Date.parse(r.startTime as string), Date.parse(r.endTime as string)));

  /** What the API served minus each window's end minute (left to the next window): what must be delivered, once each. */
  const servedOnce = (): Captured[] => served.filter((s) => !s.window.endsWith(iso(s.t))).map((s) => point(s.test, s.t));

  function positionFile(name: string): { version: number; chunks: { type: string; tests: number[]; nextFrom: string }[] } {
    return JSON.parse(fs.readFileSync(path.join(dataDir, 'sources', name, 'position.json'), 'utf8')) as { version: number; chunks: { type: string; tests: number[]; nextFrom: string }[] };
  }

  function selfMetrics(r: Relay): Map<string, number> {
    const b = r.selfMetrics.emit();
    return new Map(Array.from({ length: b.length }, (_, i) => [b.names[i], b.values[i]]));
  }

  const sourceMetrics = (r: Relay): string[] => [...selfMetrics(r).keys()].filter((n) => n.startsWith(`${PREFIX}.sources.`));

  it('a reload that adds a source (none before) starts it: it polls, its datapoints reach the destination, its position is saved', async () => {
    const r = await start([]);
    expect(r.sources.size).toBe(0);
    expect(clock.pending).toEqual([]);

    const next = config([cpSource('cp')]);
    const report = await r.reload({ ...r.config, sources: next.sources });
    expect(report).toMatchObject({ result: 'applied', needsRestart: [], added: [], removed: [], kept: ['cap'], reconfigured: ['sources.cp'] });
    expect([...r.sources.keys()]).toEqual(['cp']);
    expect(clock.pending).toEqual([0]); // started: its first poll is due at once

    await pollAfter(r, 'cp', 0);
    await waitFor(() => delivered().length === 5, 'the first window delivered');
    expect(delivered()).toEqual(minutes(T0 - 5 * MIN, T0).map((t) => point(WEB, t)));
    await pollAfter(r, 'cp', 5 * MIN);
    await waitFor(() => delivered().length === 10, 'the second window delivered');
    expect(delivered()).toEqual(minutes(T0 - 5 * MIN, T0 + 5 * MIN).map((t) => point(WEB, t)));
    expect(windows()).toEqual([win([WEB], T0 - 5 * MIN, T0), win([WEB], T0, T0 + 5 * MIN)]);
    expect(delivered()).toEqual(servedOnce());
    expect(positionFile('cp')).toEqual({ version: 1, chunks: [{ type: 'web', tests: [WEB], nextFrom: iso(T0 + 5 * MIN) }] });

    expect(r.counters.metricsReceived).toBe(10);
    // its counters are in self-metrics
    const m = selfMetrics(r);
    expect(m.get(`${PREFIX}.sources.cp.polls`)).toBe(2);
    expect(m.get(`${PREFIX}.sources.cp.datapoints`)).toBe(10);
    // and the relay stops it
    const stopped = await r.stop(Date.now() + 1000);
    relay = undefined;
    expect(stopped.sources).toEqual([{ name: 'cp', undelivered: 0, abandoned: [], abandonedPoll: false }]);
    expect(clock.pending).toEqual([]);
  });

  it('a reload that changes a source\'s interval replaces it: the old one stops, the new one resumes from the saved position (no gap, no duplicate)', async () => {
    const r = await start([cpSource('cp')]);
    const old = source(r, 'cp');
    await pollAfter(r, 'cp', 0); // 10:10 .. 10:15
    await waitFor(() => delivered().length === 5, 'the first window delivered');
    expect(positionFile('cp').chunks).toEqual([{ type: 'web', tests: [WEB], nextFrom: iso(T0) }]);
    clock.advance(2 * MIN); // 10:17: the old source's next poll is due at 10:20
    expect(clock.pending).toEqual([5 * MIN]);
    expect(api.rawRequests).toHaveLength(1);

    const report = await r.reload({ ...r.config, sources: [{ ...(r.config.sources[0] as CatchpointSourceConfig), interval: 10 * MIN }] });
    expect(report).toMatchObject({ result: 'applied', needsRestart: [], added: [], removed: [], kept: ['cap'], reconfigured: ['sources.cp'] });
    const fresh = source(r, 'cp');
    expect(fresh).not.toBe(old);
    expect(fresh.config.interval).toBe(10 * MIN);
    expect(clock.pending).toEqual([0]); // the old source's 10:20 poll is gone; the new one polls at once
    expect((await old.pollNow()).calls).toBe(0); // stopped for good

    await pollAfter(r, 'cp', 0); // resumes at 10:15: 10:15 .. 10:17
    await waitFor(() => delivered().length === 7, 'the resumed window delivered');
    expect(clock.pending).toEqual([10 * MIN]);
    await pollAfter(r, 'cp', 10 * MIN); // 10:17 .. 10:27 (10:20 passes: no poll of the old source)
    await waitFor(() => delivered().length === 17, 'the next window delivered');

    expect(windows()).toEqual([win([WEB], T0 - 5 * MIN, T0), win([WEB], T0, T0 + 2 * MIN), win([WEB], T0 + 2 * MIN, T0 + 12 * MIN)]);
    // every minute from 10:10 to 10:27 exactly once, in order: what the API served, each window's end minute left to the next
    expect(delivered()).toEqual(minutes(T0 - 5 * MIN, T0 + 12 * MIN).map((t) => point(WEB, t)));
    expect(delivered()).toEqual(servedOnce());
    expect(positionFile('cp').chunks).toEqual([{ type: 'web', tests: [WEB], nextFrom: iso(T0 + 12 * MIN) }]);
    expect(r.counters.metricsReceived).toBe(17);
    expect([...r.sources.keys()]).toEqual(['cp']);
  });

  it('a reload that changes a source\'s tests: tests it had resume from the saved position, new ones start one interval back', async () => {
    const r = await start([cpSource('cp')]);
    await pollAfter(r, 'cp', 0); // web 10:10 .. 10:15
    await waitFor(() => delivered().length === 5, 'the first window delivered');
    clock.advance(3 * MIN); // 10:18

    const next = config([cpSource('cp', { tests: { web: [WEB], transaction: [TX] } })]);
    const report = await r.reload({ ...r.config, sources: next.sources });
    expect(report).toMatchObject({ result: 'applied', reconfigured: ['sources.cp'] });
    expect(clock.pending).toEqual([0]);
    await pollAfter(r, 'cp', 0);
    await waitFor(() => delivered().length === 5 + 3 + 5, 'both calls delivered');
    expect(windows()).toEqual([
      win([WEB], T0 - 5 * MIN, T0),
      win([WEB], T0, T0 + 3 * MIN), // resumed
      win([TX], T0 - 2 * MIN, T0 + 3 * MIN), // new: one interval back
    ]);
    expect(delivered()).toEqual([...minutes(T0 - 5 * MIN, T0 + 3 * MIN).map((t) => point(WEB, t)), ...minutes(T0 - 2 * MIN, T0 + 3 * MIN).map((t) => point(TX, t))]);
    expect(delivered()).toEqual(servedOnce());
    expect(positionFile('cp').chunks).toEqual([
      { type: 'web', tests: [WEB], nextFrom: iso(T0 + 3 * MIN) },
      { type: 'transaction', tests: [TX], nextFrom: iso(T0 + 3 * MIN) },
    ]);
  });

  it('a reload during a poll that does not finish in time: the poll is cancelled and the new source asks its window again (no gap)', async () => {
    // shutdownTimeout 1s: a changed source gets half of it to stop, a poll in flight half of that
    const r = await start([cpSource('cp')], { shutdownTimeout: '1s' });
    await pollAfter(r, 'cp', 0); // 10:10 .. 10:15
    await waitFor(() => delivered().length === 5, 'the first window delivered');
    api.rawReplies.push('hang');
    clock.advance(5 * MIN); // 10:20: the poll starts and its call never gets an answer
    await waitFor(() => api.rawRequests.length === 2, 'the hanging call made');
    const old = source(r, 'cp');

    const report = await r.reload({ ...r.config, sources: [{ ...(r.config.sources[0] as CatchpointSourceConfig), interval: 10 * MIN }] });
    expect(report).toMatchObject({ result: 'applied', reconfigured: ['sources.cp'] });
    await old.whenIdle(); // already over: stop() waited for it
    expect(old.counters.datapoints).toBe(5);
    expect(positionFile('cp').chunks).toEqual([{ type: 'web', tests: [WEB], nextFrom: iso(T0) }]);
    expect(clock.pending).toEqual([0]);

    await pollAfter(r, 'cp', 0);
    await waitFor(() => delivered().length === 10, 'the cancelled window delivered by the new source');
    expect(windows()).toEqual([win([WEB], T0 - 5 * MIN, T0), win([WEB], T0, T0 + 5 * MIN), win([WEB], T0, T0 + 5 * MIN)]);
    expect(delivered()).toEqual(minutes(T0 - 5 * MIN, T0 + 5 * MIN).map((t) => point(WEB, t)));
    expect(delivered()).toEqual(servedOnce()); // the hanging call served nothing
  });

  it('a reload that removes a source stops it: no more calls, whatever the clock does; its counters leave self-metrics', async () => {
    const r = await start([cpSource('cp')]);
    const old = source(r, 'cp');
    await pollAfter(r, 'cp', 0);
    await waitFor(() => delivered().length === 5, 'the first window delivered');
    expect(sourceMetrics(r).length).toBeGreaterThan(0);
    expect(clock.pending).toEqual([5 * MIN]);

    const report = await r.reload({ ...r.config, sources: [] });
    expect(report).toMatchObject({ result: 'applied', needsRestart: [], added: [], removed: [], kept: ['cap'], reconfigured: ['sources.cp'] });
    expect(r.sources.size).toBe(0);
    expect(clock.pending).toEqual([]); // its next poll was cancelled
    clock.advance(60 * MIN);
    expect(clock.fired).toEqual([0]); // only the first poll's timer ever fired
    expect((await old.pollNow()).calls).toBe(0);
    expect(sourceMetrics(r)).toEqual([]);

    // a source added later polls, and is the only one the API hears from
    const next = config([cpSource('cp2', { tests: { web: [WEB + 1] } })]);
    expect(await r.reload({ ...r.config, sources: next.sources })).toMatchObject({ result: 'applied', reconfigured: ['sources.cp2'] });
    await pollAfter(r, 'cp2', 0);
    await waitFor(() => delivered().length === 10, 'cp2 delivered');
    expect(windows()).toEqual([win([WEB], T0 - 5 * MIN, T0), win([WEB + 1], T0 + 55 * MIN, T0 + 60 * MIN)]);
    expect(delivered()).toEqual(servedOnce());
    expect(api.rawRequests.map((q) => q.tests)).toEqual([[WEB], [WEB + 1]]);
    const stopped = await r.stop(Date.now() + 1000);
    relay = undefined;
    expect(stopped.sources.map((s) => s.name)).toEqual(['cp2']);
  });

  it('self-metrics of a source a reload replaced are the new source\'s per-interval counts (a counter that starts over is not a negative delta)', async () => {
    const r = await start([cpSource('cp')]);
    await pollAfter(r, 'cp', 0); // old source: 1 poll, 2 API calls (token + data), 5 datapoints
    await waitFor(() => delivered().length === 5, 'the first window delivered');
    const before = selfMetrics(r);
    expect(before.get(`${PREFIX}.sources.cp.polls`)).toBe(1);
    expect(before.get(`${PREFIX}.sources.cp.datapoints`)).toBe(5);
    clock.advance(2 * MIN);
    await r.reload({ ...r.config, sources: [{ ...(r.config.sources[0] as CatchpointSourceConfig), interval: 10 * MIN }] });
    await pollAfter(r, 'cp', 0); // new source: 1 poll, 2 API calls, 2 datapoints
    await waitFor(() => delivered().length === 7, 'the resumed window delivered');
    const after = selfMetrics(r);
    expect(after.get(`${PREFIX}.metricsReceived`)).toBe(2);
    expect(after.get(`${PREFIX}.sources.cp.datapoints`)).toBe(2);
    expect(after.get(`${PREFIX}.sources.cp.polls`)).toBe(1);
    expect(after.get(`${PREFIX}.sources.cp.apiCalls`)).toBe(2);
  });

  it('a reload that leaves a source\'s settings alone keeps it as it is (same object, same schedule)', async () => {
    const r = await start([cpSource('cp')]);
    const kept = source(r, 'cp');
    await pollAfter(r, 'cp', 0);
    clock.advance(MIN);
    const report = await r.reload({ ...r.config, minTimestampResolution: 60 });
    expect(report).toMatchObject({ result: 'applied', reconfigured: ['minTimestampResolution'] });
    expect(source(r, 'cp')).toBe(kept);
    expect(clock.pending).toEqual([5 * MIN]);
    expect(api.rawRequests).toHaveLength(1);
  });

  it('a new dataDir needs a restart: nothing changes, the source keeps its position where it was', async () => {
    const r = await start([cpSource('cp')]);
    const kept = source(r, 'cp');
    await pollAfter(r, 'cp', 0);
    await waitFor(() => delivered().length === 5, 'the first window delivered');
    const hash = r.configHash;
    const otherDir = newDir();

    const report = await r.reload({ ...r.config, dataDir: otherDir });
    expect(report).toMatchObject({ result: 'restart_required', needsRestart: ['dataDir'], added: [], removed: [], kept: [], reconfigured: [] });
    // with other changes too, only dataDir is named, and they are not applied either
    const both = await r.reload({ ...r.config, dataDir: otherDir, sources: [{ ...(r.config.sources[0] as CatchpointSourceConfig), interval: 10 * MIN }] });
    expect(both).toMatchObject({ result: 'restart_required', needsRestart: ['dataDir'] });
    expect(r.config.dataDir).toBe(dataDir);
    expect(r.configHash).toBe(hash);
    expect(source(r, 'cp')).toBe(kept);
    expect(kept.config.interval).toBe(5 * MIN);
    expect(clock.pending).toEqual([5 * MIN]);
    expect(r.counters.reloadsRestartRequired).toBe(2);
    expect(r.counters.reloadsApplied).toBe(0);

    await pollAfter(r, 'cp', 5 * MIN);
    await waitFor(() => delivered().length === 10, 'the second window delivered');
    expect(positionFile('cp').chunks).toEqual([{ type: 'web', tests: [WEB], nextFrom: iso(T0 + 5 * MIN) }]);
    expect(fs.readdirSync(otherDir)).toEqual([]);
  });
});
