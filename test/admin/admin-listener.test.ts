import type { Relay } from '../../src/relay/relay';
import { startRelay } from '../helpers/relay';
import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';

async function get(port: number, path: string, auth?: string): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: auth === undefined ? {} : { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
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
    relay = await startRelay({ destinations: [{ name: 'cache', host: '127.0.0.1', port }, { name: 'down', host: '127.0.0.1', port: 1 }], rules: [{ default: true, destinations: ['cache', 'down'] }] });
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
    expect(down).toMatchObject({ name: 'down', healthy: false, queue: { length: 2 } });
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
});
