// @ts-check
'use strict';
/**
 * Scenario "line -> pickle", end to end over loopback, four processes:
 *
 *   load generator ──plaintext, 4 TCP conns──▶ relay (dist/cli.js) ──pickle──▶ counting sink
 *
 * Measured: wall time from the first byte sent until the sink has counted
 * every datapoint; the relay's CPU time (/proc/<pid>/stat) over that window;
 * its peak RSS (VmHWM); loss = sent - counted.
 */
const { CountingSink } = require('../lib/sink');
const { LoadGenerator } = require('../lib/loadgen');
const { RelayProcess, freePort } = require('../lib/relay-process');
const { cpuMicros, peakRssMiB } = require('../lib/proc-stats');

const name = 'line -> pickle';
const CONNECTIONS = 4;
const DISTINCT_NAMES = 10_000;
/** Every name the load generator sends starts with this (bench/lib/loadgen-child.js). */
const NAME_PREFIX = 'bench.';
/** After the generator finished, give up this long after the sink's count last moved. */
const STALL_MS = 15_000;

/**
 * @param {number} linePort
 * @param {number} sinkPort
 */
function relayConfig(linePort, sinkPort) {
  return `# written by bench/e2e/line-to-pickle.js
logLevel: warn
shutdownTimeout: 10s
listen:
  line:
    tcp: { host: 127.0.0.1, port: ${linePort} }
destinations:
  - name: sink
    host: 127.0.0.1
    port: ${sinkPort}
    protocol: pickle
rules:
  - default: true
    destinations: [sink]
`;
}

/**
 * @param {import('../lib/types').ScenarioOptions} opts
 * @returns {Promise<import('../lib/types').ScenarioResult>}
 */
async function run(opts) {
  const total = opts.metrics;
  /** @type {CountingSink | null} */
  let sink = null;
  /** @type {RelayProcess | null} */
  let relay = null;
  /** @type {LoadGenerator | null} */
  let gen = null;
  try {
    // Count only the generator's names: a relay with self-metrics routes its own datapoints to the sink too.
    sink = await new CountingSink(NAME_PREFIX).start();
    const linePort = await freePort();
    relay = new RelayProcess(relayConfig(linePort, sink.port), linePort, opts.relayNodeArgs);
    await relay.ready();
    await sink.waitConnected();
    opts.log(`relay pid ${relay.pid} listening on 127.0.0.1:${linePort}, sink pid ${sink.pid} on :${sink.port}`);

    gen = new LoadGenerator({ port: linePort, total, connections: CONNECTIONS, names: DISTINCT_NAMES, writeBytes: 64 * 1024 });
    const { bytesPerMetric } = await gen.ready();
    sink.expect(total);

    const rssAtStart = peakRssMiB(relay.pid);
    const cpuBefore = cpuMicros(relay.pid);
    const t0 = await gen.go();
    opts.log(`sending ${total.toLocaleString('en-US')} lines (${bytesPerMetric.toFixed(1)} B each) over ${CONNECTIONS} connections...`);

    // Wait for the sink to count everything; give up at the timeout, or when the
    // generator is done and nothing has arrived for STALL_MS.
    const deadline = Date.now() + opts.timeoutMs;
    /** @type {{ done: import('../lib/loadgen').GeneratorDone | null }} */
    const g = { done: null };
    const genFinished = gen.done(opts.timeoutMs).then(
      (d) => (g.done = d),
      () => null,
    );
    const reached = sink.reached(opts.timeoutMs).catch(() => null);
    /** @type {import('../lib/sink').SinkStats | null} */
    let final = null;
    let lastCount = -1;
    let lastMove = Date.now();
    let timedOut = false;
    for (;;) {
      final = await Promise.race([reached, new Promise((r) => setTimeout(() => r(null), 1000))]);
      if (final !== null) break;
      const s = await sink.stats();
      if (s.datapoints !== lastCount) {
        lastCount = s.datapoints;
        lastMove = Date.now();
      }
      if (Date.now() > deadline || (g.done !== null && Date.now() - lastMove > STALL_MS)) {
        timedOut = true;
        break;
      }
    }
    const cpuAfter = cpuMicros(relay.pid);
    const peak = peakRssMiB(relay.pid);
    const tEnd = process.hrtime.bigint();
    if (final === null) final = await sink.stats();
    const end = timedOut || final.reachedAt === '' ? tEnd : BigInt(final.reachedAt);
    const seconds = Number(end - t0) / 1e9;
    const received = final.datapoints;
    const relayCpu = cpuAfter - cpuBefore;
    // 'done' can arrive just after 'reached' (two processes, two IPC channels).
    const genDone = g.done ?? (timedOut ? null : await Promise.race([genFinished, new Promise((r) => setTimeout(() => r(null), 5000))]));

    /** @type {Record<string, string | number>} */
    const details = {
      'sink frames': final.frames,
      'sink frame errors': final.frameErrors + final.truncatedFrames,
      'sink other datapoints (not bench.*)': final.otherDatapoints,
      'relay CPU s': (relayCpu / 1e6).toFixed(2),
      'relay CPU utilisation': `${((relayCpu / 1e6 / seconds) * 100).toFixed(0)}% of one core`,
      'relay peak RSS before load MiB': rssAtStart.toFixed(1),
      'generator send time s': genDone ? (Number(BigInt(genDone.t1) - t0) / 1e9).toFixed(2) : 'did not finish',
      'generator CPU s': genDone ? (genDone.cpuMicros / 1e6).toFixed(2) : '-',
      'sink CPU s': (final.cpuMicros / 1e6).toFixed(2),
      'wire MB in (plaintext) / out (pickle)': `${((bytesPerMetric * total) / 1e6).toFixed(1)} / ${(final.bytes / 1e6).toFixed(1)}`,
    };
    if (timedOut) details['timed out'] = `after ${(seconds).toFixed(1)} s with ${received} of ${total} counted`;
    if (relay.stderr.trim() !== '') details['relay stderr (tail)'] = relay.stderr.trim().split('\n').slice(-5).join(' | ');

    return {
      name,
      metrics: total,
      seconds,
      metricsPerSec: received / seconds,
      cpuMicrosPerMetric: received > 0 ? relayCpu / received : NaN,
      peakRssMiB: peak,
      loss: total - received,
      details,
    };
  } finally {
    // Relay first (its SIGTERM drain needs the sink), then the children.
    if (relay !== null) {
      const exit = await relay.stop();
      if (exit.killed) opts.log('relay did not exit within the grace period after SIGTERM; killed');
    }
    await Promise.all([gen?.stop(), sink?.stop()]);
  }
}

/** @type {import('../lib/types').Scenario} */
module.exports = { name, run };
