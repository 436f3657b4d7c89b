// @ts-check
'use strict';
/**
 * `npm run bench` (builds dist/ first): codec micro-benchmarks, then the
 * end-to-end scenarios, then a summary table. Not part of `npm test`.
 *
 *   node bench/run.js [micro] [e2e]      run only those parts (default: both)
 *
 * Environment:
 *   BENCH_METRICS=2000000        datapoints per e2e scenario
 *   BENCH_TIMEOUT_S=120          give up waiting for delivery (the shortfall is reported as loss)
 *   BENCH_RELAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   extra node flags for the relay process
 *   BENCH_MICRO_POINTS=1000000   datapoints per micro-benchmark round
 *   BENCH_ENFORCE=1              exit 1 when a scenario misses the project bar (below)
 *
 * To add a scenario: write a module exporting { name, run } (see lib/types.js)
 * under bench/e2e/ and append it to SCENARIOS.
 */
const os = require('node:os');
const { killAll } = require('./lib/children');
const { table, fixed, int } = require('./lib/format');

/** @type {import('./lib/types').Scenario[]} */
const SCENARIOS = [require('./e2e/line-to-pickle')];

/** The project's bar for every e2e scenario. */
const BAR = { metricsPerSec: 300_000, loss: 0, peakRssMiB: 250 };

/** @param {string} msg */
const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

for (const sig of /** @type {NodeJS.Signals[]} */ (['SIGINT', 'SIGTERM'])) {
  process.once(sig, () => {
    log(`${sig}: stopping child processes`);
    killAll();
    process.exit(130);
  });
}

/** @param {string} name @param {number} fallback */
function envNumber(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

/** @param {import('./lib/types').ScenarioResult} r @returns {string[]} */
function misses(r) {
  const out = [];
  if (!(r.metricsPerSec >= BAR.metricsPerSec)) out.push(`throughput ${int(r.metricsPerSec)}/s < ${int(BAR.metricsPerSec)}/s`);
  if (r.loss !== BAR.loss) out.push(`loss ${r.loss} != 0`);
  if (!(r.peakRssMiB < BAR.peakRssMiB)) out.push(`peak RSS ${fixed(r.peakRssMiB, 1)} MiB >= ${BAR.peakRssMiB} MiB`);
  return out;
}

async function main() {
  const parts = process.argv.slice(2);
  const want = (/** @type {string} */ p) => parts.length === 0 || parts.includes(p);
  const metrics = Math.floor(envNumber('BENCH_METRICS', 2_000_000));
  const timeoutMs = envNumber('BENCH_TIMEOUT_S', 120) * 1000;
  const relayNodeArgs = (process.env.BENCH_RELAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

  const cpus = os.cpus();
  console.log(`carbon-fanout bench: node ${process.version}, ${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, ${os.platform()} ${os.release()}`);

  if (want('micro')) {
    log('micro-benchmarks (in process, dist/codec)...');
    const { runMicro } = require('./micro/codec');
    const micro = [...runMicro(), ...require('./micro/hash').runMicro()];
    console.log('\nCodec micro-benchmarks (single thread, median of 7 rounds)');
    console.log(table([['benchmark', 'datapoints/round', 'median s', 'M datapoints/s'], ...micro.map((m) => [m.name, int(m.datapoints), fixed(m.seconds, 3), fixed(m.perSec / 1e6, 2)])]));
  }

  let failed = false;
  if (want('e2e')) {
    /** @type {import('./lib/types').ScenarioResult[]} */
    const results = [];
    for (const s of SCENARIOS) {
      log(`scenario "${s.name}": ${metrics.toLocaleString('en-US')} metrics`);
      try {
        results.push(await s.run({ metrics, timeoutMs, relayNodeArgs, log }));
      } catch (err) {
        failed = true;
        log(`scenario "${s.name}" failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
    if (results.length === 0) return void (process.exitCode = 1);
    console.log(`\nEnd-to-end over loopback (bar: >= ${int(BAR.metricsPerSec)} metrics/s, zero loss, peak RSS < ${BAR.peakRssMiB} MiB)`);
    console.log(
      table([
        ['scenario', 'metrics', 'seconds', 'metrics/s', 'CPU us/metric', 'peak RSS MiB', 'loss', 'bar'],
        ...results.map((r) => [r.name, int(r.metrics), fixed(r.seconds, 2), int(r.metricsPerSec), fixed(r.cpuMicrosPerMetric, 2), fixed(r.peakRssMiB, 1), int(r.loss), misses(r).length === 0 ? 'PASS' : 'MISS']),
      ]),
    );
    for (const r of results) {
      const m = misses(r);
      if (m.length > 0) {
        console.log(`\n${r.name}: misses the bar: ${m.join('; ')}`);
        if (process.env.BENCH_ENFORCE === '1') failed = true;
      }
      if (r.details) {
        console.log(`\n${r.name} details:`);
        for (const [k, v] of Object.entries(r.details)) console.log(`  ${k}: ${v}`);
      }
    }
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  killAll();
  process.exitCode = 1;
});
