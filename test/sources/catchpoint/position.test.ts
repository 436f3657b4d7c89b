import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatTimestamp, formatValue } from '../../../src/codec/line-encoder';
import { catchpointSourceSchema } from '../../../src/config/schema';
import type { MetricBatch } from '../../../src/model/metric';
import type { MetricSink } from '../../../src/model/metric-sink';
import { CatchpointSource } from '../../../src/sources/catchpoint/catchpoint-source';
import { captureLog, type LogEntry } from '../../helpers/capture-log';
import { FakeCatchpoint, rawAnswer, type RawRequest } from '../../helpers/fake-catchpoint';
import { drive, FakeClock } from '../../helpers/fake-clock';

/**
 * The Catchpoint source's saved position (SourceDeps.stateDir): a new source
 * object on the same directory resumes where the previous one stopped,
 * whatever time passed, within maxWindow.
 */

const MIN = 60_000;
const STEP = 5 * MIN;
/** 10:15 UTC: the first poll asks 10:00 .. 10:15. */
const T0 = Date.UTC(2024, 4, 1, 10, 15);
const at = (hm: string): number => Date.parse(`2024-05-01T${hm}:00.000Z`);
const iso = (ms: number): string => new Date(ms).toISOString();

class LineSink implements MetricSink {
  readonly lines: string[] = [];
  /** Called on each accept, before the lines are kept (tests look at the disk at that moment). */
  onAccept: () => void = () => undefined;

  accept(batch: MetricBatch, _origin: string): void {
    this.onAccept();
    for (let i = 0; i < batch.length; i++) this.lines.push(`${batch.names[i]} ${formatValue(batch.values[i])} ${formatTimestamp(batch.timestamps[i])}`);
  }
}

