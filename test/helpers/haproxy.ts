import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { canConnect } from './carbon';
import { tempDir } from './relay';
import { WatchedProcess } from './watched-process';

/**
 * Debian's HAProxy for interop tests: a TCP frontend on 127.0.0.1 balancing
 * over servers that are health-checked over HTTP on another port (a relay's
 * admin /ready), plus an HTTP stats listener whose CSV says what HAProxy thinks
 * of each server. Runs in the foreground (-db), logs every session (tcplog) to
 * its stdout, and is always killed by stop().
 */

export const HAPROXY = fs.existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';

export interface HaproxyServer {
  name: string;
  /** The port HAProxy forwards connections to (127.0.0.1). */
  port: number;
  /** The port the health check asks `GET <checkPath>` on. */
  checkPort: number;
}

export interface HaproxySpec {
  frontendPort: number;
  statsPort: number;
  servers: readonly HaproxyServer[];
  /** Default /ready. */
  checkPath?: string;
  /** Check interval; default 500ms. A server is down after `fall` failed checks, up after `rise` good ones (2 and 2). */
  inter?: string;
  fall?: number;
  rise?: number;
  startTimeoutMs?: number;
  /** Send a PROXY protocol v2 header on every connection to a server (`send-proxy-v2`; health checks go without). */
  sendProxy?: boolean;
}

const BACKEND = 'relays';

/** The haproxy.cfg for a spec: deploy/haproxy.cfg.example's backend, on loopback ports, with tighter timers. */
export function haproxyConfigText(spec: HaproxySpec): string {
  const { inter = '500ms', fall = 2, rise = 2, checkPath = '/ready' } = spec;
  return [
    'global',
    '    log stdout format raw local0',
    '    maxconn 4096',
    '',
    'defaults',
    '    mode tcp',
    '    log global',
    '    option tcplog',
    '    option redispatch',
    '    retries 3',
    '    timeout connect 1s',
    '    timeout client 30s',
    '    timeout server 30s',
    '    timeout check 1s',
    '',
    'frontend carbon_line',
    `    bind 127.0.0.1:${spec.frontendPort}`,
    `    default_backend ${BACKEND}`,
    '',
    `backend ${BACKEND}`,
    '    balance leastconn',
    `    option httpchk GET ${checkPath}`,
    '    http-check expect status 200',
    ...spec.servers.map((s) => `    server ${s.name} 127.0.0.1:${s.port} check port ${s.checkPort} inter ${inter} fall ${fall} rise ${rise}${spec.sendProxy === true ? ' send-proxy-v2' : ''}`),
    '',
    'listen stats',
    '    mode http',
    '    option dontlog-normal',
    `    bind 127.0.0.1:${spec.statsPort}`,
    '    stats enable',
    '    stats uri /stats',
    '',
  ].join('\n');
}

/** One row of HAProxy's stats CSV, by column name (pxname, svname, status, scur, stot, check_status, ...). */
export type HaproxyStatRow = Record<string, string>;

/** One tcplog line: `client [date] frontend backend/server Tw/Tc/Tt bytes state ac/fc/bc/sc/rc sq/bq`. */
export interface HaproxySession {
  server: string;
  bytes: number;
  /** Two-character termination state; `--` is a normal close. */
  state: string;
  /** Connection retries; `redispatched` when the last one went to another server. */
  retries: number;
  redispatched: boolean;
  line: string;
}


const MAX_LOG = 8 * 1024 * 1024;

export class Haproxy {
  private readonly proc: WatchedProcess;

  private constructor(
    readonly spec: HaproxySpec,
    readonly dir: string,
    child: ChildProcess,
  ) {
    this.proc = new WatchedProcess(child, MAX_LOG);
  }

  /** Write the config, have `haproxy -c` accept it, start `haproxy -f cfg -db` and wait until the frontend and stats ports accept connections. */
  static async start(spec: HaproxySpec): Promise<Haproxy> {
    const dir = tempDir('cf-haproxy-');
    const cfg = path.join(dir, 'haproxy.cfg');
    fs.writeFileSync(cfg, haproxyConfigText(spec));
    const checked = spawnSync(HAPROXY, ['-c', '-f', cfg], { encoding: 'utf8' });
    if (checked.status !== 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`haproxy -c rejected the config (${checked.error?.message ?? `exit ${checked.status}`}):\n${checked.stdout}${checked.stderr}\n${fs.readFileSync(cfg, 'utf8')}`);
    }
    const child = spawn(HAPROXY, ['-f', cfg, '-db'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const h = new Haproxy(spec, dir, child);
    try {
      const start = Date.now();
      const timeout = spec.startTimeoutMs ?? 10_000;
      for (;;) {
        if (h.proc.exitStatus !== null) throw new Error(`haproxy ${h.proc.exitStatus} before it was ready:\n${h.proc.output}`);
        if ((await canConnect(spec.frontendPort)) && (await canConnect(spec.statsPort))) break;
        if (Date.now() - start > timeout) throw new Error(`haproxy not accepting connections after ${timeout} ms:\n${h.proc.output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } catch (err) {
      await h.stop();
      throw err;
    }
    return h;
  }

  /** Everything HAProxy printed: its warnings and one tcplog line per finished session. */
  get log(): string {
    return this.proc.output;
  }

  get running(): boolean {
    return this.proc.exitStatus === null;
  }

  /** The stats CSV (`/stats;csv`), one row per frontend, backend and server. */
  async stats(): Promise<HaproxyStatRow[]> {
    const res = await fetch(`http://127.0.0.1:${this.spec.statsPort}/stats;csv`);
    const text = await res.text();
    if (!res.ok) throw new Error(`haproxy stats: HTTP ${res.status}: ${text}`);
    const [header, ...rows] = text.trim().split('\n');
    const cols = header.replace(/^#\s*/, '').split(',');
    return rows.map((r) => {
      const cells = r.split(',');
      return Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
    });
  }

  /** The backend's row for one server (status `UP`, `DOWN`, `UP 1/2`, `DOWN 1/2`, ...; stot, scur, check_status). */
  async server(name: string): Promise<HaproxyStatRow> {
    const row = (await this.stats()).find((r) => r.pxname === BACKEND && r.svname === name);
    if (row === undefined) throw new Error(`haproxy stats: no server ${name} in backend ${BACKEND}`);
    return row;
  }

  /** The sessions logged so far through the frontend (tcplog lines). */
  sessions(): HaproxySession[] {
    const out: HaproxySession[] = [];
    for (const line of this.proc.output.split('\n')) {
      const m = / carbon_line \S+?\/(\S+) \S+ (\d+) (\S\S) \d+\/\d+\/\d+\/\d+\/(\+?)(\d+) /.exec(line);
      if (m === null) continue;
      out.push({ server: m[1], bytes: Number(m[2]), state: m[3], redispatched: m[4] === '+', retries: Number(m[5]), line });
    }
    return out;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; then remove the temp dir. Safe to call twice. */
  async stop(graceMs = 5_000): Promise<void> {
    await this.proc.stop(graceMs);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
