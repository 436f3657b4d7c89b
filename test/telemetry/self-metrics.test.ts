import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';
import { startRelay } from '../helpers/relay';
import type { Relay } from '../../src/relay/relay';
import type { MetricBatch } from '../../src/model/metric';
import type { CounterReporter, CounterVisitor } from '../../src/telemetry/counters';
import { SelfMetrics } from '../../src/telemetry/self-metrics';

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

  it('a reload with a new prefix is applied (reconfigured: selfMetrics) and the deltas carry on across it', async () => {
    const line = relay.listeners.line!.port;
    await sendTcp(line, 'ok.a 1 1700000000\nok.b 1 1700000000\n');
    await waitFor(() => out.datapoints.length === 2, 'two relayed');
    const before = valuesOf(relay.selfMetrics.emit());
    expect(before.get('carbon.relays.test-a.metricsReceived')).toBe(2);
    expect(before.get('carbon.relays.test-a.destinations.out.sent')).toBe(2);
    await sendTcp(line, 'ok.c 1 1700000000\nok.d 1 1700000000\nok.e 1 1700000000\n');
    await waitFor(() => out.datapoints.length === 5 + before.size, 'three more relayed, and the first interval');
    const report = await relay.reload({ ...relay.config, selfMetrics: { intervalMs: 0, prefix: 'carbon.relays.renamed-a' } });
    expect(report).toMatchObject({ result: 'applied', reconfigured: ['selfMetrics'], added: [], removed: [], kept: ['out', 'full'] });
    expect(relay.config.selfMetrics.prefix).toBe('carbon.relays.renamed-a');
    const after = valuesOf(relay.selfMetrics.emit());
    expect(after.get('carbon.relays.renamed-a.metricsReceived')).toBe(3);
    expect(after.get('carbon.relays.renamed-a.reloadsApplied')).toBe(1);
    expect([...after.keys()].filter((n) => !n.startsWith('carbon.relays.renamed-a.'))).toEqual([]);
    // routed through the rules under the new name
    await waitFor(() => out.datapoints.some((d) => d.name === 'carbon.relays.renamed-a.metricsReceived'), 'renamed self-metrics routed to out');
    expect(out.datapoints.filter((d) => d.name === 'carbon.relays.renamed-a.metricsReceived').map((d) => d.value)).toEqual([3]);
  });
});

/** A reporter whose one counter and one gauge the test sets. */
function fakeReporter(counterPath: string): CounterReporter & { count: number; gauge: number } {
  const r = {
    counterPath,
    count: 0,
    gauge: 0,
    reportCounters(visit: CounterVisitor): void {
      visit('polls', r.count, 'counter');
      visit('queueLength', r.gauge, 'gauge');
    },
  };
  return r;
}

function valuesOf(b: MetricBatch): Map<string, number> {
  return new Map(Array.from({ length: b.length }, (_, i) => [b.names[i], b.values[i]]));
}

describe('self-metrics reconfigure (reload)', () => {
  it('a new prefix: deltas carry on by counter key, so the first interval under the new prefix is the delta, not the total', () => {
    const source = fakeReporter('sources.cp');
    const relayWide = fakeReporter('');
    const sent: Map<string, number>[] = [];
    const m = new SelfMetrics({ intervalMs: 0, prefix: 'old' }, { reporters: () => [relayWide, source], emit: (b) => sent.push(valuesOf(b)), now: () => 1_700_000_000_000 });
    source.count = 5;
    relayWide.count = 2;
    source.gauge = 7;
    const first = valuesOf(m.emit());
    expect(first.get('old.sources.cp.polls')).toBe(5);
    expect(first.get('old.polls')).toBe(2);
    expect(first.get('old.sources.cp.queueLength')).toBe(7);

    source.count = 8;
    relayWide.count = 2;
    m.reconfigure({ intervalMs: 0, prefix: 'new' });
    const second = valuesOf(m.emit());
    expect(second.get('new.sources.cp.polls')).toBe(3);
    expect(second.get('new.polls')).toBe(0);
    expect(second.get('new.sources.cp.queueLength')).toBe(7); // a gauge is its value, not a delta
    expect([...second.keys()].filter((n) => n.startsWith('old.'))).toEqual([]);
    expect([...second.keys()].sort()).toEqual(['new.cpuUsage', 'new.memUsage', 'new.polls', 'new.queueLength', 'new.sources.cp.polls', 'new.sources.cp.queueLength']);
    // what emit() returned is what it routed
    expect(sent).toHaveLength(2);
    expect(sent[1].get('new.sources.cp.polls')).toBe(3);
  });

  describe('the interval', () => {
    beforeEach(() => {
      jest.useFakeTimers();
    });
    afterEach(() => {
      jest.useRealTimers();
    });

    function counting(intervalMs: number): { m: SelfMetrics; emitted: () => number } {
      let n = 0;
      const m = new SelfMetrics({ intervalMs, prefix: 'p' }, { reporters: () => [], emit: () => void n++ });
      return { m, emitted: () => n };
    }

    it('from 0 to a positive interval after start(): emissions start, every interval', async () => {
      const { m, emitted } = counting(0);
      await m.start();
      jest.advanceTimersByTime(10_000);
      expect(emitted()).toBe(0);
      m.reconfigure({ intervalMs: 1000, prefix: 'p' });
      jest.advanceTimersByTime(999);
      expect(emitted()).toBe(0);
      jest.advanceTimersByTime(1);
      expect(emitted()).toBe(1);
      jest.advanceTimersByTime(2000);
      expect(emitted()).toBe(3);
      await m.stop(Date.now() + 100); // running: stop emits a last interval
      expect(emitted()).toBe(4);
      jest.advanceTimersByTime(10_000);
      expect(emitted()).toBe(4);
    });

    it('from a positive interval to 0: emissions stop (and stop() sends no last interval)', async () => {
      const { m, emitted } = counting(1000);
      await m.start();
      jest.advanceTimersByTime(2000);
      expect(emitted()).toBe(2);
      m.reconfigure({ intervalMs: 0, prefix: 'p' });
      jest.advanceTimersByTime(10_000);
      expect(emitted()).toBe(2);
      await m.stop(Date.now() + 100);
      expect(emitted()).toBe(2);
    });

    it('from one positive interval to another: the new one only', async () => {
      const { m, emitted } = counting(1000);
      await m.start();
      jest.advanceTimersByTime(1500);
      expect(emitted()).toBe(1);
      m.reconfigure({ intervalMs: 5000, prefix: 'p' });
      jest.advanceTimersByTime(4999);
      expect(emitted()).toBe(1);
      jest.advanceTimersByTime(1);
      expect(emitted()).toBe(2);
      jest.advanceTimersByTime(10_000);
      expect(emitted()).toBe(4);
      await m.stop(Date.now() + 100);
    });

    it('before start() and after stop(), a positive interval starts no timer', async () => {
      const { m, emitted } = counting(0);
      m.reconfigure({ intervalMs: 1000, prefix: 'p' });
      jest.advanceTimersByTime(5000);
      expect(emitted()).toBe(0);
      await m.start(); // start() uses the interval in force
      jest.advanceTimersByTime(1000);
      expect(emitted()).toBe(1);
      await m.stop(Date.now() + 100);
      expect(emitted()).toBe(2);
      m.reconfigure({ intervalMs: 500, prefix: 'p' });
      jest.advanceTimersByTime(5000);
      expect(emitted()).toBe(2);
    });
  });
});
