import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runPythonJson } from './python';
import { tempDir } from './relay';
import { WatchedProcess } from './watched-process';

/**
 * Real Debian graphite-carbon daemons (carbon-cache, carbon-relay) for interop
 * tests: each runs in the foreground from its own temp dir, bound to 127.0.0.1
 * on free ports, and is always killed by stop().
 */

/**
 * Free ports on 127.0.0.1 for programs that need a number up front, each bound
 * once to check it (all at once, so distinct). Chosen below Linux's ephemeral
 * range (32768-60999): a port from that range can be taken, between this
 * check and the program's bind, by the local end of any outgoing connection
 * (a relay reconnecting to a destination that is down makes many), which once
 * made carbon-cache fail with "Address already in use".
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < n; tries++) {
      if (tries > 1000) throw new Error(`no ${n} free ports found between ${PORT_LOW} and ${PORT_HIGH}`);
      const port = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW));
      if (ports.includes(port)) continue;
      const s = net.createServer();
      const bound = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (!bound) continue;
      servers.push(s);
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

const PORT_LOW = 20_000;
const PORT_HIGH = 32_000;

/** True when a TCP connection to 127.0.0.1:port succeeds (it is closed again at once). */
export function canConnect(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}


export type CarbonProgram = 'cache' | 'relay' | 'aggregator';

export interface CarbonDaemonSpec {
  program: CarbonProgram;
  /** Keys for the `[cache]`, `[relay]` or `[aggregator]` section, besides the directories this helper points into its temp dir. */
  settings: Record<string, string | number | boolean>;
  /** More files for CONF_DIR, by name (storage-schemas.conf, relay-rules.conf, aggregation-rules.conf). */
  files?: Record<string, string>;
  /** Ports on 127.0.0.1 that must accept connections before start() resolves. */
  readyPorts: readonly number[];
  startTimeoutMs?: number;
}

/** The daemon could not bind a port (another process took it after freePorts() saw it free); worth a retry on new ports. */
export class CarbonStartError extends Error {
  override readonly name = 'CarbonStartError';
}

/**
 * The carbon.conf CarbonDaemon.start writes into `dir`: one `[cache]` or
 * `[relay]` section with `settings`, after the directories (all inside `dir`,
 * CONF_DIR = dir) and the test defaults they override. Exported so another
 * relay can be given the very same text with only its own ports changed.
 */
export function carbonConfText(program: CarbonProgram, dir: string, settings: CarbonDaemonSpec['settings']): string {
  const sub = (...p: string[]): string => path.join(dir, ...p);
  const all: Record<string, string | number | boolean> = {
    STORAGE_DIR: sub('storage'),
    LOCAL_DATA_DIR: sub('storage', 'whisper'),
    WHITELISTS_DIR: sub('storage', 'lists'),
    CONF_DIR: dir,
    LOG_DIR: sub('log'),
    PID_DIR: sub('run'),
    ENABLE_UDP_LISTENER: 'False',
    // No self-metrics: every datapoint in a test is one the test sent.
    CARBON_METRIC_INTERVAL: 0,
    ...settings,
  };
  // ConfigParser interpolates '%', so escape it in paths and values.
  const body = Object.entries(all).map(([k, v]) => `${k} = ${String(v).replace(/%/g, '%%')}`);
  return `[${program}]\n${body.join('\n')}\n`;
}

const MAX_LOG = 256 * 1024;

export class CarbonDaemon {
  private readonly proc: WatchedProcess;

  private constructor(
    readonly program: CarbonProgram,
    /** CONF_DIR, with everything else the daemon writes below it. */
    readonly dir: string,
    child: ChildProcess,
  ) {
    this.proc = new WatchedProcess(child, MAX_LOG);
  }

