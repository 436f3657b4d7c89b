import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { captureLog } from '../helpers/capture-log';
import { makeClientCert, makeTestCa, type ClientCert, type TestCa } from '../helpers/certs';
import { expectedDatapoints, pickleFixtures, type PickleFixture } from '../helpers/fixtures';
import { capturesClosedAfterEach, CaptureServer, waitFor } from '../helpers/sink';
import { startRelay, tempDirsRemovedAfterAll } from '../helpers/relay';
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

/** Connect over TLS, send `payload` once the handshake is done, and resolve when the connection is over (with the error that ended it, if any). */
async function sendOverTls(port: number, options: tls.ConnectionOptions, payload: string | Buffer): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let failure: Error | undefined;
    const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () => c.end(payload));
    c.on('error', (err) => (failure = err));
    c.on('close', () => resolve(failure));
  });
}

/** A Python-made pickle payload (test/fixtures/pickle-frames.json), with carbon's 4-byte length header. */
function framed(f: PickleFixture): Buffer {
  const payload = Buffer.from(f.hex, 'hex');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  return Buffer.concat([head, payload]);
}

describe('TLS listeners: pickle over TLS, client certificates, CA directories', () => {
  let ca: TestCa;
  let clientCa: TestCa;
  let otherCa: TestCa;
  let app: ClientCert;
  let stranger: ClientCert;
  let relay: Relay | undefined;
  const capture = capturesClosedAfterEach();
  const newDir = tempDirsRemovedAfterAll();

  beforeAll(() => {
    ca = makeTestCa();
    clientCa = makeTestCa();
    otherCa = makeTestCa();
    app = makeClientCert(clientCa, 'app-01.example.com');
    stranger = makeClientCert(otherCa, 'stranger');
  });

  afterEach(async () => {
    await relay?.stop(Date.now() + 500);
    relay = undefined;
  });

  const serverTls = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ host: '127.0.0.1', port: 0, cert: ca.serverCert, key: ca.serverKey, ...extra });
  const trustServer = (): tls.ConnectionOptions => ({ ca: fs.readFileSync(ca.caCert) });
  const withCert = (c: ClientCert): tls.ConnectionOptions => ({ ...trustServer(), cert: fs.readFileSync(c.cert), key: fs.readFileSync(c.key) });

  it('accepts carbon pickle frames over TLS (Hosted Graphite port 20040 style)', async () => {
    const out = await capture();
    relay = await startRelay({
      listen: { pickle: { tls: serverTls() } },
      destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
    const fixtures = pickleFixtures().filter((f) => f.id === 'basic-p2' || f.id === 'memo-long-p4');
    expect(fixtures).toHaveLength(2);
    const expected = fixtures.flatMap((f) => expectedDatapoints(f, 0));
    expect(await sendOverTls(relay.listeners.pickleTls!.port, trustServer(), Buffer.concat(fixtures.map(framed)))).toBeUndefined();
    await waitFor(() => out.datapoints.length === expected.length, 'both frames relayed');
    expect(out.datapoints.map((d) => d.name)).toEqual(expected.map((d) => d.name));
    expect(relay.topology.counters.listener('pickle-tls', 'pickle').metricsReceived).toBe(expected.length);
  });

  it('with clientCa: a client certificate the CA signed gets in (its subject logged); none, or one from another CA, is refused and counted', async () => {
    const out = await capture();
    const { log, entries } = captureLog();
    relay = await startRelay(
      {
        listen: { line: { tls: serverTls({ clientCa: clientCa.caCert }) } },
        destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
        rules: [{ default: true, destinations: ['out'] }],
      },
      log,
    );
    const port = relay.listeners.lineTls!.port;
    const counters = relay.topology.counters.listener('line-tls', 'line');

    await sendOverTls(port, trustServer(), 'refused.nocert 1 1700000000\n');
    await waitFor(() => counters.tlsHandshakeFailures === 1, 'a client without a certificate refused');
    await sendOverTls(port, withCert(stranger), 'refused.stranger 1 1700000000\n');
    await waitFor(() => counters.tlsHandshakeFailures === 2, 'a certificate from another CA refused');

    expect(await sendOverTls(port, withCert(app), 'accepted.app 1 1700000000\n')).toBeUndefined();
    await waitFor(() => out.datapoints.length === 1, 'the authenticated client relayed');
    expect(out.datapoints).toEqual([{ name: 'accepted.app', value: 1, timestamp: 1700000000 }]);
    expect(counters.tlsHandshakeFailures).toBe(2);
    expect(entries.filter((e) => e.message === 'TLS client certificate accepted')).toEqual([
      expect.objectContaining({ level: 'info', listener: 'line-tls', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/), subject: 'app-01.example.com', issuer: 'carbon-fanout test CA' }),
    ]);
    // both refusals come from 127.0.0.1: the second is within the interval, so it is counted but not logged
    expect(entries.filter((e) => e.message === 'TLS client certificate refused')).toEqual([
      { level: 'warn', message: 'TLS client certificate refused', listener: 'line-tls', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/), reason: 'no client certificate' },
    ]);
    const scrape = await (await fetch(`http://127.0.0.1:${relay.topology.admin!.port}/metrics`)).text();
    expect(scrape).toContain('carbon_fanout_tls_handshake_failures_total{listener="line-tls",protocol="line"} 2');
  });

  it('clientCaPath: a CA directory (c_rehash layout) on the pickle TLS listener; requireClientCert false lets certificate-less clients in, never untrusted ones', async () => {
    const dir = newDir();
    fs.copyFileSync(clientCa.caCert, path.join(dir, 'clients.pem'));
    fs.writeFileSync(path.join(dir, 'README'), 'CAs for client certificates\n');
    const out = await capture();
    const { log, entries } = captureLog();
    relay = await startRelay(
      {
        listen: { pickle: { tls: serverTls({ clientCaPath: dir, requireClientCert: false }) } },
        destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
        rules: [{ default: true, destinations: ['out'] }],
      },
      log,
    );
    const port = relay.listeners.pickleTls!.port;
    const counters = relay.topology.counters.listener('pickle-tls', 'pickle');
    const [fromStranger, fromApp, fromAnonymous] = ['toplevel-tuple-p2', 'basic-p2', 'memo-long-p4'].map((id) => pickleFixtures().find((f) => f.id === id)!);
    const accepted = [fromApp, fromAnonymous].flatMap((f) => expectedDatapoints(f, 0).map((d) => d.name));

    await sendOverTls(port, withCert(stranger), framed(fromStranger));
    await waitFor(() => counters.tlsHandshakeFailures === 1, 'an untrusted certificate refused');
    expect(entries.find((e) => e.message === 'TLS client certificate refused')).toMatchObject({ level: 'warn', listener: 'pickle-tls', subject: 'stranger', reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });

    expect(await sendOverTls(port, withCert(app), framed(fromApp))).toBeUndefined();
    expect(await sendOverTls(port, trustServer(), framed(fromAnonymous))).toBeUndefined();
    await waitFor(() => out.datapoints.length === accepted.length, 'the authenticated and the anonymous client relayed');
    expect(out.datapoints.map((d) => d.name).sort()).toEqual(accepted.sort());
    expect(counters.tlsHandshakeFailures).toBe(1);
    expect(entries.find((e) => e.message === 'TLS client certificate accepted')).toMatchObject({ subject: 'app-01.example.com' });
    expect(entries.find((e) => e.message === 'TLS client without a certificate')).toMatchObject({ level: 'info', listener: 'pickle-tls' });
  });
});

