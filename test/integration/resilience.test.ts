import net from 'node:net';
import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';
import { startRelay } from '../helpers/relay';
import type { Relay } from '../../src/relay/relay';

const lines = (prefix: string, n: number, ts = 1700000000): string =>
  Array.from({ length: n }, (_, i) => `${prefix}.${i} ${i} ${ts + i}\n`).join('');

/** A port with nothing listening on it (bound, then released). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('destinations under failure', () => {
  let relay: Relay | undefined;
  const servers: CaptureServer[] = [];
  const sink = async (protocol: 'pickle' | 'line' = 'pickle', port = 0): Promise<CaptureServer> => {
    const s = new CaptureServer(protocol);
    await s.listen(port);
    servers.push(s);
    return s;
  };

  afterEach(async () => {
    await relay?.stop(Date.now() + 1000);
    relay = undefined;
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('splits output into pickle frames of at most maxDatapointsPerMessage', async () => {
    const s = await sink();
    relay = await startRelay({
      destinations: [{ name: 'd', host: '127.0.0.1', port: s.port, maxDatapointsPerMessage: 500 }],
      rules: [{ default: true, destinations: ['d'] }],
    });
    await waitFor(() => relay!.destinations.get('d')!.isConnected, 'connected');
    await sendTcp(relay.listeners.line!.port, lines('batch', 1234));
    await waitFor(() => s.datapoints.length === 1234, '1234 datapoints');
    expect(s.datapoints.map((d) => d.name)).toEqual(Array.from({ length: 1234 }, (_, i) => `batch.${i}`));
    expect(Math.max(...s.frames.map((f) => f.length))).toBeGreaterThan(0);
    for (const f of s.frames) expect(countPickleItems(f)).toBeLessThanOrEqual(500);
    expect(relay.destinations.get('d')!.counters.sent).toBe(1234);
  });

  it('keeps queued datapoints across a destination restart and delivers them on reconnect', async () => {
    const first = await sink();
    const port = first.port;
    relay = await startRelay({
      destinations: [{ name: 'd', host: '127.0.0.1', port, reconnect: { initialDelay: '10ms', maxDelay: '50ms' } }],
      rules: [{ default: true, destinations: ['d'] }],
    });
    const d = relay.destinations.get('d')!;
    await sendTcp(relay.listeners.line!.port, lines('before', 10));
    await waitFor(() => first.datapoints.length === 10, 'first delivery');
    servers.splice(servers.indexOf(first), 1);
    await first.close();
    await waitFor(() => !d.isConnected, 'relay notices the destination is gone');
    await sendTcp(relay.listeners.line!.port, lines('during', 300));
    await waitFor(() => d.queue.length === 300, 'datapoints queued while down');
    const second = await sink('pickle', port);
    await waitFor(() => second.datapoints.length === 300, 'queued datapoints delivered after restart');
    expect(second.datapoints.map((x) => x.name)).toEqual(Array.from({ length: 300 }, (_, i) => `during.${i}`));
    expect(d.counters.queuedUntilConnected).toBe(300);
    expect(d.counters.connects).toBe(2);
  });

  it('a down destination never blocks or pauses a healthy one; its bounded queue drops and counts', async () => {
    const healthy = await sink('line');
    relay = await startRelay({
      destinations: [
        { name: 'down', host: '127.0.0.1', port: await deadPort(), maxQueueSize: 100, reconnect: { initialDelay: '10ms', maxDelay: '20ms' } },
        { name: 'up', host: '127.0.0.1', port: healthy.port, protocol: 'line' },
      ],
      rules: [{ default: true, destinations: ['down', 'up'] }],
    });
    await sendTcp(relay.listeners.line!.port, lines('m', 5000));
    await waitFor(() => healthy.datapoints.length === 5000, 'healthy destination got everything');
    const down = relay.destinations.get('down')!.counters;
    await waitFor(() => down.connectFailures > 0, 'connect failure counted');
    expect(down.attemptedRelays).toBe(5000);
    expect(down.fullQueueDrops).toBe(4900);
    expect(relay.destinations.get('down')!.queue.length).toBe(100);
    expect(relay.pipeline.paused).toBe(false);
  });

  it('pauses receivers while a connected destination is backed up, then delivers everything with no drops', async () => {
    const slow = await sink('pickle');
    relay = await startRelay({
      destinations: [{ name: 'slow', host: '127.0.0.1', port: slow.port, maxQueueSize: 20_000 }],
      rules: [{ default: true, destinations: ['slow'] }],
    });
    const d = relay.destinations.get('slow')!;
    await waitFor(() => d.isConnected && slow.connections === 1, 'connected');
    slow.pauseReading();
    // Far more than the loopback socket buffers plus the queue can hold.
    const total = 600_000;
    const payload = Buffer.from(lines('flow', total));
    const client = net.connect(relay.listeners.line!.port, '127.0.0.1');
    client.end(payload);
    await waitFor(() => relay!.pipeline.paused, 'pipeline pauses the receivers', 30_000);
    slow.resumeReading();
    await waitFor(() => slow.datapoints.length === total, 'everything delivered', 60_000);
    expect(d.counters.fullQueueDrops).toBe(0);
    expect(relay.pipeline.paused).toBe(false);
    expect(slow.datapoints[total - 1]).toEqual({ name: `flow.${total - 1}`, value: total - 1, timestamp: 1700000000 + total - 1 });
  }, 90_000);

  it('stops pausing receivers for a destination that stays connected but never drains (stallTimeout)', async () => {
    const stuck = await sink('pickle');
    relay = await startRelay({
      destinations: [{ name: 'stuck', host: '127.0.0.1', port: stuck.port, maxQueueSize: 20_000, stallTimeout: '300ms' }],
      rules: [{ default: true, destinations: ['stuck'] }],
    });
    const d = relay.destinations.get('stuck')!;
    await waitFor(() => d.isConnected && stuck.connections === 1, 'connected');
    stuck.pauseReading();
    const total = 600_000;
    let sent = false;
    const client = net.connect(relay.listeners.line!.port, '127.0.0.1');
    client.on('close', () => (sent = true));
    client.end(Buffer.from(lines('stall', total)));
    await waitFor(() => relay!.pipeline.paused, 'receivers paused first', 30_000);
    await waitFor(() => sent, 'sender was not blocked forever', 60_000);
    await waitFor(() => d.counters.attemptedRelays === total, 'every line routed', 30_000);
    expect(relay.pipeline.paused).toBe(false);
    expect(d.counters.fullQueueDrops).toBeGreaterThan(0);
    // Nothing vanishes: every routed datapoint was sent, is in the process's write buffer or queued, or was counted as dropped.
    expect(d.counters.sent + d.inFlight + d.queue.length + d.counters.fullQueueDrops).toBe(total);
  }, 120_000);

  it('a slow peer that drains a little at a time does not hold a fast one at its pace: it stalls (counted) and nothing is unaccounted for', async () => {
    // the slow peer reads 64 KiB every 20 ms (about 70,000 datapoints/s); how pauses add up is in the Destination unit tests (fake clock)
    const slowSockets = new Set<net.Socket>();
    const slowServer = net.createServer((sock) => {
      slowSockets.add(sock);
      sock.on('close', () => slowSockets.delete(sock));
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => slowServer.listen(0, '127.0.0.1', () => r()));
    const trickle = setInterval(() => {
      for (const sock of slowSockets) sock.read(Math.min(65_536, sock.readableLength));
    }, 20);
    const fast = await sink('pickle');
    try {
      relay = await startRelay({
        destinations: [
          { name: 'slow', host: '127.0.0.1', port: (slowServer.address() as net.AddressInfo).port, maxQueueSize: 20_000, stallTimeout: '300ms' },
          { name: 'fast', host: '127.0.0.1', port: fast.port, maxQueueSize: 2_000_000 },
        ],
        rules: [{ default: true, destinations: ['slow', 'fast'] }],
      });
      const d = relay.destinations.get('slow')!;
      await waitFor(() => d.isConnected && relay!.destinations.get('fast')!.isConnected, 'connected');
      const total = 1_000_000;
      const client = net.connect(relay.listeners.line!.port, '127.0.0.1');
      client.end(Buffer.from(lines('slowpeer', total)));
      await waitFor(() => d.counters.stalls >= 1, 'the slow destination stalls', 30_000);
      await waitFor(() => fast.datapoints.length === total, 'the fast destination gets everything', 30_000);
      await waitFor(() => d.counters.attemptedRelays === total, 'every line routed', 30_000);
      expect(d.counters.fullQueueDrops).toBeGreaterThan(0);
      expect(d.counters.sent + d.inFlight + d.queue.length + d.counters.fullQueueDrops).toBe(total);
    } finally {
      clearInterval(trickle);
      await relay?.stop(Date.now() + 500);
      relay = undefined;
      for (const sock of slowSockets) sock.destroy();
      await new Promise<void>((r) => slowServer.close(() => r()));
    }
  }, 120_000);

  it('flushes queued datapoints on stop and reports what a down destination could not deliver', async () => {
    const s = await sink('line');
    relay = await startRelay({
      destinations: [
        { name: 'ok', host: '127.0.0.1', port: s.port, protocol: 'line' },
        { name: 'gone', host: '127.0.0.1', port: await deadPort(), reconnect: { initialDelay: '10ms' } },
      ],
      rules: [{ default: true, destinations: ['ok', 'gone'] }],
    });
    await sendTcp(relay.listeners.line!.port, lines('shut', 2000));
    await waitFor(() => relay!.destinations.get('gone')!.queue.length === 2000, 'queued');
    const report = await relay.stop(Date.now() + 300);
    relay = undefined;
    expect(s.datapoints.length).toBe(2000);
    expect(report.destinations).toEqual([
      { name: 'ok', undelivered: 0, spooled: 0, abandoned: [] },
      { name: 'gone', undelivered: 2000, spooled: 0, abandoned: [] },
    ]);
  });
});

/** Count (name, (ts, value)) items in one of our frames: one BINUNICODE opcode per datapoint. */
function countPickleItems(frame: Buffer): number {
  let n = 0;
  let p = 4; // PROTO 2, EMPTY_LIST, MARK
  while (frame[p] === 0x58) {
    const len = frame.readUInt32LE(p + 1);
    p += 5 + len + 9 + 9 + 2;
    n++;
  }
  return n;
}
