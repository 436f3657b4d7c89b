// @ts-check
'use strict';
/**
 * Other carbon relays, run as the relay under test in lib/relay-scenario.js
 * (its `relay` hook), for the peer comparisons (bench/e2e/vs-*.js):
 *
 *   carbon-relay    Debian's graphite-carbon (Python/Twisted), /usr/bin/carbon-relay
 *                   --nodaemon, from a temp dir holding its carbon.conf ([relay]:
 *                   RELAY_METHOD = rules, DESTINATIONS = the sink, pickle out, the
 *                   [relay] values of Debian's /etc/carbon/carbon.conf, but for
 *                   MAX_QUEUE_SIZE, which the caller chooses: see below),
 *                   relay-rules.conf (one default rule) and storage-schemas.conf
 *                   (every carbon daemon insists on one)
 *   carbon-c-relay  (C, multi-threaded; Debian package carbon-c-relay) with a
 *                   config of one linemode TCP listener, one `forward` cluster
 *                   (the sink, line protocol: it has no pickle output) and
 *                   `match * send to sink stop`, in submission mode (-s: no
 *                   statistics of its own; drops and queue pressure are logged),
 *                   `-q` (queue size) chosen by the caller
 *
 * The queue size: both peers DROP datapoints when their destination queue is
 * full (carbon-relay 1.1.7 wires USE_FLOW_CONTROL only into carbon-cache, and
 * LineOnlyReceiver reads on regardless; carbon-c-relay stalls a sender at most
 * -L times, then drops), so with their stock queues (10,000 in Debian's
 * carbon.conf, 25,000) a flat-out sender loses most of its datapoints, and the
 * delivered rate says nothing about speed. The comparisons therefore give them
 * a queue that holds the whole load (BENCH_PEER_QUEUE, see vs-peer.js).
 *
 * Each runs in the foreground, is tracked by lib/children.js (killed if the
 * benchmark dies) and stopped with SIGTERM (SIGKILL after a grace period); its
 * temp dir is removed on stop.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { track, stopProcess } = require('./children');
const { waitForPort, freePort } = require('./relay-process');

/** Keep this much of a peer's output (stdout and stderr together). */
const MAX_OUTPUT = 64 * 1024;

/**
 * An executable named `name` on PATH (or in /usr/bin, /usr/sbin), or null.
 * @param {string} name
 * @returns {string | null}
 */
