import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';
import { startRelay } from '../helpers/relay';
import type { Relay } from '../../src/relay/relay';

describe('self-metrics', () => {
  let relay: Relay;
  let out: CaptureServer;

  beforeEach(async () => {
    out = new CaptureServer('line');
    await out.listen();
    relay = await startRelay({
      selfMetrics: { interval: 0, prefix: 'carbon.relays.test-a' },
      destinations: [
        { name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' },
        { name: 'full', host: '127.0.0.1', port: 1, maxQueueSize: 2, reconnect: { initialDelay: '1s' } },
      ],
      rules: [
        { pattern: '^to\\.full\\.', destinations: ['full'] },
        { pattern: '^carbon\\.relays\\.', destinations: ['out'] },
        { default: true, destinations: ['out'] },
      ],
    });
  });

  afterEach(async () => {
    await relay.stop(Date.now() + 200);
    await out.close();
  });

  it('emits per-interval drop counters by reason and destination counters through the rules', async () => {
    await sendTcp(relay.listeners.line!.port, 'ok.a 1 1700000000\nbroken\nx nan 1\nto.full.a 1 1\nto.full.b 1 1\nto.full.c 1 1\n');
    await waitFor(() => out.datapoints.length === 1, 'datapoint relayed');
    const first = relay.selfMetrics.emit();
    const values = new Map(Array.from({ length: first.length }, (_, i) => [first.names[i], first.values[i]]));
    expect(values.get('carbon.relays.test-a.metricsReceived')).toBe(4);
    expect(values.get('carbon.relays.test-a.invalidLines')).toBe(1);
    expect(values.get('carbon.relays.test-a.nanValues')).toBe(1);
    expect(values.get('carbon.relays.test-a.destinations.full.attemptedRelays')).toBe(3);
    expect(values.get('carbon.relays.test-a.destinations.full.fullQueueDrops')).toBe(1);
    expect(values.get('carbon.relays.test-a.destinations.full.queueLength')).toBe(2);
    expect(values.get('carbon.relays.test-a.destinations.out.sent')).toBe(1);
    await waitFor(() => out.datapoints.some((d) => d.name === 'carbon.relays.test-a.invalidLines'), 'self-metrics routed to out');
    // Deltas: a second interval with no traffic reports zero drops, and self-metrics are not "received".
    const second = relay.selfMetrics.emit();
    const v2 = new Map(Array.from({ length: second.length }, (_, i) => [second.names[i], second.values[i]]));
    expect(v2.get('carbon.relays.test-a.invalidLines')).toBe(0);
    expect(v2.get('carbon.relays.test-a.metricsReceived')).toBe(0);
    expect(v2.get('carbon.relays.test-a.destinations.full.fullQueueDrops')).toBe(0);
  });
});