  /** Write carbon.conf (and the extra files) into a fresh temp dir, start the daemon and wait until its ports accept connections. */
  static async start(spec: CarbonDaemonSpec): Promise<CarbonDaemon> {
    const dir = tempDir(`cf-carbon-${spec.program}-`);
    const sub = (...p: string[]): string => path.join(dir, ...p);
    for (const d of ['storage/whisper', 'storage/lists', 'log', 'run']) fs.mkdirSync(sub(d), { recursive: true });
    fs.writeFileSync(sub('carbon.conf'), carbonConfText(spec.program, dir, spec.settings));
    // Every carbon daemon refuses to start without storage-schemas.conf, even the relay.
    const files = { 'storage-schemas.conf': '[default]\npattern = .*\nretentions = 60s:1d\n', ...spec.files };
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(sub(name), text);

    const bin = `/usr/bin/carbon-${spec.program}`;
    const child = spawn(fs.existsSync(bin) ? bin : `carbon-${spec.program}`, [`--config=${sub('carbon.conf')}`, '--nodaemon', 'start'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONWARNINGS: 'ignore', PYTHONUNBUFFERED: '1' },
    });
    const daemon = new CarbonDaemon(spec.program, dir, child);
    try {
      await daemon.waitReady(spec.readyPorts, spec.startTimeoutMs ?? 30_000);
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    return daemon;
  }

  /** Everything the daemon printed so far (it logs to stdout in the foreground). */
  get log(): string {
    return this.proc.output;
  }

