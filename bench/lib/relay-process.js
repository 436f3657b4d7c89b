// @ts-check
'use strict';
/**
 * The relay under test as a real process: `node dist/cli.js start -c <tmp>`,
 * exactly as it is deployed. The config is a temp YAML file removed on stop().
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { track, stopProcess } = require('./children');

const CLI = path.resolve(__dirname, '..', '..', 'dist', 'cli.js');

/** A TCP port on 127.0.0.1 that was free a moment ago. @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Resolves once 127.0.0.1:port accepts a connection (the probe is closed without sending anything).
 * Also used for the peer relays (lib/peers.js).
 * @param {number} port
 * @param {() => string | null} failed returns a reason to stop waiting (the process died)
 * @param {number} timeoutMs
 */
async function waitForPort(port, failed, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    const why = failed();
    if (why !== null) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`relay did not accept connections on port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

class RelayProcess {
  /**
   * @param {string} yaml config text
   * @param {number} port the listener to wait for
   * @param {string[]} nodeArgs extra node flags (e.g. --cpu-prof)
   */
  constructor(yaml, port, nodeArgs = []) {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} not found: run \`npm run build\` first (npm run bench does)`);
    this.port = port;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carbon-fanout-bench-'));
    this.configFile = path.join(this.dir, 'relay.yaml');
    fs.writeFileSync(this.configFile, yaml);
    this.removeDir = () => fs.rmSync(this.dir, { recursive: true, force: true });
    process.once('exit', this.removeDir); // also on Ctrl-C (run.js exits from its SIGINT handler)
    /** stderr, bounded to its last 64 KiB (warnings and errors only, with LOG_LEVEL=warn). */
    this.stderr = '';
    this.proc = track(
      spawn(process.execPath, [...nodeArgs, CLI, 'start', '-c', this.configFile], {
        cwd: path.resolve(__dirname, '..', '..'),
        env: { ...process.env, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    const err = /** @type {import('node:stream').Readable} */ (this.proc.stderr);
    err.setEncoding('utf8');
    err.on('data', (/** @type {string} */ s) => {
      this.stderr = (this.stderr + s).slice(-65536);
    });
  }

  get pid() {
    return /** @type {number} */ (this.proc.pid);
  }

  /** Resolves when the line listener accepts connections. */
  async ready(timeoutMs = 15_000) {
    await waitForPort(
      this.port,
      () => (this.proc.exitCode !== null || this.proc.signalCode !== null ? `relay exited during startup (code ${this.proc.exitCode}):\n${this.stderr}` : null),
      timeoutMs,
    );
  }

  /** SIGTERM (the relay drains its queues, up to shutdownTimeout), SIGKILL if it hangs; removes the temp config. */
  async stop(graceMs = 20_000) {
    try {
      return await stopProcess(this.proc, 'SIGTERM', graceMs);
    } finally {
      process.off('exit', this.removeDir);
      this.removeDir();
    }
  }
}

module.exports = { RelayProcess, freePort, waitForPort };
