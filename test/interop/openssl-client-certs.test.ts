import { spawn } from 'node:child_process';
import type { Relay } from '../../src/relay/relay';
import { captureLog } from '../helpers/capture-log';
import { makeClientCert, makeTestCa, type ClientCert, type TestCa } from '../helpers/certs';
import { stopRelay } from '../helpers/cleanup';
import { startRelay } from '../helpers/relay';
import { capturesClosedAfterEach, waitFor } from '../helpers/sink';

/**
 * Debian's `openssl s_client` as a TLS sender with (and without) a client
 * certificate: what an operator types to test a listener by hand, and what
 * stunnel-style senders do. The listener asks for a certificate signed by its
 * client CA; a line typed into s_client with one arrives, and without one the
 * connection is refused before anything it sent is read.
 */

interface SClientResult {
  code: number | null;
  output: string;
}

/** Pipe `input` through `openssl s_client` to the port; it exits at end of input (-no_ign_eof) or when the relay closes. */
function sClient(port: number, ca: TestCa, input: string, cert?: ClientCert): Promise<SClientResult> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', ca.caCert, '-verify_return_error', '-no_ign_eof', '-nocommands', '-brief'];
  if (cert !== undefined) args.push('-cert', cert.cert, '-key', cert.key);
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
    // a refused client may be gone before its input is written
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

describe('openssl s_client with client certificates against a TLS listener', () => {
  let serverCa: TestCa;
  let clientCa: TestCa;
  let otherCa: TestCa;
  let relay: Relay | undefined;
  const capture = capturesClosedAfterEach();

  beforeAll(() => {
    serverCa = makeTestCa();
    clientCa = makeTestCa();
    otherCa = makeTestCa();
  });

  afterEach(async () => {
    await stopRelay(relay);
    relay = undefined;
  });

  it('a line sent through s_client -cert/-key arrives with the subject logged; s_client without a certificate, or with one from another CA, is refused and counted', async () => {
    const out = await capture();
    const { log, entries } = captureLog();
    relay = await startRelay(
      {
        listen: { line: { tls: { host: '127.0.0.1', port: 0, cert: serverCa.serverCert, key: serverCa.serverKey, clientCa: clientCa.caCert } } },
        destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
        rules: [{ default: true, destinations: ['out'] }],
      },
      log,
    );
    const port = relay.listeners.lineTls!.port;
    const counters = relay.topology.counters.listener('line-tls', 'line');

    const refused = await sClient(port, serverCa, 'interop.refused.nocert 1 1700000000\n');
    await waitFor(() => counters.tlsHandshakeFailures === 1, `s_client without a certificate refused (s_client said: ${refused.output})`);
    const stranger = await sClient(port, serverCa, 'interop.refused.stranger 1 1700000000\n', makeClientCert(otherCa, 'stranger.example.com'));
    await waitFor(() => counters.tlsHandshakeFailures === 2, `s_client with another CA's certificate refused (s_client said: ${stranger.output})`);

    const ok = await sClient(port, serverCa, 'interop.s_client 42 1700000000\n', makeClientCert(clientCa, 'sender-07.example.com'));
    expect(ok.output).toMatch(/Verification: OK/);
    await waitFor(() => out.datapoints.length === 1, `the line from s_client relayed (s_client said: ${ok.output})`);
    expect(out.datapoints).toEqual([{ name: 'interop.s_client', value: 42, timestamp: 1700000000 }]);
    expect(counters.tlsHandshakeFailures).toBe(2);
    expect(counters.metricsReceived).toBe(1);
    expect(entries.find((e) => e.message === 'TLS client certificate accepted')).toMatchObject({ level: 'info', listener: 'line-tls', subject: 'sender-07.example.com', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(entries.find((e) => e.message === 'TLS client certificate refused')).toMatchObject({ level: 'warn', listener: 'line-tls', reason: 'no client certificate' });
  }, 60_000);
});
