import type { Relay } from '../../src/relay/relay';
import { freePorts, readWhisper, startCarbonCacheOn, type CarbonCache } from '../helpers/carbon';
import { stopRelay } from '../helpers/cleanup';
import { eventually } from '../helpers/poll';
import { startRelay, tempDirsRemovedAfterAll } from '../helpers/relay';
import { sendTcp, waitFor } from '../helpers/sink';

const newDir = tempDirsRemovedAfterAll();

/**
 * A real carbon-cache is down while the relay takes traffic; the relay spools
 * it (overflow mode) and, once the cache is up, replays it no faster than
 * replayRate: every datapoint ends up in its whisper files.
 */
describe('spool: carbon-cache down, then up', () => {
  let relay: Relay | undefined;
  let cache: CarbonCache | undefined;

  afterAll(async () => {
    try {
      await stopRelay(relay);
    } finally {
      await cache?.daemon.stop();
    }
  }, 30_000);

  it('every datapoint sent during the outage is in whisper afterwards, replayed within replayRate', async () => {
    const ports = await freePorts(3);
    const replayRate = 2000;
    relay = await startRelay({
      dataDir: newDir(),
      destinations: [{ name: 'cache', host: '127.0.0.1', port: ports[1], protocol: 'pickle', maxQueueSize: 1000, reconnect: { initialDelay: '50ms', maxDelay: '200ms' }, spool: { replayRate } }],
      rules: [{ default: true, destinations: ['cache'] }],
    });
    const d = relay.destinations.get('cache')!;
    // 100 series x 40 seconds, recent and aligned so each is its own 1 s whisper slot
    const T = Math.floor(Date.now() / 1000 / 10) * 10 - 300;
    const points: [string, number, number][] = [];
    for (let s = 0; s < 100; s++) for (let t = 0; t < 40; t++) points.push([`outage.series${s}`, T + t, s * 1000 + t + 0.5]);
    await sendTcp(relay.listeners.line!.port, points.map(([n, t, v]) => `${n} ${v} ${t}\n`).join(''));
    await waitFor(() => d.counters.attemptedRelays === points.length, 'all routed while the cache is down');
    expect(d.counters.fullQueueDrops).toBe(0);

    cache = await startCarbonCacheOn(ports, '1s:1h');
    const upAt = Date.now();
    await waitFor(() => d.counters.sent === points.length, 'replayed to carbon-cache', 60_000);
    // at most one second's worth goes out at once (a full token bucket), the rest at replayRate
    expect(Date.now() - upAt).toBeGreaterThanOrEqual(((points.length - replayRate) / replayRate) * 1000 - 100);

    const c = cache;
    const stored = await eventually(
      () => readWhisper(points.map(([n, t]) => ({ file: c.whisperFile(n), timestamp: t }))),
      (values) => values.every((v) => v !== null && !v.startsWith('error')),
      'carbon-cache to write every spooled datapoint',
      { timeoutMs: 60_000, intervalMs: 500, diagnostics: () => c.daemon.log },
    );
    expect(stored).toEqual(points.map(([, , v]) => String(v)));
  }, 120_000);
});
