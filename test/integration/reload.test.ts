import net from 'node:net';
import type { Relay } from '../../src/relay/relay';
import { configFrom, startRelay } from '../helpers/relay';
import { freePorts } from '../helpers/carbon';
import { capturesClosedAfterEach, sendTcp, waitFor } from '../helpers/sink';

/**
 * Reload without restart, under steady load, counted exactly: rules change,
 * one destination is removed (it delivers what it holds) and one is added;
 * the kept destination keeps its connection; no datapoint is lost, and every
 * datapoint received after the reload is routed by the new rules.
 */
describe('reload', () => {
  let relay: Relay | undefined;

  afterEach(async () => {
    await relay?.stop(Date.now() + 2000);
    relay = undefined;
  });

  const capture = capturesClosedAfterEach();

  it('swaps rules and destinations under load: nothing lost, the kept destination keeps its connection, new datapoints follow the new rules', async () => {
    const [keep, gone, fresh] = [await capture(), await capture(), await capture()];
    const dest = (name: string, port: number): Record<string, unknown> => ({ name, host: '127.0.0.1', port, protocol: 'line' });
    const before = {
      destinations: [dest('keep', keep.port), dest('gone', gone.port)],
      rules: [{ pattern: '^b\\.', destinations: ['gone'] }, { default: true, destinations: ['keep'] }],
    };
    relay = await startRelay(before);
    const r = relay;
    await waitFor(() => r.destinations.get('keep')!.healthy && r.destinations.get('gone')!.healthy, 'connected');
    const keepDest = r.destinations.get('keep')!;

    // steady load at 100,000 datapoints/s: names a.* and b.*, numbered, one connection; each turn sends what the clock says is due
    const RATE = 100_000;
    const client = net.connect(r.listeners.line!.port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    let sent = 0;
    let sending = true;
    const startedAt = Date.now();
    const pump = async (): Promise<void> => {
      while (sending) {
        const due = Math.floor(((Date.now() - startedAt) * RATE) / 1000);
        let chunk = '';
        for (; sent < due; sent++) chunk += `${sent % 2 === 0 ? 'a' : 'b'}.m ${sent} 1700000000\n`;
        if (chunk !== '' && !client.write(chunk)) await new Promise<void>((res) => client.once('drain', () => res()));
        await new Promise<void>((res) => setTimeout(res, 1));
      }
    };
    const pumping = pump();
    await waitFor(() => r.counters.metricsReceived > RATE, 'a second of load', 20_000);

    const after = configFrom({
      listen: r.config.listen,
      admin: { port: 0 },
      selfMetrics: { interval: 0 },
      destinations: [dest('keep', keep.port), dest('fresh', fresh.port)],
      rules: [{ pattern: '^b\\.', destinations: ['fresh'] }, { default: true, destinations: ['keep'] }],
    });
    // the listeners' ports were ephemeral: the new config names the same (bound) addresses
    const receivedAtReload = r.counters.metricsReceived;
    const report = await r.reload({ ...after, listen: r.config.listen });
    const receivedAfterReload = r.counters.metricsReceived;
    expect(report).toMatchObject({ result: 'applied', added: ['fresh'], removed: ['gone'], kept: ['keep'] });
    expect(r.destinations.get('keep')).toBe(keepDest); // same object: same connection and queue
    await waitFor(() => r.counters.metricsReceived > receivedAfterReload + RATE, 'a second of load after the reload', 20_000);
    sending = false;
    await pumping;
    await new Promise<void>((resolve) => client.end(() => resolve()));
    await waitFor(() => r.counters.metricsReceived === sent, 'everything sent was received', 20_000);

    const total = (): number => keep.datapoints.length + gone.datapoints.length + fresh.datapoints.length;
    await waitFor(() => total() === sent, 'every datapoint delivered to exactly one destination', 20_000);
    expect(keep.connections).toBe(1);
    // b.* went to gone before the swap and to fresh after: never both, never neither
    const bValues = [...gone.datapoints, ...fresh.datapoints].map((d) => d.value).sort((x, y) => x - y);
    expect(bValues).toEqual(Array.from({ length: sent / 2 }, (_, i) => 2 * i + 1));
    expect(keep.datapoints.every((d) => d.name === 'a.m')).toBe(true);
    // ordering on one connection: every b.* datapoint received after the reload went to fresh, every one before to gone
    // a loop, not Math.max(...values): a slow machine sends a few hundred thousand, more than a call takes arguments
    expect(gone.datapoints.reduce((m, d) => Math.max(m, d.value), -Infinity)).toBeLessThan(receivedAfterReload);
    expect(fresh.datapoints.reduce((m, d) => Math.min(m, d.value), Infinity)).toBeGreaterThanOrEqual(receivedAtReload);
    expect(r.counters.reloadsApplied).toBe(1);
  });

  it('a change only a restart can apply changes nothing and says which; the same config again is unchanged', async () => {
    const out = await capture();
    relay = await startRelay({ destinations: [{ name: 'o', host: '127.0.0.1', port: out.port, protocol: 'line' }], rules: [{ default: true, destinations: ['o'] }] });
    const r = relay;
    expect((await r.reload(r.config)).result).toBe('unchanged');
    const changed = { ...r.config, dataDir: '/nonexistent/elsewhere', minTimestampResolution: 60 };
    expect(await r.reload(changed)).toMatchObject({ result: 'restart_required', needsRestart: ['dataDir'] });
    expect(r.config.minTimestampResolution).toBe(0);
    expect(r.config.dataDir).toBeUndefined();
    expect(r.counters.reloadsRestartRequired).toBe(1);
  });

  it('minTimestampResolution applies from the next datapoint', async () => {
    const out = await capture();
    relay = await startRelay({ destinations: [{ name: 'o', host: '127.0.0.1', port: out.port, protocol: 'line' }], rules: [{ default: true, destinations: ['o'] }] });
    const r = relay;
    await sendTcp(r.listeners.line!.port, 'res.before 1 1700000059\n');
    await waitFor(() => out.datapoints.length === 1, 'first');
    expect(await r.reload({ ...r.config, minTimestampResolution: 60 })).toMatchObject({ result: 'applied', reconfigured: ['minTimestampResolution'] });
    await sendTcp(r.listeners.line!.port, 'res.after 1 1700000059\n');
    await waitFor(() => out.datapoints.length === 2, 'second');
    expect(out.datapoints.map((d) => [d.name, d.timestamp])).toEqual([
      ['res.before', 1700000059],
      ['res.after', 1700000040],
    ]);
  });

  it('a listener whose address changed is rebound; the others keep their connections', async () => {
    const out = await capture();
    const [newPort] = await freePorts(1);
    relay = await startRelay({ destinations: [{ name: 'o', host: '127.0.0.1', port: out.port, protocol: 'line' }], rules: [{ default: true, destinations: ['o'] }] });
    const r = relay;
    const oldLinePort = r.listeners.line!.port;
    const pickle = r.listeners.pickle!;
    const held = net.connect(pickle.port, '127.0.0.1'); // an open pickle connection that must survive
    await new Promise<void>((resolve) => held.once('connect', () => resolve()));
    let heldClosed = false;
    held.on('close', () => (heldClosed = true));
    const next = { ...r.config, listen: { ...r.config.listen, line: { ...r.config.listen.line!, tcp: { host: '127.0.0.1', port: newPort } } } };
    expect(await r.reload(next)).toMatchObject({ result: 'applied' });
    expect(r.listeners.line!.port).toBe(newPort);
    expect(r.listeners.pickle).toBe(pickle);
    await sendTcp(newPort, 'rebound.x 1 1700000000\n');
    await waitFor(() => out.datapoints.length === 1, 'received on the new port');
    await expect(sendTcp(oldLinePort, 'old.x 1 1700000000\n')).rejects.toThrow(/ECONNREFUSED/);
    expect(heldClosed).toBe(false);
    held.destroy();
  });

  describe('the HTTP front door', () => {
    const TS = 1_700_000_000;
    const imp = async (port: number, name: string, value: number, auth?: string): Promise<number> =>
      (await fetch(`http://127.0.0.1:${port}/imp/${name}/${value}`, auth === undefined ? {} : { headers: { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } })).status;
    const httpConfig = (port: number, http: Record<string, unknown>): Record<string, unknown> => ({
      listen: { line: { tcp: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 } },
      http: { feed: { flushInterval: '1h' }, ...http },
      destinations: [{ name: 'o', host: '127.0.0.1', port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['o'] }],
    });
    const httpRelay = async (port: number, http: Record<string, unknown>): Promise<Relay> => startRelay(httpConfig(port, http));

    /** One keep-alive HTTP/1.1 connection, written by hand so the test knows every request used it. */
    async function keepAlive(port: number): Promise<{ get: (path: string, auth?: string) => Promise<number>; closed: () => boolean; end: () => void }> {
      const socket = net.connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      let closed = false;
      socket.on('close', () => (closed = true));
      let buffered = '';
      socket.on('data', (d: Buffer) => (buffered += d.toString('latin1')));
      return {
        async get(path, auth) {
          buffered = '';
          const header = auth === undefined ? '' : `Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n`;
          socket.write(`GET ${path} HTTP/1.1\r\nHost: relay\r\nConnection: keep-alive\r\n${header}\r\n`);
          // every answer here has a Content-Length and a short body: the head and body arrive together
          await waitFor(() => /\r\n\r\n/.test(buffered) && buffered.length >= buffered.indexOf('\r\n\r\n') + 4 + Number(/content-length: (\d+)/i.exec(buffered)?.[1] ?? 0), `answer to ${path}`);
          return Number(buffered.slice(9, 12));
        },
        closed: () => closed,
        end: () => socket.destroy(),
      };
    }

    it('new settings on the same address: the next request sees them, keep-alive clients stay connected, impulse counters carry over', async () => {
      const out = await capture();
      relay = await httpRelay(out.port, {});
      const r = relay;
      const http = r.listeners.http!;
      const port = http.port;
      const client = await keepAlive(port);
      for (let i = 0; i < 3; i++) expect(await client.get('/imp/carried/1')).toBe(200);
      const next = configFrom(httpConfig(out.port, { feed: { flushInterval: '1h', auth: { apiKeys: ['secret'] } } }));
      const report = await r.reload({ ...r.config, http: next.http });
      expect(report).toMatchObject({ result: 'applied', reconfigured: ['http'] });
      expect(r.listeners.http).toBe(http); // same server, same port
      // the same connection, now answered by the new settings
      expect(await client.get('/imp/carried/1')).toBe(401);
      expect(await client.get('/imp/carried/2', 'secret:')).toBe(200);
      expect(client.closed()).toBe(false);
      client.end();
      expect(await imp(port, 'carried', 1)).toBe(401);
      // nothing was flushed by the reload: the hour is not over
      expect(out.datapoints).toEqual([]);
      await r.stop(Date.now() + 2000);
      relay = undefined;
      await waitFor(() => out.datapoints.length === 1, 'the one flush at shutdown');
      expect(out.datapoints.map((d) => [d.name, d.value])).toEqual([['carried', 5]]);
      expect(r.counters.httpUnauthorized).toBe(2);
    });

    it('a new address: the old port closes, the new one answers, impulse counters carry over; removing listen.http stops it', async () => {
      const out = await capture();
      relay = await httpRelay(out.port, {});
      const r = relay;
      const oldPort = r.listeners.http!.port;
      const [newPort] = await freePorts(1);
      expect(await imp(oldPort, 'moved', 2)).toBe(200);
      const report = await r.reload({ ...r.config, listen: { ...r.config.listen, http: { host: '127.0.0.1', port: newPort } } });
      expect(report).toMatchObject({ result: 'applied', reconfigured: ['http'] });
      expect(r.listeners.http!.port).toBe(newPort);
      await expect(fetch(`http://127.0.0.1:${oldPort}/health`)).rejects.toThrow();
      expect(await imp(newPort, 'moved', 3)).toBe(200);
      expect(out.datapoints).toEqual([]);
      // without listen.http the front door stops, and flushes what it counted
      const off = await r.reload({ ...r.config, listen: { ...r.config.listen, http: undefined } });
      expect(off).toMatchObject({ result: 'applied', reconfigured: ['http'] });
      expect(r.listeners.http).toBeUndefined();
      await expect(fetch(`http://127.0.0.1:${newPort}/health`)).rejects.toThrow();
      await waitFor(() => out.datapoints.length === 1, 'flushed when the front door closed');
      expect(out.datapoints.map((d) => [d.name, d.value])).toEqual([['moved', 5]]);
      expect(out.datapoints[0].timestamp).toBeGreaterThanOrEqual(TS);
    });

    it('a reload can open the front door on a relay started without one', async () => {
      const out = await capture();
      relay = await startRelay({ destinations: [{ name: 'o', host: '127.0.0.1', port: out.port, protocol: 'line' }], rules: [{ default: true, destinations: ['o'] }] });
      const r = relay;
      expect(r.listeners.http).toBeUndefined();
      const report = await r.reload({ ...r.config, listen: { ...r.config.listen, http: { host: '127.0.0.1', port: 0 } } });
      expect(report).toMatchObject({ result: 'applied', reconfigured: ['http'] });
      const res = await fetch(`http://127.0.0.1:${r.listeners.http!.port}/feed/opened/7/${TS}`);
      expect(res.status).toBe(200);
      await waitFor(() => out.datapoints.length === 1, 'fed');
      expect(out.datapoints).toEqual([{ name: 'opened', value: 7, timestamp: TS }]);
      expect(r.counters.metricsReceived).toBe(1);
    });
  });
});