  get running(): boolean {
    return this.proc.exitStatus === null;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; then remove the temp dir. Safe to call twice. */
  async stop(graceMs = 10_000): Promise<void> {
    await this.proc.stop(graceMs);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitReady(ports: readonly number[], timeoutMs: number): Promise<void> {
    const start = Date.now();
    const pending = new Set(ports);
    while (pending.size > 0) {
      if (this.proc.exitStatus !== null) {
        const message = `carbon-${this.program} ${this.proc.exitStatus} before it was ready:\n${this.proc.output}`;
        throw /Address already in use|CannotListenError/.test(this.proc.output) ? new CarbonStartError(message) : new Error(message);
      }
      if (Date.now() - start > timeoutMs) {
        throw new Error(`carbon-${this.program} not accepting connections on ${[...pending].join(', ')} after ${timeoutMs} ms:\n${this.proc.output}`);
      }
      for (const p of [...pending]) {
        // The log line proves the port is carbon's, not some other process's that won the race for it.
        if (new RegExp(`starting on ${p}\\b`).test(this.proc.output) && (await canConnect(p))) pending.delete(p);
      }
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Start a daemon on fresh free ports, retrying (with new ports) if it exits before it is ready. */
export async function startOnFreePorts(portCount: number, specFor: (ports: number[]) => CarbonDaemonSpec): Promise<{ daemon: CarbonDaemon; ports: number[] }> {
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(portCount);
    try {
      return { daemon: await CarbonDaemon.start(specFor(ports)), ports };
    } catch (err) {
      if (!(err instanceof CarbonStartError) || attempt >= 3) throw err;
    }
  }
}

export interface CarbonCache {
  daemon: CarbonDaemon;
  linePort: number;
  picklePort: number;
  /** Where whisper files go (LOCAL_DATA_DIR). */
  dataDir: string;
  /** The .wsp file carbon-cache writes for a metric name. */
  whisperFile(metric: string): string;
  /** Every .wsp file under dataDir, as metric names, sorted. */
  storedMetrics(): string[];
}

/** carbon-cache with one storage schema for every metric, e.g. `1s:1h`. */
export async function startCarbonCache(retentions: string): Promise<CarbonCache> {
  const { daemon, ports } = await startOnFreePorts(3, (p) => carbonCacheSpec(p, retentions));
  return carbonCache(daemon, ports);
}

/** carbon-cache on ports chosen before (a destination that comes up after an outage): [line, pickle, cache query]. */
export async function startCarbonCacheOn(ports: readonly number[], retentions: string): Promise<CarbonCache> {
  return carbonCache(await CarbonDaemon.start(carbonCacheSpec(ports, retentions)), ports);
}

function carbonCacheSpec([line, pickle, query]: readonly number[], retentions: string): CarbonDaemonSpec {
  return {
    program: 'cache',
    settings: {
      LINE_RECEIVER_INTERFACE: '127.0.0.1',
      LINE_RECEIVER_PORT: line,
      PICKLE_RECEIVER_INTERFACE: '127.0.0.1',
      PICKLE_RECEIVER_PORT: pickle,
      CACHE_QUERY_INTERFACE: '127.0.0.1',
      CACHE_QUERY_PORT: query,
      MAX_CACHE_SIZE: 'inf',
      MAX_CREATES_PER_MINUTE: 'inf',
      MAX_UPDATES_PER_SECOND: 100_000,
      LOG_UPDATES: 'False',
      LOG_CREATES: 'False',
    },
    files: { 'storage-schemas.conf': `[default]\npattern = .*\nretentions = ${retentions}\n` },
    readyPorts: [line, pickle],
  };
}

function carbonCache(daemon: CarbonDaemon, ports: readonly number[]): CarbonCache {
  const dataDir = path.join(daemon.dir, 'storage', 'whisper');
  return {
    daemon,
    linePort: ports[0],
    picklePort: ports[1],
    dataDir,
    // carbon's getFilesystemPath: dots become directories.
    whisperFile: (metric) => path.join(dataDir, metric.replace(/\./g, path.sep).replace(/^\/+/, '') + '.wsp'),
    storedMetrics: () =>
      (fs.readdirSync(dataDir, { recursive: true, encoding: 'utf8' }) as string[])
        .filter((f) => f.endsWith('.wsp'))
        .map((f) => f.slice(0, -'.wsp'.length).split(path.sep).join('.'))
        .sort(),
  };
}

export interface CarbonRelay {
  daemon: CarbonDaemon;
  linePort: number;
  picklePort: number;
}

/** carbon-relay with RELAY_METHOD=rules whose only (default) rule sends everything to `destinations` (`host:port`). */
export async function startCarbonRelay(destinations: readonly string[], protocol: 'pickle' | 'line' = 'pickle'): Promise<CarbonRelay> {
  const list = destinations.join(', ');
  const { daemon, ports } = await startOnFreePorts(2, ([line, pickle]) => ({
    program: 'relay',
    settings: {
      LINE_RECEIVER_INTERFACE: '127.0.0.1',
      LINE_RECEIVER_PORT: line,
      PICKLE_RECEIVER_INTERFACE: '127.0.0.1',
      PICKLE_RECEIVER_PORT: pickle,
      RELAY_METHOD: 'rules',
      DESTINATIONS: list,
      DESTINATION_PROTOCOL: protocol,
    },
    files: { 'relay-rules.conf': `[default]\ndefault = true\ndestinations = ${list}\n` },
    readyPorts: [line, pickle],
  }));
  return { daemon, linePort: ports[0], picklePort: ports[1] };
}

export interface CarbonAggregator {
  daemon: CarbonDaemon;
  linePort: number;
  picklePort: number;
}

/** carbon-aggregator with `rules` as CONF_DIR/aggregation-rules.conf, relaying (aggregates and forwarded datapoints) to `destinations` (`host:port`). */
export async function startCarbonAggregator(destinations: readonly string[], rules: string, settings: CarbonDaemonSpec['settings'] = {}): Promise<CarbonAggregator> {
  const { daemon, ports } = await startOnFreePorts(2, ([line, pickle]) => ({
    program: 'aggregator',
    settings: {
      LINE_RECEIVER_INTERFACE: '127.0.0.1',
      LINE_RECEIVER_PORT: line,
      PICKLE_RECEIVER_INTERFACE: '127.0.0.1',
      PICKLE_RECEIVER_PORT: pickle,
      DESTINATIONS: destinations.join(', '),
      ...settings,
    },
    files: { 'aggregation-rules.conf': rules },
    readyPorts: [line, pickle],
  }));
  return { daemon, linePort: ports[0], picklePort: ports[1] };
}

/** One whisper cell to read: the file and a timestamp inside the archive's retention. */
export interface WhisperPoint {
  file: string;
  timestamp: number;
}

const FETCH_SCRIPT = String.raw`
import json, os, sys, whisper
out = []
for path, t in json.load(sys.stdin):
    try:
        if not os.path.exists(path):
            out.append(None)
            continue
        (start, end, step), values = whisper.fetch(path, t - 1, t + 1)
        i = (int(t) - int(t) % step - start) // step
        v = values[i] if 0 <= i < len(values) else None
        out.append(None if v is None else repr(v))
    except Exception as e:  # a file carbon is still creating
        out.append('error: %r' % e)
print(json.dumps(out))
`;

/**
 * Read whisper cells with python3-whisper's whisper.fetch (an independent
 * reader): for each point, Python's repr() of the stored float, or null when
 * the file or the value is not there (yet).
 */
export function readWhisper(points: readonly WhisperPoint[]): Promise<(string | null)[]> {
  return runPythonJson<(string | null)[]>(FETCH_SCRIPT, { input: JSON.stringify(points.map((p) => [p.file, p.timestamp])) });
}
