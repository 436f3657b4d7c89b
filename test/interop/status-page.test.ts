import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Relay } from '../../src/relay/relay';
import { stopRelay } from '../helpers/cleanup';
import { startRelay } from '../helpers/relay';
import { CaptureServer, waitFor } from '../helpers/sink';

const CHROMIUM = '/usr/bin/chromium';

/**
 * The admin listener's live page in headless Chromium (Debian). A small proxy
 * in front of the admin listener lets the test act between two polls: after
 * the third /status it stops one destination's receiver and answers only once
 * the relay has noticed, so the page must turn that destination red. Chromium
 * runs with --dump-dom and a virtual-time budget (virtual time stops while a
 * fetch is pending), so the page's polls go as fast as the proxy answers.
 */
describe('the admin status page in headless Chromium', () => {
  let relay: Relay | undefined;
  const good = new CaptureServer('pickle');
  const doomed = new CaptureServer('pickle');
  let proxy: http.Server | undefined;
  let userDataDir = '';
  let sender: NodeJS.Timeout | undefined;

  afterAll(async () => {
    if (sender !== undefined) clearInterval(sender);
    await stopRelay(relay);
    await new Promise<void>((r) => (proxy?.listening ? proxy.close(() => r()) : r()));
    await good.close();
    await doomed.close();
    if (userDataDir !== '') fs.rmSync(userDataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }, 30_000);

  it('shows the destinations, moves with traffic, turns a stopped destination red, with no script errors', async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install -y chromium, as .ci/run does)`);
    relay = await startRelay({
      destinations: [
        { name: 'good', host: '127.0.0.1', port: await good.listen() },
        { name: 'doomed', host: '127.0.0.1', port: await doomed.listen(), reconnect: { initialDelay: '5s', maxDelay: '5s' } },
      ],
      rules: [{ default: true, destinations: ['good', 'doomed'] }],
    });
    const r = relay;
    const doomedDest = r.destinations.get('doomed')!;
    await waitFor(() => doomedDest.healthy && r.destinations.get('good')!.healthy, 'both connected');
    // traffic all along, so counters and charts move
    const client = net.connect(r.listeners.line!.port, '127.0.0.1');
    let i = 0;
    sender = setInterval(() => client.write(`page.m${i % 10} ${i++} ${Math.floor(Date.now() / 1000)}\n`), 5);

    const admin = r.topology.admin!.port;
    let statusCalls = 0;
    proxy = http.createServer((req, res) => {
      void (async () => {
        if (req.url?.startsWith('/status')) {
          statusCalls++;
          if (statusCalls === 3) {
            await doomed.close();
            await waitFor(() => !doomedDest.healthy, 'relay saw doomed go');
          }
        }
        const upstream = await fetch(`http://127.0.0.1:${admin}${req.url ?? '/'}`);
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' });
        res.end(Buffer.from(await upstream.arrayBuffer()));
      })().catch((e: unknown) => {
        res.writeHead(502);
        res.end(String(e));
      });
    });
    await new Promise<void>((resolve) => proxy!.listen(0, '127.0.0.1', () => resolve()));
    const proxyPort = (proxy.address() as net.AddressInfo).port;
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-chromium-'));
    const dom = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        CHROMIUM,
        ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${userDataDir}`, '--virtual-time-budget=8000', '--dump-dom', `http://127.0.0.1:${proxyPort}/`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0 && out.includes('</html>')) resolve(out);
        else reject(new Error(`chromium exited with ${code}: ${err.slice(-2000)}`));
      });
    });
    client.destroy();

    const attr = (id: string, name: string): string => new RegExp(`<tr id="${id}"[^>]*\\b${name}="([^"]*)"`).exec(dom)?.[1] ?? '';
    expect(/<pre id="errors"><\/pre>/.test(dom)).toBe(true); // no script error or rejected promise
    expect(Number(/<b id="polls">(\d+)<\/b>/.exec(dom)?.[1])).toBeGreaterThanOrEqual(4);
    expect(Number(/<b id="received">(\d+)<\/b>/.exec(dom)?.[1])).toBeGreaterThan(0);
    // the good destination stayed green; the doomed one was green, then red after the third poll
    expect(attr('dest-good', 'class')).toBe('up');
    expect(attr('dest-good', 'data-history').split(',').every((s) => s === 'up')).toBe(true);
    expect(attr('dest-doomed', 'class')).toBe('down');
    const doomedHistory = attr('dest-doomed', 'data-history').split(',');
    expect(doomedHistory.slice(0, 2)).toEqual(['up', 'up']);
    expect(doomedHistory.at(-1)).toBe('down');
    // charts drawn from more than one sample: the "in" line has several points
    const points = /data-series="in" points="([^"]*)"/.exec(dom)?.[1] ?? '';
    expect(points.trim().split(' ').length).toBeGreaterThan(3);
  }, 90_000);
});
