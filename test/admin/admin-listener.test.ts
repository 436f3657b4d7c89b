import net from 'node:net';
import type { Relay } from '../../src/relay/relay';
import { freePorts } from '../helpers/carbon';
import { eventually } from '../helpers/poll';
import { startRelay } from '../helpers/relay';
import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';

async function get(port: number, path: string, auth?: string): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: auth === undefined ? {} : { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
}

/** How a TCP connection to 127.0.0.1:port ends: 'connected' (closed again at once) or the error code. */
function connectOutcome(port: number): Promise<string> {
  return new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('admin listener', () => {
  let relay: Relay | undefined;
  let out: CaptureServer | undefined;

  afterEach(async () => {
    await relay?.stop(Date.now() + 500);
    await out?.close();
    relay = undefined;
  });

  it('/health, /ready and a /status snapshot of listeners, destinations and counters', async () => {
    out = new CaptureServer('pickle');
    const port = await out.listen();
    relay = await startRelay({ destinations: [{ name: 'cache', host: '127.0.0.1', port }, { name: 'down', host: '127.0.0.1', port: 1, maxRate: 500 }], rules: [{ default: true, destinations: ['cache', 'down'] }] });
    const admin = relay.topology.admin!.port;
    expect(await get(admin, '/health')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    expect(await get(admin, '/ready')).toMatchObject({ status: 200, body: '{"ready":true,"state":"ready"}' });
    await sendTcp(relay.listeners.line!.port, 'admin.a 1 1700000000\nadmin.b 2 1700000000\n');
    await waitFor(() => out!.datapoints.length === 2, 'delivered');
    const s = JSON.parse((await get(admin, '/status')).body) as {
      version: string;
      config: { hash: string };
      ready: boolean;
      received: { total: number };
      listeners: { name: string; port: number }[];
      destinations: { name: string; state: string; healthy: boolean; sent: { total: number }; queue: { length: number; capacity: number }; lastError: { reason: string } | null }[];
    };
    expect(s.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(s.config.hash).toBe(relay.configHash);
    expect(s.ready).toBe(true);
    expect(s.received.total).toBe(2);
    expect(s.listeners.map((l) => l.name)).toEqual(['line', 'line-udp', 'pickle']);
    const [cache, down] = s.destinations;
    expect(cache).toMatchObject({ name: 'cache', state: 'connected', healthy: true, sent: { total: 2 }, queue: { length: 0, capacity: 100_000 }, lastError: null });
    expect(down).toMatchObject({ name: 'down', healthy: false, queue: { length: 2 }, maxRate: 500 });
    expect(cache).not.toHaveProperty('maxRate');
    expect(down.lastError?.reason).toMatch(/^connect failed: ECONNREFUSED/);
  });

  it('/ready turns 503 as soon as the relay starts to drain', async () => {
    relay = await startRelay({ destinations: [{ name: 'f', file: '-' }], rules: [{ default: true, destinations: ['f'] }] });
    const admin = relay.topology.admin!.port;
    relay.readiness.draining();
    expect(await get(admin, '/ready')).toMatchObject({ status: 503, body: '{"ready":false,"state":"draining"}' });
    expect((await get(admin, '/health')).status).toBe(200);
  });

  it('with users, /status and /metrics need Basic credentials; /health and /ready never do', async () => {
    relay = await startRelay({ admin: { port: 0, users: [{ user: 'ops', password: 's3cret' }] }, destinations: [{ name: 'f', file: '-' }], rules: [{ default: true, destinations: ['f'] }] });
    const admin = relay.topology.admin!.port;
    expect((await get(admin, '/status')).status).toBe(401);
    expect((await get(admin, '/status', 'ops:wrong')).status).toBe(401);
    expect((await get(admin, '/status', 'ops:s3cret')).status).toBe(200);
    expect((await get(admin, '/health')).status).toBe(200);
    expect((await get(admin, '/ready')).status).toBe(200);
  });

  it('admin: false opens no admin listener', async () => {
    relay = await startRelay({ admin: false, destinations: [{ name: 'f', file: '-' }], rules: [{ default: true, destinations: ['f'] }] });
    expect(relay.topology.admin).toBeUndefined();
  });

  describe('reload', () => {
    const FILE_ONLY = { destinations: [{ name: 'f', file: '-' }], rules: [{ default: true, destinations: ['f'] }] };
    const OPS = { user: 'ops', password: 's3cret' };

    it('a new admin port that is taken: that part keeps its previous settings, the rest applies, and the same reload can be retried', async () => {
      const [p1] = await freePorts(1);
      relay = await startRelay({ admin: { port: p1 }, ...FILE_ONLY });
      const r = relay;
      const blocker = net.createServer();
      await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', () => res()));
      const taken = (blocker.address() as net.AddressInfo).port;
      try {
        const prev = r.config;
        if (prev.admin === false) throw new Error('admin is on');
        const wanted = { ...prev, admin: { ...prev.admin, port: taken }, minTimestampResolution: 60 };
        const report = await r.reload(wanted);
        expect(report).toMatchObject({ result: 'applied', reconfigured: ['minTimestampResolution'] });
        expect(report.notApplied).toHaveLength(1);
        expect(report.notApplied![0]).toMatch(/^admin: .*EADDRINUSE/);
        expect(r.topology.admin!.port).toBe(p1);
        expect((await get(p1, '/health')).status).toBe(200);
        // what runs: the new config but the admin part, and its hash says so
        expect(r.config.admin).toEqual(prev.admin);
        expect(r.config.minTimestampResolution).toBe(60);
        expect(report.hash).toBe(r.configHash);
        // the port frees up: the same reload is not "unchanged", it applies the admin part now
        await new Promise<void>((res) => blocker.close(() => res()));
        expect(await r.reload(wanted)).toMatchObject({ result: 'applied', reconfigured: ['admin'], notApplied: [] });
        expect(r.topology.admin!.port).toBe(taken);
        // and back to where it started
        expect(await r.reload(prev)).toMatchObject({ result: 'applied', notApplied: [] });
        expect(r.topology.admin!.port).toBe(p1);
      } finally {
        blocker.close();
      }
    });

    it('adding users: /status asks for credentials from the next request on; /health and /ready never do', async () => {
      relay = await startRelay(FILE_ONLY);
      const r = relay;
      const admin = r.topology.admin!;
      const port = admin.port;
      expect((await get(port, '/status')).status).toBe(200);
      const prev = r.config.admin;
      if (prev === false) throw new Error('admin is on');
      const report = await r.reload({ ...r.config, admin: { ...prev, users: [OPS] } });
      expect(report).toMatchObject({ result: 'applied', needsRestart: [], reconfigured: ['admin'] });
      expect(r.topology.admin).toBe(admin);
      expect(admin.port).toBe(port); // same address: same server
      const denied = await get(port, '/status');
      expect(denied.status).toBe(401);
      expect(denied.body).toBe('unauthorized\n');
      expect((await get(port, '/status', 'ops:wrong')).status).toBe(401);
      expect((await get(port, '/metrics')).status).toBe(401);
      const ok = await get(port, '/status', 'ops:s3cret');
      expect(ok.status).toBe(200);
      expect((JSON.parse(ok.body) as { config: { hash: string } }).config.hash).toBe(r.configHash);
      expect(await get(port, '/health')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
      expect((await get(port, '/ready')).status).toBe(200);
      // and removing them again opens /status again
      expect(await r.reload({ ...r.config, admin: { ...prev, users: [] } })).toMatchObject({ result: 'applied', reconfigured: ['admin'] });
      expect((await get(port, '/status')).status).toBe(200);
      expect(r.counters.reloadsApplied).toBe(2);
    });

    it('a new port: the new one answers at once, the old one then refuses connections, and stop() closes the new one', async () => {
      relay = await startRelay(FILE_ONLY);
      const r = relay;
      const admin = r.topology.admin!;
      const oldPort = admin.port;
      const [newPort] = await freePorts(1);
      expect((await get(oldPort, '/health')).status).toBe(200);
      const prev = r.config.admin;
      if (prev === false) throw new Error('admin is on');
      const report = await r.reload({ ...r.config, admin: { ...prev, port: newPort } });
      expect(report).toMatchObject({ result: 'applied', needsRestart: [], reconfigured: ['admin'] });
      expect(admin.port).toBe(newPort);
      expect(await get(newPort, '/health')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
      expect((await get(newPort, '/ready')).status).toBe(200);
      const s = JSON.parse((await get(newPort, '/status')).body) as { config: { hash: string } };
      expect(s.config.hash).toBe(report.hash);
      // the old server closes after the reload returns (it may still be answering a request)
      await eventually(() => connectOutcome(oldPort), (o) => o !== 'connected', 'the old admin port closed', { timeoutMs: 8000, intervalMs: 10 });
      expect(await connectOutcome(oldPort)).toBe('ECONNREFUSED');
      await r.stop(Date.now() + 500);
      relay = undefined;
      expect(await connectOutcome(newPort)).toBe('ECONNREFUSED');
    });

    it('admin: false on a running relay needs a restart: nothing changes and the admin listener still answers', async () => {
      relay = await startRelay(FILE_ONLY);
      const r = relay;
      const port = r.topology.admin!.port;
      const hash = r.configHash;
      const report = await r.reload({ ...r.config, admin: false });
      expect(report).toMatchObject({ result: 'restart_required', needsRestart: ['admin (turning the admin listener on or off)'], reconfigured: [] });
      expect(r.config.admin).not.toBe(false);
      expect(r.configHash).toBe(hash);
      expect(await get(port, '/health')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
      expect((await get(port, '/status')).status).toBe(200);
      expect(r.counters.reloadsRestartRequired).toBe(1);
      expect(r.counters.reloadsApplied).toBe(0);
    });

    it('turning the admin listener on needs a restart too: none is opened', async () => {
      relay = await startRelay({ ...FILE_ONLY, admin: false });
      const r = relay;
      const [port] = await freePorts(1);
      const report = await r.reload({ ...r.config, admin: { host: '127.0.0.1', port, users: [] } });
      expect(report).toMatchObject({ result: 'restart_required', needsRestart: ['admin (turning the admin listener on or off)'] });
      expect(r.config.admin).toBe(false);
      expect(r.topology.admin).toBeUndefined();
      expect(await connectOutcome(port)).toBe('ECONNREFUSED');
    });
  });
});