let api: FakeCatchpoint;
let tmp: string;
let stateDir: string;
beforeEach(async () => {
  api = new FakeCatchpoint();
  await api.listen();
  // Like an inclusive API with one result every 5 minutes per test: asked [start, end], it serves start <= time <= end.
  api.raw = (r: RawRequest) => {
    const from = Date.parse(r.startTime ?? '');
    const to = Date.parse(r.endTime ?? '');
    const items = [];
    for (let t = Math.ceil(from / STEP) * STEP; t <= to; t += STEP) for (const test of r.tests) items.push({ time: iso(t), test, node: 1, values: [1] });
    return { body: rawAnswer(['DNS'], items) };
  };
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-test-position-'));
  stateDir = path.join(tmp, 'sources', 'cp'); // does not exist yet: the first save creates it
});
afterEach(async () => {
  await api.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A new source object (as after a restart) on `dir` (null: no stateDir), sharing the test's clock. */
function source(clock: FakeClock, over: Record<string, unknown> = {}, dir: string | null = stateDir) {
  const cfg = catchpointSourceSchema.parse({
    name: 'cp',
    type: 'catchpoint',
    baseUrl: api.baseUrl,
    clientId: api.clientId,
    clientSecret: api.clientSecret,
    tests: { web: [1], api: [2] },
    retry: { attempts: 1 },
    ...over,
  });
  const sink = new LineSink();
  const { log, entries } = captureLog();
  const src = new CatchpointSource(cfg, { sink, log, now: clock.now, timers: clock, random: () => 0.5, ...(dir !== null && { stateDir: dir }) });
  return { src, sink, entries, poll: () => drive(src.pollNow(), clock) };
}

/** What the fake API holds for `tests` in [from, to), as the sink gets it. */
function expected(tests: number[], from: number, to: number): string[] {
  const out: string[] = [];
  for (const test of tests) for (let t = from; t < to; t += STEP) out.push(`catchpoint.testdata.DNS;testId=${test};nodeId=1 1 ${t / 1000}`);
  return out.sort();
}

const windows = (from = 0): string[] => api.rawRequests.slice(from).map((r) => `${r.tests.join(',')} ${r.startTime} ${r.endTime}`);
const stateFile = (dir = stateDir): string => path.join(dir, 'position.json');
const readState = (dir = stateDir): unknown => JSON.parse(fs.readFileSync(stateFile(dir), 'utf8'));
const warnings = (entries: LogEntry[]): LogEntry[] => entries.filter((e) => e.level === 'warn');

describe('CatchpointSource with stateDir: resume after a restart', () => {
  it('a 3-interval outage: the new source asks exactly the time since the last saved end; every datapoint is delivered once', async () => {
    const clock = new FakeClock(T0);
    const first = source(clock);
    await first.poll(); // 10:00 .. 10:15
    clock.advance(15 * MIN);
    await first.poll(); // 10:15 .. 10:30
    await first.src.stop(Date.now());
    expect(readState()).toEqual({
      version: 1,
      chunks: [
        { type: 'web', tests: [1], nextFrom: '2024-05-01T10:30:00.000Z' },
        { type: 'api', tests: [2], nextFrom: '2024-05-01T10:30:00.000Z' },
      ],
    });

    clock.advance(45 * MIN); // three intervals down: 11:15
    const second = source(clock);
    await second.src.start();
    clock.advance(0);
    await second.src.whenIdle();
    expect(windows(4)).toEqual(['1 2024-05-01T10:30:00.000Z 2024-05-01T11:15:00.000Z', '2 2024-05-01T10:30:00.000Z 2024-05-01T11:15:00.000Z']);
    clock.advance(15 * MIN); // and polling goes on from there
    await second.src.whenIdle();
    await second.src.stop(Date.now());

    expect(windows()).toEqual([
      '1 2024-05-01T10:00:00.000Z 2024-05-01T10:15:00.000Z',
      '2 2024-05-01T10:00:00.000Z 2024-05-01T10:15:00.000Z',
      '1 2024-05-01T10:15:00.000Z 2024-05-01T10:30:00.000Z',
      '2 2024-05-01T10:15:00.000Z 2024-05-01T10:30:00.000Z',
      '1 2024-05-01T10:30:00.000Z 2024-05-01T11:15:00.000Z',
      '2 2024-05-01T10:30:00.000Z 2024-05-01T11:15:00.000Z',
      '1 2024-05-01T11:15:00.000Z 2024-05-01T11:30:00.000Z',
      '2 2024-05-01T11:15:00.000Z 2024-05-01T11:30:00.000Z',
    ]);
    const delivered = [...first.sink.lines, ...second.sink.lines];
    expect(new Set(delivered).size).toBe(delivered.length); // no duplicate
    expect([...delivered].sort()).toEqual(expected([1, 2], at('10:00'), at('11:30'))); // no gap
    expect(second.src.counters.cappedWindows).toBe(0);
    expect(second.entries.find((e) => e.message === 'catchpoint: resuming from the saved position')).toMatchObject({
      source: 'cp',
      file: stateFile(),
      resumedCalls: 2,
      newCalls: 0,
      earliest: '2024-05-01T10:30:00.000Z',
    });
    expect(warnings(second.entries)).toEqual([]);
  });

  it('each call resumes from its own saved end: a call that failed before the restart asks its whole gap', async () => {
    const clock = new FakeClock(T0);
    const first = source(clock);
    await first.poll();
    clock.advance(15 * MIN);
    api.rawReplies.push({ body: rawAnswer(['DNS'], []) }, { status: 503 }); // web 1 answers, api 2 fails
    expect(await first.poll()).toMatchObject({ ok: false, failedCalls: 1 });
    await first.src.stop(Date.now());
    expect(readState()).toMatchObject({ chunks: [{ nextFrom: '2024-05-01T10:30:00.000Z' }, { nextFrom: '2024-05-01T10:15:00.000Z' }] });

    clock.advance(45 * MIN);
    const second = source(clock);
    await second.poll();
    expect(windows(4)).toEqual(['1 2024-05-01T10:30:00.000Z 2024-05-01T11:15:00.000Z', '2 2024-05-01T10:15:00.000Z 2024-05-01T11:15:00.000Z']);
    // web 1's 10:15 .. 10:30 answer was empty (scripted): everything else arrived once
    const delivered = [...first.sink.lines, ...second.sink.lines].sort();
    const lost = expected([1], at('10:15'), at('10:30'));
    expect(delivered).toEqual(expected([1, 2], at('10:00'), at('11:15')).filter((l) => !lost.includes(l)));
  });

  it('each window is handed to the sink, then its end saved before the next call; a crash in between asks it again (at least once)', async () => {
    const clock = new FakeClock(T0);
    const first = source(clock);
    const onDisk: unknown[] = [];
    const crashDir = path.join(tmp, 'crashed');
    first.sink.onAccept = () => {
      onDisk.push(fs.existsSync(stateFile()) ? readState() : null);
      // what a crash right now would leave on disk
      fs.rmSync(crashDir, { recursive: true, force: true });
      if (fs.existsSync(stateDir)) fs.cpSync(stateDir, crashDir, { recursive: true });
    };
    await first.poll();
    clock.advance(15 * MIN);
    await first.poll();
    const saved = (web: string, api2: string): unknown => ({
      version: 1,
      chunks: [
        { type: 'web', tests: [1], nextFrom: `2024-05-01T${web}:00.000Z` },
        { type: 'api', tests: [2], nextFrom: `2024-05-01T${api2}:00.000Z` },
      ],
    });
    // as each call's datapoints reach the sink: the file holds the previous windows' ends (api 2's first window starts at 10:00)
    expect(onDisk).toEqual([null, saved('10:15', '10:00'), saved('10:15', '10:15'), saved('10:30', '10:15')]);
    expect(readState()).toEqual(saved('10:30', '10:30'));

    clock.advance(15 * MIN);
    const afterCrash = source(clock, {}, crashDir);
    await afterCrash.poll();
    // a crash as api 2's 10:15 .. 10:30 was handed over: that window is asked again, web 1's is not
    expect(windows(4)).toEqual(['1 2024-05-01T10:30:00.000Z 2024-05-01T10:45:00.000Z', '2 2024-05-01T10:15:00.000Z 2024-05-01T10:45:00.000Z']);
  });

  it('tests regrouped between runs (batchSize): a call resumes from the earliest end saved for any of its tests', async () => {
    const clock = new FakeClock(T0);
    const first = source(clock, { tests: { web: [1, 2] }, batchSize: 1 });
    await first.poll();
    clock.advance(15 * MIN);
    api.rawReplies.push({ body: rawAnswer(['DNS'], []) }, { status: 503 });
    await first.poll();
    expect(readState()).toEqual({
      version: 1,
      chunks: [
        { type: 'web', tests: [1], nextFrom: '2024-05-01T10:30:00.000Z' },
        { type: 'web', tests: [2], nextFrom: '2024-05-01T10:15:00.000Z' },
      ],
    });
    clock.advance(15 * MIN);
    const second = source(clock, { tests: { web: [1, 2, 3] } });
    await second.poll();
    expect(windows(4)).toEqual(['1,2,3 2024-05-01T10:15:00.000Z 2024-05-01T10:45:00.000Z']);
    expect(readState()).toEqual({ version: 1, chunks: [{ type: 'web', tests: [1, 2, 3], nextFrom: '2024-05-01T10:45:00.000Z' }] });
  });
});

describe('CatchpointSource with stateDir: limits', () => {
  it('an outage longer than maxWindow: the window is capped, the skipped range warned and counted', async () => {
    const clock = new FakeClock(T0);
    const first = source(clock, { tests: { web: [1] }, maxWindow: '1h' });
    await first.poll(); // 10:00 .. 10:15
    await first.src.stop(Date.now());
    clock.advance(3 * 60 * MIN); // 13:15
    const second = source(clock, { tests: { web: [1] }, maxWindow: '1h' });
    await second.poll();
    expect(windows(1)).toEqual(['1 2024-05-01T12:15:00.000Z 2024-05-01T13:15:00.000Z']);
    expect(second.src.counters.cappedWindows).toBe(1);
    expect(warnings(second.entries)).toEqual([
      expect.objectContaining({
        message: 'catchpoint: catching up more than maxWindow; older data is not fetched',
        source: 'cp',
        tests: 'web 1',
        skippedFrom: '2024-05-01T10:15:00.000Z',
        skippedTo: '2024-05-01T12:15:00.000Z',
      }),
    ]);
    expect(second.sink.lines.sort()).toEqual(expected([1], at('12:15'), at('13:15')));
    expect(readState()).toEqual({ version: 1, chunks: [{ type: 'web', tests: [1], nextFrom: '2024-05-01T13:15:00.000Z' }] });
  });

  it('lag: the saved end is the window end (now - lag), and the resumed window ends lag before the poll', async () => {
    const clock = new FakeClock(T0);
    const first = source(clock, { tests: { web: [1] }, lag: '2m' });
    await first.poll();
    expect(readState()).toMatchObject({ chunks: [{ nextFrom: '2024-05-01T10:13:00.000Z' }] });
    clock.advance(45 * MIN);
    const second = source(clock, { tests: { web: [1] }, lag: '2m' });
    await second.poll();
    expect(windows()).toEqual(['1 2024-05-01T09:58:00.000Z 2024-05-01T10:13:00.000Z', '1 2024-05-01T10:13:00.000Z 2024-05-01T10:58:00.000Z']);
  });

  it('a saved position later than now (the clock stepped back): warned, that call starts one interval back', async () => {
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(stateFile(), JSON.stringify({ version: 1, chunks: [{ type: 'web', tests: [1], nextFrom: '2024-05-02T00:00:00.000Z' }] }));
    const clock = new FakeClock(T0);
    const s = source(clock, { tests: { web: [1] } });
    await s.poll();
    expect(windows()).toEqual(['1 2024-05-01T10:00:00.000Z 2024-05-01T10:15:00.000Z']);
    expect(warnings(s.entries)).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/^catchpoint: saved position is later than now/), tests: 'web 1', saved: '2024-05-02T00:00:00.000Z' }),
    ]);
    expect(readState()).toMatchObject({ chunks: [{ nextFrom: '2024-05-01T10:15:00.000Z' }] });
  });
});

