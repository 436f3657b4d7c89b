import net from 'node:net';
import { CaptureServer, waitFor } from '../helpers/sink';
import { startRelay } from '../helpers/relay';
import type { Relay } from '../../src/relay/relay';

describe('StreamListener connection limit', () => {
  let relay: Relay;
  let out: CaptureServer;
  const clients: net.Socket[] = [];

  beforeEach(async () => {
    out = new CaptureServer('line');
    await out.listen();
    relay = await startRelay({
      listen: { maxConnections: 2, line: { tcp: { host: '127.0.0.1', port: 0 } } },
      destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
  });

  afterEach(async () => {
    for (const c of clients) c.destroy();
    await relay.stop(Date.now() + 500);
    await out.close();
  });

  const open = async (): Promise<{ socket: net.Socket; closed: () => boolean }> => {
    const socket = net.connect(relay.listeners.line!.port, '127.0.0.1');
    clients.push(socket);
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    return { socket, closed: () => closed };
  };

  it('refuses connections beyond maxConnections and keeps serving the others', async () => {
    const a = await open();
    const b = await open();
    await waitFor(() => relay.counters.activeConnections === 2, 'two connections accepted');
    const c = await open();
    await waitFor(() => c.closed(), 'third connection closed by the relay');
    a.socket.write('limit.a 1 1700000000\n');
    b.socket.write('limit.b 2 1700000000\n');
    await waitFor(() => out.datapoints.length === 2, 'both accepted connections still relay');
    expect(out.datapoints.map((d) => d.name).sort()).toEqual(['limit.a', 'limit.b']);
    expect(relay.counters.activeConnections).toBe(2);
  });
});
