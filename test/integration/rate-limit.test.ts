import { Relay } from '../../src/relay/relay';
import { silentLogger } from '../../src/telemetry/logger';
import { FakeClock } from '../helpers/fake-clock';
import { stopRelay } from '../helpers/cleanup';
import { configFrom, EPHEMERAL_LISTEN } from '../helpers/relay';
import { capturesClosedAfterEach, sendTcp, waitFor } from '../helpers/sink';

/**
 * maxRate end to end: lines in over TCP, out to a real receiver, paced by the
 * relay's injected clock (the test moves it), so the pace is measured without
 * depending on wall time.
 */
describe('maxRate through a relay', () => {
  const capture = capturesClosedAfterEach();
  let relay: Relay | undefined;

  afterEach(async () => {
    await stopRelay(relay, 500);
    relay = undefined;
  });

  it('a burst of 2000 lines to a destination limited to 2000/s: all arrive, at most 200 + 2000/s of the injected clock, while an unlimited destination gets them at once', async () => {
    const limitedOut = await capture();
    const fastOut = await capture();
    const clock = new FakeClock(1_700_000_000_000);
    relay = Relay.fromConfig(
      configFrom({
        listen: EPHEMERAL_LISTEN,
        admin: false,
        selfMetrics: { interval: 0 },
        destinations: [
          { name: 'limited', host: '127.0.0.1', port: limitedOut.port, protocol: 'line', maxRate: 2000 },
          { name: 'fast', host: '127.0.0.1', port: fastOut.port, protocol: 'line' },
        ],
        rules: [{ default: true, destinations: ['limited', 'fast'] }],
      }),
      { log: silentLogger(), now: clock.now, timers: clock },
    );
    await relay.start();
    const n = 2000;
    await sendTcp(relay.listeners.line!.port, Array.from({ length: n }, (_, i) => `burst.${i} ${i} 1700000000\n`).join(''));
    await waitFor(() => fastOut.datapoints.length === n, 'the unlimited destination has every line');
    const start = clock.now();
    while (limitedOut.datapoints.length < n) {
      await waitFor(() => clock.pending.length === 1 || limitedOut.datapoints.length === n, 'the limited writer waits for tokens, or is done');
      expect(limitedOut.datapoints.length).toBeLessThanOrEqual(200 + ((clock.now() - start) / 1000) * 2000);
      if (limitedOut.datapoints.length === n) break;
      clock.advance(100);
    }
    expect(limitedOut.datapoints.map((d) => d.value)).toEqual(Array.from({ length: n }, (_, i) => i));
    // 2000 at 2000/s, 200 of them saved up: 0.9 s on the relay's clock, never less
    expect(clock.now() - start).toBe(900);
    const limited = relay.destinations.get('limited')!;
    expect(limited.counters).toMatchObject({ sent: n, fullQueueDrops: 0, rateLimitWaits: 9 });
    expect(relay.destinations.get('fast')!.counters.rateLimitWaits).toBe(0);
  });
});
