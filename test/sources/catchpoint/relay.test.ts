import fs from 'node:fs';
import { Relay } from '../../../src/relay/relay';
import type { CatchpointSource } from '../../../src/sources/catchpoint/catchpoint-source';
import { configFrom, tempDir } from '../../helpers/relay';
import { CaptureServer, sendTcp, waitFor } from '../../helpers/sink';
import { captureLog } from '../../helpers/capture-log';
import { FakeCatchpoint, fixture, rawAnswer, type RawRequest, type Reply } from '../../helpers/fake-catchpoint';
import { drive, FakeClock } from '../../helpers/fake-clock';

const MIN = 60_000;
const T0 = Date.UTC(2024, 4, 1, 10, 15);
const sec = (isoTime: string): number => Date.parse(isoTime) / 1000;

/** A real relay whose only destination is a TCP line-protocol capture server (API key KEY), with a Catchpoint source on a fake clock. */
describe('relay with a catchpoint source', () => {
  let api: FakeCatchpoint;
  let capture: CaptureServer;
  let relay: Relay | undefined;
  let clock: FakeClock;
  let dir: string;

  beforeEach(async () => {
    api = new FakeCatchpoint();
    await api.listen();
    capture = new CaptureServer('line');
    await capture.listen();
    dir = tempDir();
  });
  afterEach(async () => {
    await relay?.stop(Date.now() + 1000);
    relay = undefined;
    await capture.close();
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(source: Record<string, unknown>): Promise<CatchpointSource> {
    clock = new FakeClock(T0);
    const config = configFrom(
      {
        listen: { line: { tcp: { host: '127.0.0.1', port: 0 } } },
        selfMetrics: { interval: 0, prefix: 'carbon.relays.test-a' },
        destinations: [{ name: 'cap', host: '127.0.0.1', port: capture.port, protocol: 'line', apiKey: 'KEY' }],
        rules: [{ default: true, destinations: ['cap'] }],
        sources: [
          {
            name: 'cp',
            type: 'catchpoint',
            baseUrl: api.baseUrl,
            clientId: '${CP_CLIENT_ID}',
            clientSecret: '${CP_CLIENT_SECRET}',
            tests: { web: [142619, 142620], transaction: [142602], traceroute: [142607] },
            ...source,
          },
        ],
      },
      { CP_CLIENT_ID: api.clientId, CP_CLIENT_SECRET: api.clientSecret },
      dir,
    );
    relay = Relay.fromConfig(config, { log: captureLog().log, now: clock.now, timers: clock });
    await relay.start();
    return relay.sources.get('cp') as CatchpointSource;
  }

  /** Let the scheduled poll run (advancing the fake clock by `ms` first), firing its retry waits. */
  async function pollAfter(src: CatchpointSource, ms: number): Promise<void> {
    clock.advance(ms);
    await drive(src.whenIdle(), clock);
  }

  const lines = (): string[] => capture.raw.toString('utf8').split('\n').filter((l) => l !== '');

  it('delivers the exact lines of three consecutive polls, windows adjacent, to a TCP destination', async () => {
    // First window: the recorded-shape fixtures. Later windows: transaction results on the window boundaries,
    // answered like an inclusive API (the item at a window's end comes back at the start of the next one).
    const script = new Map<string, Reply[]>([
      ['142619,142620', [{ body: fixture('raw-web.json') }, { body: fixture('raw-no-data.json') }, { status: 500 }, { body: fixture('raw-no-data.json') }]],
      ['142602', [{ body: fixture('raw-transaction.json') }]],
      ['142607', [{ body: fixture('raw-traceroute.json') }, { body: fixture('raw-message.json') }]],
    ]);
    api.raw = (r: RawRequest): Reply => {
      const queued = script.get(r.tests.join(','))?.shift();
      if (queued !== undefined) return queued;
      if (r.tests[0] !== 142602) return { body: fixture('raw-no-data.json') };
      const at = [r.startTime as string, r.endTime as string];
      return { body: rawAnswer(['DNS', 'Response'], at.map((time, i) => ({ time, test: 142602, node: 14, step: 1, values: [i + 1, 100 * (i + 1)] }))) };
    };
    const src = await start({ retry: { attempts: 2, initialDelay: '1s' } });

    await pollAfter(src, 0); // the first poll, at start: 10:00 .. 10:15
    await waitFor(() => lines().length === 36, '36 lines from the first poll');
    const t = { web1: sec('2024-05-01T10:03:12Z'), web2: sec('2024-05-01T10:08:40Z'), web3: sec('2024-05-01T10:11:05Z'), tx: sec('2024-05-01T10:05:00Z'), tr: sec('2024-05-01T10:06:30Z') };
    expect(lines()).toEqual([
      `KEY.catchpoint.testdata.DNS;testId=142619;nodeId=14 12 ${t.web1}`,
      `KEY.catchpoint.testdata.Connect;testId=142619;nodeId=14 31 ${t.web1}`,
      `KEY.catchpoint.testdata.SSL;testId=142619;nodeId=14 45.6 ${t.web1}`,
      `KEY.catchpoint.testdata.Wait;testId=142619;nodeId=14 120 ${t.web1}`,
      `KEY.catchpoint.testdata.Load;testId=142619;nodeId=14 310 ${t.web1}`,
      `KEY.catchpoint.testdata.Response;testId=142619;nodeId=14 518.6 ${t.web1}`,
      `KEY.catchpoint.testdata.ContentLoad;testId=142619;nodeId=14 1024 ${t.web1}`,
      `KEY.catchpoint.testdata.DNS;testId=142619;nodeId=25 8 ${t.web2}`,
      `KEY.catchpoint.testdata.Connect;testId=142619;nodeId=25 22 ${t.web2}`,
      `KEY.catchpoint.testdata.Wait;testId=142619;nodeId=25 95 ${t.web2}`,
      `KEY.catchpoint.testdata.Load;testId=142619;nodeId=25 280 ${t.web2}`,
      `KEY.catchpoint.testdata.Response;testId=142619;nodeId=25 405 ${t.web2}`,
      `KEY.catchpoint.testdata.ContentLoad;testId=142619;nodeId=25 980 ${t.web2}`,
      `KEY.catchpoint.testdata.DNS;testId=142620;nodeId=14 15 ${t.web3}`,
      `KEY.catchpoint.testdata.Connect;testId=142620;nodeId=14 40 ${t.web3}`,
      `KEY.catchpoint.testdata.SSL;testId=142620;nodeId=14 52 ${t.web3}`,
      `KEY.catchpoint.testdata.Wait;testId=142620;nodeId=14 133 ${t.web3}`,
      `KEY.catchpoint.testdata.Load;testId=142620;nodeId=14 301 ${t.web3}`,
      `KEY.catchpoint.testdata.Response;testId=142620;nodeId=14 541 ${t.web3}`,
      `KEY.catchpoint.testdata.ContentLoad;testId=142620;nodeId=14 1100 ${t.web3}`,
      `KEY.catchpoint.testdata.DNS;testId=142602;nodeId=14;stepNumber=1 10 ${t.tx}`,
      `KEY.catchpoint.testdata.Connect;testId=142602;nodeId=14;stepNumber=1 20 ${t.tx}`,
      `KEY.catchpoint.testdata.Wait;testId=142602;nodeId=14;stepNumber=1 100 ${t.tx}`,
      `KEY.catchpoint.testdata.Load;testId=142602;nodeId=14;stepNumber=1 200 ${t.tx}`,
      `KEY.catchpoint.testdata.Response;testId=142602;nodeId=14;stepNumber=1 330 ${t.tx}`,
      `KEY.catchpoint.testdata.DNS;testId=142602;nodeId=14;stepNumber=2 0 ${t.tx}`,
      `KEY.catchpoint.testdata.Connect;testId=142602;nodeId=14;stepNumber=2 0 ${t.tx}`,
      `KEY.catchpoint.testdata.Wait;testId=142602;nodeId=14;stepNumber=2 80 ${t.tx}`,
      `KEY.catchpoint.testdata.Load;testId=142602;nodeId=14;stepNumber=2 150 ${t.tx}`,
      `KEY.catchpoint.testdata.Response;testId=142602;nodeId=14;stepNumber=2 230 ${t.tx}`,
      `KEY.catchpoint.testdata.PingRTT;testId=142607;nodeId=25;hopNumber=1 1.2 ${t.tr}`,
      `KEY.catchpoint.testdata.PacketLoss;testId=142607;nodeId=25;hopNumber=1 0 ${t.tr}`,
      `KEY.catchpoint.testdata.PingRTT;testId=142607;nodeId=25;hopNumber=2 5.8 ${t.tr}`,
      `KEY.catchpoint.testdata.PacketLoss;testId=142607;nodeId=25;hopNumber=2 0 ${t.tr}`,
      `KEY.catchpoint.testdata.PingRTT;testId=142607;nodeId=25;hopNumber=3 11.4 ${t.tr}`,
      `KEY.catchpoint.testdata.PacketLoss;testId=142607;nodeId=25;hopNumber=3 33.3 ${t.tr}`,
    ]);

    // Second poll at 10:30: web no data, transaction's item at 10:15 (start: kept) and 10:30 (end: left to the next poll),
    // traceroute answers an error Message (its window stays at 10:15).
    await pollAfter(src, 15 * MIN);
    await waitFor(() => lines().length === 38, 'second poll');
    // Third poll at 10:45: web answers 500, then no data after a 1 s backoff; transaction's 10:30 item arrives once.
    await pollAfter(src, 15 * MIN);
    await waitFor(() => lines().length === 40, 'third poll');
    expect(lines().slice(36)).toEqual([
      `KEY.catchpoint.testdata.DNS;testId=142602;nodeId=14;stepNumber=1 1 ${sec('2024-05-01T10:15:00Z')}`,
      `KEY.catchpoint.testdata.Response;testId=142602;nodeId=14;stepNumber=1 100 ${sec('2024-05-01T10:15:00Z')}`,
      `KEY.catchpoint.testdata.DNS;testId=142602;nodeId=14;stepNumber=1 1 ${sec('2024-05-01T10:30:00Z')}`,
      `KEY.catchpoint.testdata.Response;testId=142602;nodeId=14;stepNumber=1 100 ${sec('2024-05-01T10:30:00Z')}`,
    ]);
    expect(api.rawRequests.map((r) => `${r.tests.join(',')} ${r.startTime} ${r.endTime}`)).toEqual([
      '142619,142620 2024-05-01T10:00:00.000Z 2024-05-01T10:15:00.000Z',
      '142602 2024-05-01T10:00:00.000Z 2024-05-01T10:15:00.000Z',
      '142607 2024-05-01T10:00:00.000Z 2024-05-01T10:15:00.000Z',
      '142619,142620 2024-05-01T10:15:00.000Z 2024-05-01T10:30:00.000Z',
      '142602 2024-05-01T10:15:00.000Z 2024-05-01T10:30:00.000Z',
      '142607 2024-05-01T10:15:00.000Z 2024-05-01T10:30:00.000Z',
      '142619,142620 2024-05-01T10:30:00.000Z 2024-05-01T10:45:00.000Z',
      '142619,142620 2024-05-01T10:30:00.000Z 2024-05-01T10:45:00.000Z',
      '142602 2024-05-01T10:30:00.000Z 2024-05-01T10:45:00.000Z',
      '142607 2024-05-01T10:15:00.000Z 2024-05-01T10:45:00.000Z',
    ]);
    expect(api.tokenRequests).toHaveLength(1);
    expect(relay!.counters.metricsReceived).toBe(40);
  });

  it('reports the source in self-metrics, next to the relay\'s own counters, as per-interval deltas', async () => {
    api.raw = (r) => (r.tests[0] === 142619 ? { body: fixture('raw-web.json') } : r.tests[0] === 142607 ? { body: fixture('raw-message.json') } : { body: fixture('raw-no-data.json') });
    const src = await start({});
    await pollAfter(src, 0);
    await waitFor(() => lines().length === 20, 'web lines');
    const emit = (): Map<string, number> => {
      const b = relay!.selfMetrics.emit();
      return new Map(Array.from({ length: b.length }, (_, i) => [b.names[i], b.values[i]]));
    };
    const first = emit();
    const p = 'carbon.relays.test-a';
    expect(first.get(`${p}.metricsReceived`)).toBe(20);
    expect(first.get(`${p}.sources.cp.polls`)).toBe(1);
    expect(first.get(`${p}.sources.cp.pollsFailed`)).toBe(1);
    expect(first.get(`${p}.sources.cp.datapoints`)).toBe(20);
    expect(first.get(`${p}.sources.cp.nullValues`)).toBe(1);
    expect(first.get(`${p}.sources.cp.apiCalls`)).toBe(4);
    expect(first.get(`${p}.sources.cp.apiErrors.message`)).toBe(1);
    expect(first.get(`${p}.sources.cp.apiErrors.server`)).toBe(0);
    expect(first.get(`${p}.sources.cp.lastSuccessTime`)).toBe(0);
    // routed like every self-metric: they reach the destination
    await waitFor(() => lines().some((l) => l.startsWith(`KEY.${p}.sources.cp.datapoints 20 `)), 'self-metrics delivered');

    api.raw = () => ({ body: fixture('raw-no-data.json') });
    await pollAfter(src, 15 * MIN);
    const second = emit();
    expect(second.get(`${p}.sources.cp.polls`)).toBe(1);
    expect(second.get(`${p}.sources.cp.datapoints`)).toBe(0);
    expect(second.get(`${p}.sources.cp.apiErrors.message`)).toBe(0);
    expect(second.get(`${p}.sources.cp.lastSuccessTime`)).toBe((T0 + 15 * MIN) / 1000);
  });

  it('bad credentials stop the source with a clear error, never the relay', async () => {
    const src = await start({ clientSecret: 'not-the-secret' });
    await pollAfter(src, 0);
    expect(src.failure).toMatch(/^the token endpoint refused the client credentials \(HTTP 401: "invalid_client"\)$/);
    expect(clock.pending).toEqual([]);
    await sendTcp(relay!.listeners.line!.port, 'still.relaying 1 1700000000\n');
    await waitFor(() => lines().includes('KEY.still.relaying 1 1700000000'), 'the relay still relays');
    const report = await relay!.stop(Date.now() + 1000);
    relay = undefined;
    expect(report.sources).toEqual([{ name: 'cp', undelivered: 0, abandoned: [], abandonedPoll: false }]);
  });

  it('on stop, what the source already polled is delivered before the destinations close', async () => {
    api.raw = (r) => (r.tests[0] === 142619 ? { body: fixture('raw-web.json') } : { body: fixture('raw-no-data.json') });
    const src = await start({});
    await pollAfter(src, 0);
    const report = await relay!.stop(Date.now() + 2000);
    relay = undefined;
    expect(report.undelivered).toBe(0);
    await waitFor(() => lines().length === 20, 'all 20 delivered');
  });
});