describe('CatchpointSource with stateDir: the file', () => {
  it.each([
    ['not JSON', '{"version":1,"chunks":[', /^not JSON: /],
    ['an unknown version', '{"version":2,"chunks":[]}', /version/],
    ['a time that does not parse', '{"version":1,"chunks":[{"type":"web","tests":[1],"nextFrom":"yesterday"}]}', /not an ISO-8601 time/],
    ['no test ids', '{"version":1,"chunks":[{"type":"web","tests":[],"nextFrom":"2024-05-01T09:00:00.000Z"}]}', /tests/],
    ['an empty file (torn by a tool other than ours)', '', /^not JSON: /],
  ])('a corrupt state file (%s) is renamed .bad with a warning; the source starts as without state', async (_what, text, reason) => {
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(stateFile(), text);
    const clock = new FakeClock(T0);
    const s = source(clock, { tests: { web: [1] } });
    expect((await s.poll()).ok).toBe(true);
    expect(windows()).toEqual(['1 2024-05-01T10:00:00.000Z 2024-05-01T10:15:00.000Z']); // one interval back, as a new source
    expect(fs.readFileSync(`${stateFile()}.bad`, 'utf8')).toBe(text);
    expect(warnings(s.entries)).toEqual([
      expect.objectContaining({
        message: 'source state file is corrupt: renamed to .bad; starting without it',
        source: 'cp',
        file: stateFile(),
        renamedTo: `${stateFile()}.bad`,
        reason: expect.stringMatching(reason),
      }),
    ]);
    expect(readState()).toEqual({ version: 1, chunks: [{ type: 'web', tests: [1], nextFrom: '2024-05-01T10:15:00.000Z' }] });
    expect(s.entries.some((e) => e.message === 'catchpoint: resuming from the saved position')).toBe(false);
  });

  it('atomic write: after a successful poll the file parses, nothing else is in the directory (no .tmp)', async () => {
    const clock = new FakeClock(T0);
    const s = source(clock);
    expect(fs.existsSync(tmp)).toBe(true);
    expect(fs.existsSync(stateDir)).toBe(false);
    await s.poll();
    expect(fs.readdirSync(stateDir)).toEqual(['position.json']);
    const text = fs.readFileSync(stateFile(), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(JSON.parse(text)).toEqual({
      version: 1,
      chunks: [
        { type: 'web', tests: [1], nextFrom: '2024-05-01T10:15:00.000Z' },
        { type: 'api', tests: [2], nextFrom: '2024-05-01T10:15:00.000Z' },
      ],
    });
  });

  it('a .tmp left by a crash is removed at start and the saved position is used', async () => {
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(stateFile(), JSON.stringify({ version: 1, chunks: [{ type: 'web', tests: [1], nextFrom: '2024-05-01T09:30:00.000Z' }] }));
    fs.writeFileSync(`${stateFile()}.tmp`, '{"version":1,"chu');
    const clock = new FakeClock(T0);
    const s = source(clock, { tests: { web: [1] } });
    await s.poll();
    expect(windows()).toEqual(['1 2024-05-01T09:30:00.000Z 2024-05-01T10:15:00.000Z']);
    expect(fs.readdirSync(stateDir)).toEqual(['position.json']);
    expect(warnings(s.entries)).toEqual([]);
  });

  it('a state directory that cannot be written: logged once, counted, and polling goes on from memory', async () => {
    fs.writeFileSync(path.join(tmp, 'a-file'), '');
    const clock = new FakeClock(T0);
    const s = source(clock, { tests: { web: [1] } }, path.join(tmp, 'a-file', 'cp'));
    expect((await s.poll()).ok).toBe(true);
    clock.advance(15 * MIN);
    expect((await s.poll()).ok).toBe(true);
    expect(windows()).toEqual(['1 2024-05-01T10:00:00.000Z 2024-05-01T10:15:00.000Z', '1 2024-05-01T10:15:00.000Z 2024-05-01T10:30:00.000Z']);
    expect(s.sink.lines.sort()).toEqual(expected([1], at('10:00'), at('10:30')));
    // after each window, and once more at the end of each poll
    expect(s.src.counters.stateWriteErrors).toBe(4);
    const errors = s.entries.filter((e) => e.level === 'error');
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/^catchpoint: could not save the position/), source: 'cp' })]);
  });
});

describe('CatchpointSource without stateDir (unchanged)', () => {
  it('keeps its position in memory only: a new source asks one interval back, writing nothing', async () => {
    const clock = new FakeClock(T0);
    const cwdBefore = fs.readdirSync(process.cwd());
    const first = source(clock, { tests: { web: [1] } }, null);
    await first.poll();
    clock.advance(15 * MIN);
    await first.poll();
    await first.src.stop(Date.now());
    clock.advance(45 * MIN);
    const second = source(clock, { tests: { web: [1] } }, null);
    await second.poll();
    expect(windows()).toEqual([
      '1 2024-05-01T10:00:00.000Z 2024-05-01T10:15:00.000Z',
      '1 2024-05-01T10:15:00.000Z 2024-05-01T10:30:00.000Z',
      '1 2024-05-01T11:00:00.000Z 2024-05-01T11:15:00.000Z', // 10:30 .. 11:00 is never asked: what stateDir is for
    ]);
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(fs.readdirSync(process.cwd())).toEqual(cwdBefore);
    expect(second.entries.filter((e) => /position|state file/.test(e.message))).toEqual([]);
  });
});
