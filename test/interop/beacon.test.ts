import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Relay } from '../../src/relay/relay';
import { stopRelay } from '../helpers/cleanup';
import { startRelay, tempDir } from '../helpers/relay';
import { CaptureServer, waitFor } from '../helpers/sink';

/**
 * GIF beacons (`?output=img`) fired by a web page in real headless Chromium
 * (Debian's `chromium` package), end to end: a page served from another
 * origin loads /feed, /imp and /tdiff as images from the relay's HTTP
 * listener; the datapoints must arrive at a real TCP line destination.
 *
 * Chromium is driven without Playwright: `--dump-dom` prints the DOM once the
 * page has loaded, and `--virtual-time-budget` keeps it from snapshotting
 * before the beacons are done (virtual time does not advance while a fetch is
 * pending, so image loads, and timers chained after them, complete first).
 * The page writes each image's outcome into the DOM and sets a "done" title.
 */

const CHROMIUM = '/usr/bin/chromium';
/** Clicks on the page's button, each firing one /imp/button.click beacon. */
const CLICKS = 7;
/** page.load (markup), page.cors (CORS-mode image), CLICKS impulses, two /tdiff calls. */
const BEACONS = 2 + CLICKS + 2;
const DONE_TITLE = 'beacons: done';
const CHROMIUM_TIMEOUT_MS = 15_000;

interface BeaconResult {
  name: string;
  ok: boolean;
  width: number;
  height: number;
}

/**
 * The page. Every image gets a unique `_=` query parameter: Chromium requests
 * an image URL it already holds in the document only once (seen with 156, even
 * with Cache-Control: no-store and with the loads seconds apart), so repeated
 * identical /imp URLs would be counted once. The relay ignores unknown
 * query parameters.
 */
function pageHtml(relayBase: string): string {
  return `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>beacons: pending</title>
<script>
  const RELAY = ${JSON.stringify(relayBase)};
  const EXPECTED = ${BEACONS};
  const results = [];
  let seq = 0;
  function record(name, img, ok) {
    results.push({ name, ok, width: img.naturalWidth, height: img.naturalHeight });
    document.getElementById('results').textContent = JSON.stringify(results);
    if (results.length === EXPECTED) document.title = ${JSON.stringify(DONE_TITLE)};
  }
  function beacon(name, path, opts) {
    const img = new Image();
    if (opts && opts.crossOrigin) img.crossOrigin = opts.crossOrigin;
    img.onload = () => { record(name, img, true); if (opts && opts.then) opts.then(); };
    img.onerror = () => record(name, img, false);
    img.src = RELAY + path + (path.includes('?') ? '&' : '?') + '_=' + (++seq);
  }
</script>
</head>
<body>
<pre id="results">[]</pre>
<img id="load-beacon" alt="" src="${relayBase}/feed/page.load/1?output=img"
     onload="record('page.load', this, true)" onerror="record('page.load', this, false)">
<button id="buy" onclick="beacon('button.click', '/imp/button.click?output=img')">buy</button>
<script>
  const button = document.getElementById('buy');
  for (let i = 0; i < ${CLICKS}; i++) button.click();
  // CORS mode: loads only if the relay answers with Access-Control-Allow-Origin for this page's origin.
  beacon('page.cors', '/feed/page.cors/1?output=img', { crossOrigin: 'anonymous' });
  // A /tdiff pair: the first call only records the event, the second sends the seconds between them.
  beacon('page.dwell#1', '/tdiff/page.dwell?output=img', {
    then: () => setTimeout(() => beacon('page.dwell#2', '/tdiff/page.dwell?output=img'), 50),
  });
</script>
</body>
</html>
`;
}

function unescapeHtml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&nbsp;/g, '\u00a0').replace(/&amp;/g, '&');
}

