import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Relay } from '../../src/relay/relay';
import { freePorts } from '../helpers/carbon';
import { startRelay, tempDirsRemovedAfterAll } from '../helpers/relay';
import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';
import { spoolSegmentBytes } from '../helpers/spool';

const newDir = tempDirsRemovedAfterAll();

function lines(n: number, prefix = 'spool.m'): string {
  let s = '';
  for (let i = 0; i < n; i++) s += `${prefix}.${i % 50} ${i} ${1_700_000_000 + i}\n`;
  return s;
}


describe('disk spool (overflow and always)', () => {
  let relay: Relay | undefined;
  let sink: CaptureServer | undefined;

  afterEach(async () => {
    await relay?.stop(Date.now() + 1000);
    await sink?.close();
    relay = undefined;
    sink = undefined;
  });

  function config(dataDir: string, port: number, spool: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      dataDir,
      destinations: [{ name: 'cache', host: '127.0.0.1', port, protocol: 'line', maxQueueSize: 1000, reconnect: { initialDelay: '20ms', maxDelay: '50ms' }, spool }],
      rules: [{ default: true, destinations: ['cache'] }],
    };
  }

  it('overflow: a destination down far longer than its memory queue loses nothing; the spool empties after', async () => {
    const dataDir = newDir();
    const [port] = await freePorts(1);
    relay = await startRelay(config(dataDir, port));
    const sent = 20_000; // 20x the memory queue
    await sendTcp(relay.listeners.line!.port, lines(sent));
    const d = relay.destinations.get('cache')!;
    await waitFor(() => d.counters.attemptedRelays === sent, 'all routed');
    expect(d.counters.fullQueueDrops).toBe(0);
    sink = new CaptureServer('line');
    await sink.listen(port);
    await waitFor(() => sink!.datapoints.length >= sent, 'every datapoint delivered after the outage', 20_000);
    expect(sink.datapoints.length).toBe(sent);
    expect(new Set(sink.datapoints.map((p) => p.value)).size).toBe(sent);
    await waitFor(() => spoolSegmentBytes(dataDir) === 0, 'spool segments deleted once delivered');
  });

  it('shutdown with the destination down spools what is queued; the next start delivers it', async () => {
    const dataDir = newDir();
    const [port] = await freePorts(1);
    relay = await startRelay(config(dataDir, port));
    const sent = 3000;
    await sendTcp(relay.listeners.line!.port, lines(sent));
    const d = relay.destinations.get('cache')!;
    await waitFor(() => d.counters.attemptedRelays === sent, 'all routed');
    const report = await relay.stop(Date.now() + 300);
    relay = undefined;
    expect(report.undelivered).toBe(0);
    expect(spoolSegmentBytes(dataDir)).toBeGreaterThan(0);
    sink = new CaptureServer('line');
    await sink.listen(port);
    relay = await startRelay(config(dataDir, port));
    await waitFor(() => sink!.datapoints.length >= sent, 'spooled datapoints delivered after restart', 20_000);
    expect(sink.datapoints.length).toBe(sent);
    expect(sink.datapoints.map((p) => p.value).sort((a, b) => a - b)).toEqual(Array.from({ length: sent }, (_, i) => i));
  });

  it('always: every datapoint goes through the spool and arrives once', async () => {
    const dataDir = newDir();
    sink = new CaptureServer('line');
    const port = await sink.listen();
    relay = await startRelay(config(dataDir, port, { mode: 'always' }));
    const sent = 5000;
    await sendTcp(relay.listeners.line!.port, lines(sent));
    await waitFor(() => sink!.datapoints.length >= sent, 'delivered', 20_000);
    expect(sink.datapoints.length).toBe(sent);
    const written = new Map<string, number>();
    relay.destinations.get('cache')!.reportCounters((k, v) => written.set(k, v));
    expect(written.get('spool.written')).toBe(sent);
    await waitFor(() => spoolSegmentBytes(dataDir) === 0, 'spool empty once delivered');
  });

  it('a slow destination spills to disk instead of pausing the receivers: the fast one is never held back; both get everything', async () => {
    const dataDir = newDir();
    const fast = new CaptureServer('line');
    const fastPort = await fast.listen();
    sink = new CaptureServer('line');
    const slowPort = await sink.listen();
    relay = await startRelay({
      dataDir,
      destinations: [
        { name: 'fast', host: '127.0.0.1', port: fastPort, protocol: 'line', maxQueueSize: 1000 },
        { name: 'slow', host: '127.0.0.1', port: slowPort, protocol: 'line', maxQueueSize: 1000 },
      ],
      rules: [{ default: true, destinations: ['fast', 'slow'] }],
    });
    const slow = relay.destinations.get('slow')!;
    await waitFor(() => slow.isConnected && sink!.connections === 1, 'slow connected');
    sink.pauseReading(); // the slow peer stops reading: its socket buffers fill, then its memory queue
    const sent = 60_000;
    await sendTcp(relay.listeners.line!.port, lines(sent, 'slow.x'));
    await waitFor(() => fast.datapoints.length >= sent, 'the fast destination got everything while the slow one was stuck', 20_000);
    expect(relay.pipeline.paused).toBe(false);
    const spooled = new Map<string, number>();
    slow.reportCounters((k, v) => spooled.set(k, v));
    expect(spooled.get('spool.written')).toBeGreaterThan(0);
    expect(slow.counters.fullQueueDrops).toBe(0);
    sink.resumeReading();
    await waitFor(() => sink!.datapoints.length >= sent, 'the slow destination caught up from its spool', 30_000);
    expect(sink.datapoints.length).toBe(sent);
    expect(fast.datapoints.length).toBe(sent);
    await fast.close();
  });

  it('a record corrupted on disk before a start is skipped and counted; every other datapoint is delivered', async () => {
    const dataDir = newDir();
    const [port] = await freePorts(1);
    relay = await startRelay(config(dataDir, port));
    const sent = 3000;
    await sendTcp(relay.listeners.line!.port, lines(sent));
    const d = relay.destinations.get('cache')!;
    await waitFor(() => d.counters.attemptedRelays === sent, 'all routed');
    await relay.stop(Date.now() + 100);
    relay = undefined;
    // flip one byte inside the first record's payload (past the 56-byte segment header and the 8-byte record header)
    const root = path.join(dataDir, 'spool');
    const dir = path.join(root, fs.readdirSync(root)[0]);
    const first = path.join(dir, fs.readdirSync(dir).filter((f) => f.endsWith('.seg')).sort()[0]);
    const bytes = fs.readFileSync(first);
    bytes[56 + 8 + 20] ^= 0xff;
    fs.writeFileSync(first, bytes);

    sink = new CaptureServer('line');
    await sink.listen(port);
    relay = await startRelay(config(dataDir, port));
    const d2 = relay.destinations.get('cache')!;
    const counters = (): Map<string, number> => {
      const m = new Map<string, number>();
      d2.reportCounters((k, v) => m.set(k, v));
      return m;
    };
    await waitFor(() => {
      const c = counters();
      return c.get('spool.corruptRecords') === 1 && sink!.datapoints.length + (c.get('spool.corruptDatapoints') ?? 0) === sent;
    }, 'everything delivered but the corrupt record, which is counted', 20_000);
    const c = counters();
    expect(sink.datapoints.length).toBeLessThan(sent);
    expect(sink.datapoints.length + (c.get('spool.corruptDatapoints') ?? 0)).toBe(sent);
    expect(new Set(sink.datapoints.map((p) => p.value)).size).toBe(sink.datapoints.length);
  });

  describe('a full spool (maxBytes) in each whenFull mode, destination down: sent = delivered + counted drops', () => {
    const sent = 60_000; // about 2.3 MiB of records: more than the 1 MiB spool
    const full = (mode: string): Record<string, unknown> => ({ maxBytes: '1MiB', segmentBytes: '64KiB', whenFull: mode });

    function spoolCounters(r: Relay): Map<string, number> {
      const m = new Map<string, number>();
      r.destinations.get('cache')!.reportCounters((k, v) => m.set(k, v));
      return m;
    }

    it.each([
      ['drop_oldest', 'the newest are kept'],
      ['drop_newest', 'the oldest are kept'],
    ])('%s: %s, the rest counted as droppedFull', async (mode) => {
      const dataDir = newDir();
      const [port] = await freePorts(1);
      relay = await startRelay(config(dataDir, port, full(mode)));
      await sendTcp(relay.listeners.line!.port, lines(sent));
      const r = relay;
      await waitFor(() => {
        const c = spoolCounters(r);
        return (c.get('spool.written') ?? 0) + (c.get('spool.droppedFull') ?? 0) >= sent;
      }, 'every datapoint written or refused');
      sink = new CaptureServer('line');
      await sink.listen(port);
      await waitFor(() => sink!.datapoints.length + (spoolCounters(r).get('spool.droppedFull') ?? 0) === sent, 'delivered + dropped = sent', 20_000);
      const dropped = spoolCounters(r).get('spool.droppedFull') ?? 0;
      expect(dropped).toBeGreaterThan(0);
      expect(r.destinations.get('cache')!.counters.fullQueueDrops).toBe(0);
      const values = sink.datapoints.map((p) => p.value);
      if (mode === 'drop_oldest') expect(Math.max(...values)).toBe(sent - 1);
      else expect(Math.min(...values)).toBe(0);
    });

    it('block: the receivers are paused instead, so nothing is lost: once the destination is up every datapoint arrives', async () => {
      const dataDir = newDir();
      const [port] = await freePorts(1);
      // the memory bound (10,000) also holds what arrives while the receivers' pause takes effect (a 64 KiB chunk in flight)
      relay = await startRelay({ ...config(dataDir, port, full('block')), destinations: [{ name: 'cache', host: '127.0.0.1', port, protocol: 'line', maxQueueSize: 10_000, reconnect: { initialDelay: '20ms', maxDelay: '50ms' }, spool: full('block') }] });
      const r = relay;
      const sending = sendTcp(r.listeners.line!.port, lines(sent)); // held back by TCP while the spool is full
      await waitFor(() => r.pipeline.paused, 'receivers paused by the full spool');
      sink = new CaptureServer('line');
      await sink.listen(port);
      await sending;
      await waitFor(() => sink!.datapoints.length === sent, 'every datapoint delivered', 30_000);
      expect(new Set(sink.datapoints.map((p) => p.value)).size).toBe(sent);
      const c = spoolCounters(r);
      expect([c.get('spool.droppedFull'), c.get('spool.lostBlocked'), r.destinations.get('cache')!.counters.fullQueueDrops]).toEqual([0, 0, 0]);
    });
  });

  it('SIGTERM-style stop under load with the destination down: every datapoint the relay accepted is delivered after the restart', async () => {
    const dataDir = newDir();
    const [port] = await freePorts(1);
    relay = await startRelay(config(dataDir, port));
    const r = relay;
    const client = net.connect(r.listeners.line!.port, '127.0.0.1');
    client.on('error', () => undefined); // the relay closes it mid-stream
    client.write(lines(300_000)); // ~11 MB: still arriving when the relay stops
    await waitFor(() => r.counters.metricsReceived > 20_000, 'load flowing');
    const report = await r.stop(Date.now() + 200);
    relay = undefined;
    client.destroy();
    const accepted = r.counters.metricsReceived;
    expect(accepted).toBeLessThan(300_000);
    expect(report.undelivered).toBe(0);
    expect(r.destinations.get('cache')!.counters.attemptedRelays).toBe(accepted);

    sink = new CaptureServer('line');
    await sink.listen(port);
    relay = await startRelay(config(dataDir, port));
    await waitFor(() => sink!.datapoints.length >= accepted, 'everything accepted before the stop is delivered', 30_000);
    expect(sink.datapoints.length).toBe(accepted);
    expect(new Set(sink.datapoints.map((p) => p.value)).size).toBe(accepted);
  });
});
