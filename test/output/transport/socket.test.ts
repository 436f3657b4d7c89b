import fs from 'node:fs';
import { SocketTransport, type SocketTransportOptions } from '../../../src/output/transport/socket';
import type { Connection } from '../../../src/output/transport/transport';
import { freePorts } from '../../helpers/carbon';
import { makeTestCa, type TestCa } from '../../helpers/certs';
import { seededBytes } from '../../helpers/fixtures';
import { CaptureServer, waitFor } from '../../helpers/sink';
import { TransportRecorder as Recorder } from '../../helpers/transport-recorder';


const codeOf = (e: Error | undefined): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;
const received = (s: CaptureServer): number => s.chunks.reduce((n, c) => n + c.length, 0);

const servers: CaptureServer[] = [];
const connections: Connection[] = [];

afterEach(async () => {
  for (const c of connections.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(tlsOptions?: { cert: Buffer; key: Buffer }): Promise<CaptureServer> {
  const s = new CaptureServer('line', tlsOptions);
  servers.push(s);
  await s.listen();
  return s;
}

function connect(opts: Partial<SocketTransportOptions> & { port: number }): { conn: Connection; rec: Recorder } {
  const rec = new Recorder();
  const conn = new SocketTransport({ host: '127.0.0.1', connectTimeoutMs: 5000, ...opts }).connect(rec);
  connections.push(conn);
  return { conn, rec };
}

/** Write 64 KiB chunks until write() says stop (the peer is not reading); returns everything written. */
function writeUntilFull(conn: Connection): Buffer[] {
  const written: Buffer[] = [];
  for (let i = 0; i < 4096; i++) {
    const chunk = seededBytes(i + 1, 64 * 1024);
    written.push(chunk);
    if (!conn.write(chunk)) return written;
  }
  throw new Error('write() never returned false with a peer that does not read');
}

describe('SocketTransport.description', () => {
  it.each<[string, Omit<SocketTransportOptions, 'connectTimeoutMs'>, string]>([
    ['IPv4', { host: '127.0.0.1', port: 2003 }, '127.0.0.1:2003'],
    ['host name', { host: 'carbon.example.com', port: 2004 }, 'carbon.example.com:2004'],
    ['IPv6 in brackets', { host: '::1', port: 2004 }, '[::1]:2004'],
    ['TLS', { host: 'carbon.example.com', port: 2004, tls: { rejectUnauthorized: true } }, 'tls://carbon.example.com:2004'],
    ['TLS over IPv6', { host: '2001:db8::7', port: 2004, tls: { rejectUnauthorized: false } }, 'tls://[2001:db8::7]:2004'],
  ])('%s', (_what, opts, description) => {
    expect(new SocketTransport({ ...opts, connectTimeoutMs: 1000 }).description).toBe(description);
  });
});

describe('SocketTransport over TCP', () => {
  it('reports onConnect once and delivers written bytes intact; end() then reports onClose(undefined)', async () => {
    const s = await server();
    const { conn, rec } = connect({ port: s.port });
    await waitFor(() => rec.has('connect'), 'onConnect');
    const payload = [Buffer.from('a.b 1 1700000000\n'), seededBytes(42, 200_000), Buffer.from('\nlast.line 2 1700000001\n')];
    for (const p of payload) conn.write(p);
    const all = Buffer.concat(payload);
    await waitFor(() => received(s) === all.length, 'every byte at the peer');
    expect(s.raw.equals(all)).toBe(true);
    expect(conn.pendingBytes).toBe(0);
    conn.end();
    await waitFor(() => rec.has('close'), 'onClose');
    expect(rec.events).toEqual(['connect', 'close']);
    expect(rec.closeError).toBeUndefined();
    expect(s.connections).toBe(1);
  });

  it('after write() returns false (the peer stopped reading), onDrain follows once the peer reads again', async () => {
    const s = await server();
    const { conn, rec } = connect({ port: s.port });
    await waitFor(() => rec.has('connect') && s.connections === 1, 'connected at both ends');
    s.pauseReading();
    const written = writeUntilFull(conn);
    expect(conn.pendingBytes).toBeGreaterThan(0);
    expect(rec.events).toEqual(['connect']);
    s.resumeReading();
    await waitFor(() => rec.has('drain'), 'onDrain');
    expect(rec.events).toEqual(['connect', 'drain']);
    expect(conn.pendingBytes).toBe(0);
    const all = Buffer.concat(written);
    await waitFor(() => received(s) === all.length, 'every byte at the peer');
    expect(s.raw.equals(all)).toBe(true);
  });

  it('end() flushes what is still queued before closing', async () => {
    const s = await server();
    const { conn, rec } = connect({ port: s.port });
    await waitFor(() => rec.has('connect') && s.connections === 1, 'connected at both ends');
    s.pauseReading();
    const all = Buffer.concat(writeUntilFull(conn));
    conn.end();
    expect(conn.pendingBytes).toBeGreaterThan(0);
    expect(rec.has('close')).toBe(false);
    s.resumeReading();
    await waitFor(() => rec.has('close'), 'onClose after the flush');
    expect(rec.closeError).toBeUndefined();
    expect(received(s)).toBe(all.length);
    expect(s.raw.equals(all)).toBe(true);
  });

  it('the peer closing the connection reports onClose(undefined)', async () => {
    const s = await server();
    const { rec } = connect({ port: s.port });
    await waitFor(() => rec.has('connect') && s.connections === 1, 'connected at both ends');
    await s.close();
    await waitFor(() => rec.has('close'), 'onClose');
    expect(rec.events).toEqual(['connect', 'close']);
    expect(rec.closeError).toBeUndefined();
  });

  it('a refused connection reports onClose with ECONNREFUSED and never onConnect', async () => {
    const [port] = await freePorts(1);
    const { rec } = connect({ port });
    await waitFor(() => rec.has('close'), 'onClose');
    expect(rec.events).toEqual(['close']);
    expect(codeOf(rec.closeError)).toBe('ECONNREFUSED');
  });

  it('destroy() while connecting reports onClose(undefined) and never onConnect', async () => {
    const s = await server();
    const { conn, rec } = connect({ port: s.port });
    conn.destroy();
    await waitFor(() => rec.has('close'), 'onClose');
    expect(rec.events).toEqual(['close']);
    expect(rec.closeError).toBeUndefined();
  });
});

describe('SocketTransport over TLS', () => {
  let ca: TestCa;
  let otherCa: TestCa;
  let serverTls: { cert: Buffer; key: Buffer };

  beforeAll(() => {
    ca = makeTestCa();
    otherCa = makeTestCa();
    serverTls = { cert: fs.readFileSync(ca.serverCert), key: fs.readFileSync(ca.serverKey) };
  });

  afterAll(() => {
    for (const c of [ca, otherCa]) fs.rmSync(c.dir, { recursive: true, force: true });
  });

  it.each<[string, string | undefined]>([
    ['by the servername localhost', 'localhost'],
    ['by its IP address (no servername)', undefined],
  ])('connects to a server whose certificate chains to the given CA, verified %s, and delivers decrypted bytes', async (_how, servername) => {
    const s = await server(serverTls);
    const { conn, rec } = connect({ port: s.port, tls: { ca: ca.caCert, servername, rejectUnauthorized: true } });
    await waitFor(() => rec.has('connect'), 'onConnect after the handshake');
    conn.write(Buffer.from('secure.metric 7 1700000000\n'));
    await waitFor(() => s.datapoints.length === 1, 'the line at the peer');
    expect(s.datapoints).toEqual([{ name: 'secure.metric', value: 7, timestamp: 1700000000 }]);
    conn.end();
    await waitFor(() => rec.has('close'), 'onClose');
    expect(rec.events).toEqual(['connect', 'close']);
    expect(rec.closeError).toBeUndefined();
  });

  it.each<[string, () => SocketTransportOptions['tls'], string]>([
    ['an untrusted certificate (self-made CA, not in the default roots)', () => ({ rejectUnauthorized: true }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['a certificate from a CA other than the configured one', () => ({ ca: otherCa.caCert, servername: 'localhost', rejectUnauthorized: true }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['a servername the certificate does not cover', () => ({ ca: ca.caCert, servername: 'carbon.example.com', rejectUnauthorized: true }), 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ])('refuses %s: onClose with the verification error, never onConnect, nothing sent', async (_what, tlsOptions, code) => {
    const s = await server(serverTls);
    const { conn, rec } = connect({ port: s.port, tls: tlsOptions() });
    conn.write(Buffer.from('never.sent 1 1700000000\n'));
    await waitFor(() => rec.has('close'), 'onClose');
    expect(rec.events).toEqual(['close']);
    expect(codeOf(rec.closeError)).toBe(code);
    expect(s.chunks).toEqual([]);
  });

  it('connects to an untrusted server when rejectUnauthorized is false', async () => {
    const s = await server(serverTls);
    const { conn, rec } = connect({ port: s.port, tls: { rejectUnauthorized: false } });
    await waitFor(() => rec.has('connect'), 'onConnect');
    conn.write(Buffer.from('unverified 1 1700000000\n'));
    await waitFor(() => s.datapoints.length === 1, 'the line at the peer');
    expect(s.datapoints).toEqual([{ name: 'unverified', value: 1, timestamp: 1700000000 }]);
  });

  it('gives up after connectTimeoutMs when the peer accepts TCP but never answers the TLS handshake', async () => {
    const plain = await server();
    const { rec } = connect({ port: plain.port, connectTimeoutMs: 200, tls: { rejectUnauthorized: true } });
    await waitFor(() => rec.has('close'), 'onClose after the connect timeout');
    expect(rec.events).toEqual(['close']);
    expect(rec.closeError?.message).toBe('connect timeout after 200 ms');
    // TCP was accepted and a ClientHello sent: it was the TLS handshake that timed out.
    await waitFor(() => plain.chunks.length > 0, 'the ClientHello at the peer');
    expect(plain.connections).toBe(1);
    expect(plain.chunks[0][0]).toBe(0x16); // TLS handshake record
  });
});
