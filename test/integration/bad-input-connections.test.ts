import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Relay } from '../../src/relay/relay';
import { stopRelay } from '../helpers/cleanup';
import { startRelay } from '../helpers/relay';
import { CaptureServer, waitFor } from '../helpers/sink';

const lines = (prefix: string, n: number, ts = 1700000000): string => Array.from({ length: n }, (_, i) => `${prefix}.${i} ${i} ${ts + i}\n`).join('');

/** Connect, write everything, half-close, and resolve once the connection is gone (refused or served). */
async function sendAndClose(port: number, data: string | Buffer): Promise<void> {
  await new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(data));
    s.on('error', () => undefined); // a refused connection is reset; the caller looks at the relay's counters
    s.on('close', () => resolve());
  });
}

describe('connections that hold slots without sending datapoints', () => {
  let relay: Relay | undefined;
  let out: CaptureServer;
  const clients: net.Socket[] = [];

  beforeEach(async () => {
    out = new CaptureServer('line');
    await out.listen();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await stopRelay(relay, 500);
    relay = undefined;
    await out.close();
  });

  it('idle and slowloris connections filling maxConnections time out, and a normal client then gets through', async () => {
    relay = await startRelay({
      listen: { maxConnections: 8, idleTimeout: '200ms', line: { tcp: { host: '127.0.0.1', port: 0 } } },
      destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
    const r = relay;
    const port = r.listeners.line!.port;
    const closed: Promise<void>[] = [];
    const drips: NodeJS.Timeout[] = [];
    for (let i = 0; i < 8; i++) {
      const s = net.connect(port, '127.0.0.1');
      clients.push(s);
      s.on('error', () => undefined);
      closed.push(new Promise((resolve) => s.on('close', () => resolve())));
      if (i % 2 === 1) {
        // slowloris: bytes keep coming, a line never completes
        s.write(`slow.${i} `);
        drips.push(setInterval(() => s.write('1'), 20));
      }
    }
    try {
      await waitFor(() => r.counters.activeConnections === 8, 'every slot taken');
      const payload = lines('normal', 1000);
      let attempts = 0;
      while (r.counters.metricsReceived < 1000) {
        attempts++;
        await sendAndClose(port, payload);
        // refused while the slots are held (as a real sender, it retries); nothing is ever half-delivered
        if (r.counters.metricsReceived < 1000) await waitFor(() => r.counters.idleTimeouts === 8, 'held slots freed by the idle timeout');
      }
      await Promise.all(closed);
      await waitFor(() => out.datapoints.length === 1000, 'the normal client is delivered');
      expect(out.datapoints[999]).toEqual({ name: 'normal.999', value: 999, timestamp: 1700000999 });
      const c = r.counters;
      expect(c.idleTimeouts).toBe(8);
      expect(c.incompleteLines).toBe(4); // the slowloris partial lines, discarded and counted
      expect(c.connectionsRefused).toBe(attempts - 1);
      expect(c.connectionsRefusedPerClient).toBe(0);
      expect(c.metricsReceived).toBe(1000);
    } finally {
      for (const d of drips) clearInterval(d);
    }
  });
});

describe('shutdown reads what paused receivers hold', () => {
  let relay: Relay | undefined;
  let sink: CaptureServer;

  afterEach(async () => {
    await stopRelay(relay, 500);
    relay = undefined;
    await sink.close();
  });

  it('every datapoint a sender wrote before SIGTERM is delivered or counted, none cut with the connection', async () => {
    sink = new CaptureServer('line');
    await sink.listen();
    relay = await startRelay({
      listen: { line: { tcp: { host: '127.0.0.1', port: 0 } } },
      destinations: [{ name: 'slow', host: '127.0.0.1', port: sink.port, protocol: 'line', maxQueueSize: 1000 }],
      rules: [{ default: true, destinations: ['slow'] }],
    });
    const r = relay;
    const d = r.destinations.get('slow')!;
    await waitFor(() => d.isConnected && sink.connections === 1, 'destination connected');
    sink.pauseReading();
    // far more than the loopback socket buffers and the queue hold: the receiver is paused with bytes unread
    const total = 600_000;
    const client = net.connect(r.listeners.line!.port, '127.0.0.1');
    client.on('error', () => undefined);
    client.end(lines('held', total));
    await waitFor(() => r.pipeline.paused, 'flow control pauses the receiver', 30_000);
    const stopping = r.stop(Date.now() + 60_000);
    sink.resumeReading();
    const report = await stopping;
    relay = undefined; // stopped: only its temp dir is left to remove
    fs.rmSync(path.dirname(r.config.file), { recursive: true, force: true });
    await waitFor(() => sink.datapoints.length === d.counters.sent, 'the sink read everything written to it', 30_000);
    const c = d.counters;
    expect(r.counters.metricsReceived).toBe(total);
    expect(c.attemptedRelays).toBe(total);
    expect(sink.datapoints.length + c.fullQueueDrops + c.undeliveredAtShutdown).toBe(total);
    expect(report.undelivered).toBe(c.undeliveredAtShutdown);
    expect(report.components.find((x) => x.name === 'line')?.abandoned).toEqual([]);
  }, 120_000);
});
