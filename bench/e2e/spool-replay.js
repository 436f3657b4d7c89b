// @ts-check
'use strict';
/**
 * Scenario "spool replay": the sink destination is down while the load
 * generator sends a backlog (BENCH_SPOOL_BACKLOG, default BENCH_METRICS), which
 * the relay spools (overflow mode); then the sink comes up and the relay
 * replays the backlog at up to BENCH_SPOOL_REPLAY_RATE datapoints/s. Measured
 * from the sink's start: replay rate, relay CPU per replayed datapoint, and the
 * relay's peak RSS, which must stay bounded by the memory queue, not the backlog.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { LoadGenerator } = require('../lib/loadgen');
const { CountingSink } = require('../lib/sink');
const { RelayProcess, freePort } = require('../lib/relay-process');
const { cpuMicros, peakRssMiB } = require('../lib/proc-stats');
const { NAME_PREFIX } = require('../lib/workload');
const { envNumber } = require('../lib/env');

const name = 'spool replay';
const bar = { loss: 0, peakRssMiB: 250 };

/** Bytes of spool segment files under dataDir. @param {string} dataDir */
function segmentBytes(dataDir) {
  const root = path.join(dataDir, 'spool');
  if (!fs.existsSync(root)) return 0;
  let total = 0;
  for (const d of fs.readdirSync(root)) for (const f of fs.readdirSync(path.join(root, d))) if (f.endsWith('.seg')) total += fs.statSync(path.join(root, d, f)).size;
  return total;
}

/**
 * @param {import('../lib/types').ScenarioOptions} opts
 * @returns {Promise<import('../lib/types').ScenarioResult>}
 */
async function run(opts) {
  const total = Math.floor(envNumber('BENCH_SPOOL_BACKLOG', opts.metrics));
  const replayRate = Math.floor(envNumber('BENCH_SPOOL_REPLAY_RATE', 1_000_000));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-bench-replay-'));
  /** @type {RelayProcess | null} */
  let relay = null;
  /** @type {LoadGenerator | null} */
  let gen = null;
  /** @type {CountingSink | null} */
  let sink = null;
  try {
    const [port, sinkPort] = [await freePort(), await freePort()];
    const yaml = `logLevel: warn
shutdownTimeout: 10s
workers: 1
admin: { port: 0 }
dataDir: ${JSON.stringify(dataDir)}
listen:
  line:
    tcp: { host: 127.0.0.1, port: ${port} }
destinations:
  - name: sink
    host: 127.0.0.1
    port: ${sinkPort}
    protocol: pickle
    reconnect: { initialDelay: 50ms, maxDelay: 200ms }
    spool: { mode: overflow, replayRate: ${replayRate} }
rules:
  - default: true
    destinations: [sink]
`;
    relay = new RelayProcess(yaml, port, opts.relayNodeArgs);
    await relay.ready();
    gen = new LoadGenerator({ port, total, connections: 4, names: 10_000, writeBytes: 64 * 1024 });
    await gen.ready();
    await gen.go();
    opts.log(`sending a backlog of ${total.toLocaleString('en-US')} datapoints to a relay whose destination is down...`);
    await gen.done(opts.timeoutMs);
    // everything spooled and synced: the segment files stop growing for a few sync intervals
    let last = -1;
    let stableSince = Date.now();
    for (;;) {
      const b = segmentBytes(dataDir);
      if (b !== last) {
        last = b;
        stableSince = Date.now();
      } else if (b > 0 && Date.now() - stableSince > 2500) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const spooledMiB = last / 1024 / 1024;
    const rssBacklog = peakRssMiB(relay.pid);
    opts.log(`backlog on disk: ${spooledMiB.toFixed(1)} MiB; starting the destination`);
    const cpuBefore = cpuMicros(relay.pid);
    const t0 = process.hrtime.bigint();
    sink = await new CountingSink(NAME_PREFIX, sinkPort).start();
    sink.expect(total);
    const final = await sink.reached(opts.timeoutMs).catch(() => null);
    const stats = final ?? (await sink.stats());
    const end = final !== null ? BigInt(stats.reachedAt) : process.hrtime.bigint();
    const seconds = Number(end - t0) / 1e9;
    const cpu = cpuMicros(relay.pid) - cpuBefore;
    const received = stats.datapoints;
    return {
      name,
      metrics: total,
      seconds,
      metricsPerSec: received / seconds,
      cpuMicrosPerMetric: received > 0 ? cpu / received : NaN,
      peakRssMiB: peakRssMiB(relay.pid),
      loss: total - received,
      details: {
        'backlog on disk MiB': spooledMiB.toFixed(1),
        'bytes on disk per datapoint': (last / total).toFixed(1),
        'replayRate cap (datapoints/s)': replayRate,
        'relay peak RSS after spooling the backlog MiB': rssBacklog.toFixed(1),
        'relay CPU s (replay)': (cpu / 1e6).toFixed(2),
      },
    };
  } finally {
    if (relay !== null) await relay.stop();
    await Promise.all([gen?.stop(), sink?.stop()]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** @type {import('../lib/types').Scenario} */
module.exports = { name, run, bar };
