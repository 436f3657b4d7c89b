import fs from 'node:fs';
import tls from 'node:tls';
import { makeTestCa, type TestCa } from '../helpers/certs';
import { CaptureServer, waitFor } from '../helpers/sink';
import { startRelay } from '../helpers/relay';
import type { Relay } from '../../src/relay/relay';

describe('TLS without stunnel', () => {
  let ca: TestCa;
  let otherCa: TestCa;
  let relay: Relay | undefined;
  let server: CaptureServer | undefined;

  beforeAll(() => {
    ca = makeTestCa();
    otherCa = makeTestCa();
  });

  afterEach(async () => {
    await relay?.stop(Date.now() + 500);
    await server?.close();
    relay = undefined;
    server = undefined;
  });

  const tlsSink = async (): Promise<CaptureServer> => {
    server = new CaptureServer('pickle', { cert: fs.readFileSync(ca.serverCert), key: fs.readFileSync(ca.serverKey) });
    await server.listen();
    return server;
  };

  it('sends pickle over TLS to a server whose certificate chains to the configured CA', async () => {
    const s = await tlsSink();
    relay = await startRelay({
      destinations: [{ name: 'hg', host: '127.0.0.1', port: s.port, apiKey: 'KEY', tls: { ca: ca.caCert, servername: 'localhost' } }],
      rules: [{ default: true, destinations: ['hg'] }],
    });
    relay.pipeline.acceptMetric({ name: 'secure.metric', value: 7, timestamp: 1700000000 }, 'test');
    await waitFor(() => s.datapoints.length === 1, 'datapoint over TLS');
    expect(s.datapoints).toEqual([{ name: 'KEY.secure.metric', value: 7, timestamp: 1700000000 }]);
  });

  it.each([
    ['a CA that did not sign the server certificate', () => ({ ca: otherCa.caCert, servername: 'localhost' })],
    ['the system trust store (self-made CA is not in it)', () => true],
    ['a servername the certificate does not cover', () => ({ ca: ca.caCert, servername: 'carbon.example.com' })],
  ])('refuses %s: counted as a connect failure, never falls back to plaintext', async (_what, tlsOption) => {
    const s = await tlsSink();
    relay = await startRelay({
      destinations: [{ name: 'hg', host: '127.0.0.1', port: s.port, tls: tlsOption(), reconnect: { initialDelay: '10ms', maxDelay: '20ms' } }],
      rules: [{ default: true, destinations: ['hg'] }],
    });
    relay.pipeline.acceptMetric({ name: 'never.sent', value: 1, timestamp: 1700000000 }, 'test');
    const d = relay.destinations.get('hg')!;
    await waitFor(() => d.counters.connectFailures >= 2, 'repeated refusals');
    expect(d.isConnected).toBe(false);
    expect(d.counters.sent).toBe(0);
    expect(d.queue.length).toBe(1);
    expect(s.datapoints).toEqual([]);
  });

  it('accepts plaintext lines on the TLS listener', async () => {
    const sinkServer = new CaptureServer('line');
    server = sinkServer;
    await sinkServer.listen();
    relay = await startRelay({
      listen: { line: { tls: { host: '127.0.0.1', port: 0, cert: ca.serverCert, key: ca.serverKey } } },
      destinations: [{ name: 'out', host: '127.0.0.1', port: sinkServer.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
    const port = relay.listeners.lineTls!.port;
    await new Promise<void>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca.caCert), servername: 'localhost' }, () => {
        c.end('app.encrypted 3.5 1700000000\n');
      });
      c.on('error', reject);
      c.on('close', () => resolve());
    });
    await waitFor(() => sinkServer.datapoints.length === 1, 'line over TLS relayed');
    expect(sinkServer.datapoints).toEqual([{ name: 'app.encrypted', value: 3.5, timestamp: 1700000000 }]);
  });
});