describe('TLS destinations: client certificates and CA directories', () => {
  let ca: TestCa;
  let clientCa: TestCa;
  let relayCert: ClientCert;
  let relay: Relay | undefined;
  let server: CaptureServer | undefined;
  const newDir = tempDirsRemovedAfterAll();

  beforeAll(() => {
    ca = makeTestCa();
    clientCa = makeTestCa();
    relayCert = makeClientCert(clientCa, 'relay-01');
  });

  afterEach(async () => {
    await relay?.stop(Date.now() + 500);
    await server?.close();
    relay = undefined;
    server = undefined;
  });

  /** A pickle receiver that requires a client certificate signed by clientCa. */
  const mutualTlsSink = async (): Promise<CaptureServer> => {
    const s = new CaptureServer('pickle', { cert: fs.readFileSync(ca.serverCert), key: fs.readFileSync(ca.serverKey), ca: fs.readFileSync(clientCa.caCert), requestCert: true, rejectUnauthorized: true });
    await s.listen();
    server = s;
    return s;
  };

  it('presents its client certificate to a peer that requires one, and verifies the peer against a CA directory', async () => {
    const s = await mutualTlsSink();
    const caDir = newDir();
    fs.copyFileSync(ca.caCert, path.join(caDir, 'servers.crt'));
    relay = await startRelay({
      destinations: [{ name: 'mtls', host: '127.0.0.1', port: s.port, tls: { caPath: caDir, servername: 'localhost', cert: relayCert.cert, key: relayCert.key } }],
      rules: [{ default: true, destinations: ['mtls'] }],
    });
    relay.pipeline.acceptMetric({ name: 'mutual.tls', value: 2, timestamp: 1700000000 }, 'test');
    await waitFor(() => s.datapoints.length === 1, 'datapoint over mutual TLS');
    expect(s.datapoints).toEqual([{ name: 'mutual.tls', value: 2, timestamp: 1700000000 }]);
  });

  it('without a client certificate the same peer refuses its connections', async () => {
    const s = await mutualTlsSink();
    relay = await startRelay({
      destinations: [{ name: 'mtls', host: '127.0.0.1', port: s.port, tls: { ca: ca.caCert, servername: 'localhost' }, reconnect: { initialDelay: '10ms', maxDelay: '20ms' } }],
      rules: [{ default: true, destinations: ['mtls'] }],
    });
    const d = relay.destinations.get('mtls')!;
    await waitFor(() => d.lastError !== undefined, 'the peer refuses the connection');
    expect(d.lastError?.reason).toMatch(/CERTIFICATE_REQUIRED|certificate required/i);
    expect(s.datapoints).toEqual([]);
  });
});