function findExecutable(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const d of dirs) {
    const f = path.join(d, name);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      if (fs.statSync(f).isFile()) return f;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** @param {string} cmd @param {string[]} args @returns {string} stdout+stderr, '' when it fails to run */
function output(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const e = /** @type {{ stdout?: string, stderr?: string }} */ (err);
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

/**
 * @typedef {object} PeerInfo
 * @property {string | null} bin      the executable, null when not installed
 * @property {string} version         e.g. "1.1.7-1.1", or "" when unknown
 * @property {string} whyNot          when bin is null: why the comparison is skipped
 */

/** @returns {PeerInfo} Debian's carbon-relay (package graphite-carbon) */
function carbonRelayInfo() {
  const bin = findExecutable('carbon-relay');
  if (bin === null) return { bin, version: '', whyNot: 'carbon-relay is not installed (apt-get install -y graphite-carbon)' };
  const v = output('dpkg-query', ['-W', '-f=${Version}', 'graphite-carbon']).trim();
  return { bin, version: /^[\w.+~:-]+$/.test(v) ? v : '', whyNot: '' };
}

/** @returns {PeerInfo} carbon-c-relay */
function carbonCRelayInfo() {
  const bin = findExecutable('carbon-c-relay');
  if (bin === null) return { bin, version: '', whyNot: 'carbon-c-relay is not installed (apt-get install -y carbon-c-relay)' };
  const m = /carbon-c-relay v?(\S+)/.exec(output(bin, ['-v']));
  return { bin, version: m === null ? '' : m[1], whyNot: '' };
}

/** A peer relay process: the shape lib/relay-scenario.js measures (RelayUnderTest). */
class PeerProcess {
  /**
   * @param {string} label e.g. "carbon-relay"
   * @param {string} bin
   * @param {string[]} args
   * @param {{ dir: string, port: number, readyText?: RegExp, env?: NodeJS.ProcessEnv }} o
   *   dir: its temp dir (cwd; removed on stop); port: the listener to wait for;
   *   readyText: also wait for this in its output (proof that the port is its own)
   */
  constructor(label, bin, args, o) {
    this.label = label;
    this.dir = o.dir;
    this.port = o.port;
    this.readyText = o.readyText;
    this.removeDir = () => fs.rmSync(this.dir, { recursive: true, force: true });
    process.once('exit', this.removeDir);
    /** stdout and stderr together, the last MAX_OUTPUT characters. */
    this.stderr = '';
    this.proc = track(spawn(bin, args, { cwd: o.dir, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    for (const s of [this.proc.stdout, this.proc.stderr]) {
      const r = /** @type {import('node:stream').Readable} */ (s);
      r.setEncoding('utf8');
      r.on('data', (/** @type {string} */ t) => {
        this.stderr = (this.stderr + t).slice(-MAX_OUTPUT);
      });
    }
  }

  get pid() {
    return /** @type {number} */ (this.proc.pid);
  }

  /** Resolves when the listener accepts connections (and readyText was printed). */
  async ready(timeoutMs = 30_000) {
    const exited = () => (this.proc.exitCode !== null || this.proc.signalCode !== null ? `${this.label} exited during startup (code ${this.proc.exitCode}, signal ${this.proc.signalCode}):\n${this.stderr}` : null);
    const deadline = Date.now() + timeoutMs;
    while (this.readyText !== undefined && !this.readyText.test(this.stderr)) {
      const why = exited();
      if (why !== null) throw new Error(why);
      if (Date.now() > deadline) throw new Error(`${this.label} did not print ${this.readyText} within ${timeoutMs} ms:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitForPort(this.port, exited, Math.max(1000, deadline - Date.now()));
  }

  /** SIGTERM, SIGKILL after graceMs; removes the temp dir. */
  async stop(graceMs = 15_000) {
    try {
      return await stopProcess(this.proc, 'SIGTERM', graceMs);
    } finally {
      process.off('exit', this.removeDir);
      this.removeDir();
    }
  }
}

/** MAX_QUEUE_SIZE in Debian's /etc/carbon/carbon.conf [relay] (carbon's own built-in default is 1000). */
const CARBON_RELAY_STOCK_QUEUE = 10_000;
/** carbon-c-relay's default -q. */
const CARBON_C_RELAY_STOCK_QUEUE = 25_000;

/**
 * carbon-relay's other [relay] settings from Debian's /etc/carbon/carbon.conf (graphite-carbon 1.1.7).
 */
const DEBIAN_RELAY_DEFAULTS = {
  MAX_DATAPOINTS_PER_MESSAGE: 500,
  QUEUE_LOW_WATERMARK_PCT: 0.8,
  TIME_TO_DEFER_SENDING: 0.0001,
  USE_FLOW_CONTROL: 'True',
  USE_RATIO_RESET: 'False',
};

/**
 * Start carbon-relay: line listener on `port`, pickle out to 127.0.0.1:sinkPort.
 * @param {string} bin
 * @param {number} port
 * @param {number} sinkPort
 * @param {number} [queueSize] MAX_QUEUE_SIZE (default: Debian's)
 * @returns {Promise<PeerProcess>}
 */
async function startCarbonRelay(bin, port, sinkPort, queueSize = CARBON_RELAY_STOCK_QUEUE) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-bench-carbon-relay-'));
  const sub = (/** @type {string[]} */ ...p) => path.join(dir, ...p);
  for (const d of ['storage/whisper', 'storage/lists', 'log', 'run']) fs.mkdirSync(sub(d), { recursive: true });
  const dest = `127.0.0.1:${sinkPort}`;
  const settings = {
    STORAGE_DIR: sub('storage'),
    LOCAL_DATA_DIR: sub('storage', 'whisper'),
    WHITELISTS_DIR: sub('storage', 'lists'),
    CONF_DIR: dir,
    LOG_DIR: sub('log'),
    PID_DIR: sub('run'),
    ENABLE_UDP_LISTENER: 'False',
    CARBON_METRIC_INTERVAL: 0, // no self-metrics (the sink would count them apart anyway)
    LINE_RECEIVER_INTERFACE: '127.0.0.1',
    LINE_RECEIVER_PORT: port,
    PICKLE_RECEIVER_INTERFACE: '127.0.0.1',
    PICKLE_RECEIVER_PORT: await freePort(),
    RELAY_METHOD: 'rules',
    DESTINATIONS: dest,
    DESTINATION_PROTOCOL: 'pickle',
    MAX_QUEUE_SIZE: queueSize,
    ...DEBIAN_RELAY_DEFAULTS,
  };
  // ConfigParser interpolates '%': escape it in paths
  const conf = `[relay]\n${Object.entries(settings)
    .map(([k, v]) => `${k} = ${String(v).replace(/%/g, '%%')}`)
    .join('\n')}\n`;
  fs.writeFileSync(sub('carbon.conf'), conf);
  fs.writeFileSync(sub('relay-rules.conf'), `[default]\ndefault = true\ndestinations = ${dest}\n`);
  fs.writeFileSync(sub('storage-schemas.conf'), '[default]\npattern = .*\nretentions = 60s:1d\n');
  return new PeerProcess('carbon-relay', bin, [`--config=${sub('carbon.conf')}`, '--nodaemon', 'start'], {
    dir,
    port,
    readyText: new RegExp(`starting on ${port}\\b`),
    env: { PYTHONWARNINGS: 'ignore', PYTHONUNBUFFERED: '1' },
  });
}

/**
 * Start carbon-c-relay: linemode TCP listener on `port`, forward (line protocol) to 127.0.0.1:sinkPort.
 * @param {string} bin
 * @param {number} port
 * @param {number} sinkPort
 * @param {number} [queueSize] -q (default: its own)
 * @param {string[]} [extraArgs] e.g. ['-w', '1'] (BENCH_CRELAY_ARGS)
 * @returns {Promise<PeerProcess>}
 */
async function startCarbonCRelay(bin, port, sinkPort, queueSize = CARBON_C_RELAY_STOCK_QUEUE, extraArgs = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-bench-carbon-c-relay-'));
  const conf = path.join(dir, 'relay.conf');
  fs.writeFileSync(
    conf,
    `# written by bench/lib/peers.js
listen
    type linemode
        127.0.0.1:${port} proto tcp
    ;
cluster sink
    forward
        127.0.0.1:${sinkPort} proto tcp
    ;
match *
    send to sink
    stop
    ;
`,
  );
  return new PeerProcess('carbon-c-relay', bin, ['-f', conf, '-s', '-H', 'bench', '-q', String(queueSize), ...extraArgs], { dir, port });
}

module.exports = { findExecutable, carbonRelayInfo, carbonCRelayInfo, PeerProcess, startCarbonRelay, startCarbonCRelay, CARBON_RELAY_STOCK_QUEUE, CARBON_C_RELAY_STOCK_QUEUE };
