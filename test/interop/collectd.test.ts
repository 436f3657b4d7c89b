import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Relay } from '../../src/relay/relay';
import { readWhisper, startCarbonCache, type CarbonCache } from '../helpers/carbon';
import { stopRelay } from '../helpers/cleanup';
import { eventually } from '../helpers/poll';
import { fromPyRepr } from '../helpers/python';
import { startRelay, tempDir } from '../helpers/relay';
import { CaptureServer, type Captured } from '../helpers/sink';

/**
 * A real collectd (Debian collectd-core, plus libcurl3-gnutls and libyajl2
 * that its write_http plugin links against) posts Format "JSON" to our
 * /collectd with Basic credentials, which libcurl sends only after our 401
 * challenge; the relay names the values as write_graphite would and a real
 * carbon-cache stores them in whisper files.
 */

const COLLECTD = '/usr/sbin/collectd';
const HOST = 'interop.example'; // write_graphite naming escapes the dot: interop_example.*
const USER = 'collectd';
const PASSWORD = 'interop-s3cret';

function collectdConf(dir: string, port: number): string {
  return `Hostname "${HOST}"
FQDNLookup false
Interval 1
BaseDir "${dir}"
PIDFile "${path.join(dir, 'collectd.pid')}"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File STDOUT
</Plugin>
LoadPlugin load
LoadPlugin memory
# flush every second instead of waiting for a full 4 KiB buffer
<LoadPlugin write_http>
  FlushInterval 1
</LoadPlugin>
<Plugin write_http>
  <Node "relay">
    URL "http://127.0.0.1:${port}/collectd"
    Format "JSON"
    User "${USER}"
    Password "${PASSWORD}"
    LogHttpError true
  </Node>
</Plugin>
`;
}

/** collectd in the foreground (-f), its output kept for diagnostics. */
class Collectd {
  output = '';
  private readonly exited: Promise<void>;

  constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
  ) {
    const keep = (c: Buffer): void => {
      this.output = (this.output + c.toString('utf8')).slice(-64 * 1024);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  static start(port: number): Collectd {
    if (!fs.existsSync(COLLECTD)) throw new Error(`${COLLECTD} not found: apt-get install collectd-core libcurl3-gnutls libyajl2`);
    const dir = tempDir('cf-collectd-');
    const conf = path.join(dir, 'collectd.conf');
    fs.writeFileSync(conf, collectdConf(dir, port));
    return new Collectd(spawn(COLLECTD, ['-f', '-C', conf], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }), dir);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(kill);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('collectd write_http (Debian collectd-core) -> our /collectd -> carbon-cache', () => {
  let cache: CarbonCache | undefined;
  let relay: Relay | undefined;
  let collectd: Collectd | undefined;
  const capture = new CaptureServer('pickle');

  beforeAll(async () => {
    const [c, capturePort] = await Promise.all([startCarbonCache('1s:1h'), capture.listen()]);
    cache = c;
    const reconnect = { initialDelay: '50ms', maxDelay: '500ms' };
    relay = await startRelay({
      listen: { http: { host: '127.0.0.1', port: 0 } },
      http: { collectd: { auth: { users: [{ user: USER, password: PASSWORD }] } } },
      destinations: [
        { name: 'cache', host: '127.0.0.1', port: c.picklePort, protocol: 'pickle', reconnect },
        // the same datapoints, to know exactly what whisper must hold
        { name: 'capture', host: '127.0.0.1', port: capturePort, protocol: 'pickle', reconnect },
      ],
      rules: [{ default: true, destinations: ['cache', 'capture'] }],
    });
    collectd = Collectd.start(relay.listeners.http!.port);
  }, 60_000);

  afterAll(async () => {
    try {
      await collectd?.stop();
      await stopRelay(relay);
      await capture.close();
    } finally {
      await cache?.daemon.stop();
    }
  }, 30_000);

  it('stores load and memory under write_graphite names, with the values collectd sent', async () => {
    if (!cache || !relay || !collectd) throw new Error('setup failed');
    const c = cache;
    const names = ['interop_example.load.load.shortterm', 'interop_example.load.load.midterm', 'interop_example.load.load.longterm', 'interop_example.memory.memory-used'];
    const diagnostics = (): string => `collectd:\n${collectd?.output ?? ''}\ncarbon-cache stored: ${c.storedMetrics().join(', ')}\n${c.daemon.log}`;
    const sent = (name: string): Captured[] => capture.datapoints.filter((d) => d.name === name);

    await eventually(async () => names.map((n) => sent(n).length), (counts) => counts.every((n) => n > 0), 'collectd values to pass through the relay', { timeoutMs: 15_000, diagnostics });
    // libcurl sent no credentials until our 401 challenge, then authenticated
    expect(relay.counters.httpUnauthorized).toBeGreaterThanOrEqual(1);

    // each name's first datapoint, read back from the whisper file carbon-cache wrote
    const firsts = names.map((n) => sent(n)[0]!);
    const stored = await eventually(
      () => readWhisper(firsts.map((d) => ({ file: c.whisperFile(d.name), timestamp: d.timestamp }))),
      (values) => values.every((v) => v !== null && !v.startsWith('error')),
      'carbon-cache to write the collectd series to whisper',
      { timeoutMs: 15_000, intervalMs: 200, diagnostics },
    );
    firsts.forEach((d, i) => {
      // whisper keeps one value per 1 s slot: it must be one collectd sent for that slot
      const slot = Math.floor(d.timestamp);
      const candidates = sent(d.name).filter((x) => Math.floor(x.timestamp) === slot).map((x) => x.value);
      expect(candidates).toContain(fromPyRepr(stored[i]!));
    });
    // fractional collectd times (%.3f) reach the destinations as floats
    expect(firsts.every((d) => Number.isFinite(d.timestamp) && Math.abs(d.timestamp - Date.now() / 1000) < 60)).toBe(true);
    expect(sent('interop_example.memory.memory-used')[0]!.value).toBeGreaterThan(0);
    expect(c.storedMetrics()).toEqual(expect.arrayContaining(names));
    expect(c.storedMetrics().every((m) => m.startsWith('interop_example.'))).toBe(true);
    // every POST was taken whole: no item rejected, no error answer logged by write_http (LogHttpError)
    expect([relay.counters.httpInvalidItems, relay.counters.httpBadRequests]).toEqual([0, 0]);
    expect(collectd.output).not.toMatch(/write_http plugin: (HTTP Error code|curl_easy_perform failed)/);
  }, 40_000);
});