describe('GIF beacons from a page in headless Chromium (Debian) reach a TCP destination', () => {
  const capture = new CaptureServer('line');
  let relay: Relay | undefined;
  let pageServer: http.Server | undefined;
  let chromium: ChildProcess | undefined;
  let userDataDir: string | undefined;
  const pageRequests: string[] = [];

  const lines = (): string[] => capture.raw.toString('utf8').split('\n').filter((l) => l !== '');
  const linesOf = (name: string): string[] => lines().filter((l) => l.split(' ')[0] === name);

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: this interop test needs Debian's Chromium (apt-get install -y chromium), which .ci/run installs`);
    }
    const capturePort = await capture.listen();

    // The page's own origin: another port than the relay's, as a real site would be.
    let relayBase = '';
    pageServer = http.createServer((req, res) => {
      pageRequests.push(req.url ?? '');
      if (req.url === '/') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(pageHtml(relayBase));
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      pageServer!.once('error', reject);
      pageServer!.listen(0, '127.0.0.1', () => resolve());
    });
    const pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;

    relay = await startRelay({
      listen: { http: { host: '127.0.0.1', port: 0 } },
      // Impulses are flushed only by stopping the relay within this test.
      http: { cors: [pageOrigin], feed: { flushInterval: '10m' } },
      destinations: [{ name: 'capture', host: '127.0.0.1', port: capturePort, protocol: 'line' }],
      rules: [{ default: true, destinations: ['capture'] }],
    });
    relayBase = `http://127.0.0.1:${relay.listeners.http!.port}`;
    userDataDir = tempDir('cf-test-chromium-');
  }, 30_000);

  afterAll(async () => {
    try {
      // Chromium and its helpers (zygote, renderer, GPU/network services) share the process group we gave it.
      if (chromium?.pid !== undefined) {
        try {
          process.kill(-chromium.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await stopRelay(relay);
      await new Promise<void>((resolve) => (pageServer?.listening ? pageServer.close(() => resolve()) : resolve()));
      await capture.close();
    } finally {
      if (userDataDir !== undefined) fs.rmSync(userDataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    }
  }, 30_000);

  /** Load `url` in headless Chromium and resolve with the DOM it dumps. */
  function dumpDom(url: string): Promise<string> {
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${userDataDir!}`,
      '--virtual-time-budget=5000',
      '--dump-dom',
      url,
    ];
    return new Promise<string>((resolve, reject) => {
      const child = spawn(CHROMIUM, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      chromium = child;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout!.on('data', (c: Buffer) => out.push(c));
      child.stderr!.on('data', (c: Buffer) => err.push(c));
      const stderrTail = (): string => Buffer.concat(err).toString('utf8').split('\n').slice(-30).join('\n');
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
        reject(new Error(`chromium --dump-dom did not finish within ${CHROMIUM_TIMEOUT_MS} ms\n--- stderr ---\n${stderrTail()}`));
      }, CHROMIUM_TIMEOUT_MS);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const dom = Buffer.concat(out).toString('utf8');
        if (code === 0 && dom.includes('</html>')) resolve(dom);
        else reject(new Error(`chromium exited with ${code ?? signal}\n--- stdout ---\n${dom}\n--- stderr ---\n${stderrTail()}`));
      });
    });
  }

  it('the page sees every beacon load as a 1x1 image, and the relay sends each counter on', async () => {
    if (!relay || !pageServer) throw new Error('setup failed');
    const relayPort = relay.listeners.http!.port;
    const pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`;
    expect(new URL(pageUrl).port).not.toBe(String(relayPort)); // cross-origin
    const t0 = Math.floor(Date.now() / 1000);

    const dom = await dumpDom(pageUrl);
    const diag = `\n--- dumped DOM ---\n${dom}\n--- captured ---\n${lines().join('\n')}`;

    // Snapshot taken only after every beacon settled, and each one decoded as a 1x1 GIF.
    const title = /<title>([^<]*)<\/title>/.exec(dom)?.[1];
    if (title !== DONE_TITLE) throw new Error(`page not done when Chromium dumped it (title ${JSON.stringify(title)})${diag}`);
    const json = /<pre id="results">([^<]*)<\/pre>/.exec(dom)?.[1];
    if (json === undefined) throw new Error(`no results element in the dumped DOM${diag}`);
    const results = JSON.parse(unescapeHtml(json)) as BeaconResult[];
    const names = ['page.load', 'page.cors', 'page.dwell#1', 'page.dwell#2', ...Array<string>(CLICKS).fill('button.click')];
    expect(results.map((r) => r.name).sort()).toEqual(names.sort());
    for (const r of results) expect(r).toEqual({ name: r.name, ok: true, width: 1, height: 1 });
    expect(pageRequests.filter((u) => u === '/')).toHaveLength(1);

    // Sent at once: the /feed datapoints and the /tdiff difference (the pair's first call only records).
    await waitFor(() => linesOf('page.load').length >= 1 && linesOf('page.cors').length >= 1 && linesOf('page.dwell').length >= 1, `page.load, page.cors and page.dwell at the destination${diag}`, 10_000);
    const t1 = Math.ceil(Date.now() / 1000);
    const fields = (line: string): [string, number, number] => {
      const [name, value, ts] = line.split(' ');
      return [name!, Number(value), Number(ts)];
    };
    for (const name of ['page.load', 'page.cors']) {
      expect(linesOf(name)).toHaveLength(1);
      const [, value, ts] = fields(linesOf(name)[0]!);
      expect(value).toBe(1);
      expect(ts).toBeGreaterThanOrEqual(t0);
      expect(ts).toBeLessThanOrEqual(t1);
    }
    expect(linesOf('page.dwell')).toHaveLength(1);
    const [, dwell, dwellTs] = fields(linesOf('page.dwell')[0]!);
    expect(Number.isFinite(dwell)).toBe(true);
    expect(dwell).toBeGreaterThanOrEqual(0);
    expect(dwell).toBeLessThan(t1 - t0 + 1);
    expect(dwellTs).toBeGreaterThanOrEqual(t0);
    expect(dwellTs).toBeLessThanOrEqual(t1);

    // Impulses are held until a flush; stopping the relay flushes them and delivers the sum.
    expect(linesOf('button.click')).toEqual([]);
    const stopping = relay;
    relay = undefined;
    await stopRelay(stopping);
    await waitFor(() => linesOf('button.click').length >= 1, `button.click at the destination after stop${diag}`, 10_000);
    const t2 = Math.ceil(Date.now() / 1000);
    expect(linesOf('button.click')).toHaveLength(1);
    const [, clicks, clickTs] = fields(linesOf('button.click')[0]!);
    expect(clicks).toBe(CLICKS);
    expect(clickTs).toBeGreaterThanOrEqual(t0);
    expect(clickTs).toBeLessThanOrEqual(t2);

    // Nothing else reached the destination.
    expect(lines().map((l) => l.split(' ')[0]).sort()).toEqual(['button.click', 'page.cors', 'page.dwell', 'page.load']);
  }, 30_000);
});
