// @ts-check
'use strict';
/**
 * `npm run bench` (builds dist/ first): codec micro-benchmarks, then the
 * end-to-end scenarios, then a summary table. Not part of `npm test`.
 *
 *   node bench/run.js [micro] [e2e] [SCENARIO...]   run only those parts (default: both);
 *                                 a SCENARIO word (e.g. http-sink, http, pickle) runs the e2e
 *                                 scenarios whose name contains it
 *
 * Scenarios (bench/e2e/): "line -> pickle" (plaintext TCP), "pickle -> pickle"
 * (the same load as pickle frames of 500 to the pickle listener), "line ->
 * pickle @ 50,000/s" (the same load paced to BENCH_PACED_RATE for
 * BENCH_PACED_SECONDS: CPU us per datapoint at a steady rate; bar: at most 1.5x
 * the flat-out "line -> pickle" figure of the same run), "http-sink"
 * (POST /api/v1/sink, 5,000 lines per request), "http-feed" (GET /feed, one
 * datapoint per request). HTTP load generators wait out 503 + Retry-After (the
 * relay's flow control) and resend; those retries are reported, not loss.
 * "http-get" (requests/s and CPU us/request of GET /feed on the fast path, of
 * the same GET through Express, and of a bare node:http hello world, in one
 * run with one load generator: wrk if installed, 64 keep-alive connections;
 * its bar is 50% of hello world's requests/s).
 * "vs carbon-relay" and "vs carbon-c-relay" (the "line -> pickle" load through
 * our relay and then through Debian's carbon-relay, pickle out, or
 * carbon-c-relay, line out: that comparison is line -> line; a row each, and
 * our figures as ratios of theirs after the table; skipped, with a note, when
 * the peer is not installed).
 * "fuzz" (FUZZ_SECONDS of random and mutated line and pickle input on 4
 * connections alongside 4 valid ones; reports valid loss, which must be 0,
 * rejected frames/lines per second and peak RSS).
 *
 * Environment:
 *   BENCH_ROUNDS=3               rounds of the e2e scenarios, interleaved (each scenario once per round); a row
 *                                shows the median round's metrics/s and the median CPU us/metric, the highest
 *                                peak RSS and the loss summed over rounds (bench/lib/rounds.js); fuzz, http-get
 *                                and the peer comparisons run once
 *   BENCH_METRICS=6000000        datapoints per e2e scenario ("line -> pickle", "pickle -> pickle", the peer
 *                                comparisons, and "http-sink" by default): long enough (several seconds flat out)
 *                                that JIT warm-up, paid once per process, does not decide the workers rows
 *   BENCH_PACED_RATE=50000       datapoints/s of the paced "line -> pickle @ ..." scenario (its name shows the rate)
 *   BENCH_PACED_SECONDS=20       how long it sends (BENCH_PACED_RATE x this datapoints)
 *   BENCH_CRELAY_ARGS="-q 100000"   extra carbon-c-relay options for "vs carbon-c-relay"
 *   BENCH_HTTP_SINK_METRICS=N    datapoints for "http-sink" (default: BENCH_METRICS)
 *   BENCH_HTTP_SINK_LINES=5000   lines per POST body for "http-sink"
 *   BENCH_HTTP_SINK_CONNECTIONS=4   keep-alive connections for "http-sink"
 *   BENCH_HTTP_FEED_REQUESTS=30000  requests (one datapoint each) for "http-feed"
 *   BENCH_HTTP_FEED_CONNECTIONS=8   keep-alive connections for "http-feed"
 *   BENCH_HTTP_GET_SECONDS=5     timed run per server for "http-get" (after BENCH_HTTP_GET_WARMUP_S=2)
 *   BENCH_HTTP_GET_CONNECTIONS=64   keep-alive connections for "http-get"
 *   BENCH_HTTP_GET_ROUNDS=1      repeat "http-get"'s three runs (medians are reported)
 *   BENCH_HTTP_GET_LOADGEN=wrk   "http-get"'s load generator: wrk (default when installed) or node
 *   FUZZ_SECONDS=20              duration of the "fuzz" scenario
 *   BENCH_TIMEOUT_S=120          give up waiting for delivery (the shortfall is reported as loss)
 *   BENCH_RELAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   extra node flags for the relay process
 *   BENCH_MICRO_POINTS=1000000   datapoints per micro-benchmark round
 *   BENCH_ENFORCE=1              exit 1 when a scenario misses the project bar (below)
 *
 * To add a scenario: write a module exporting { name, run } and optionally its
 * own bar (see lib/types.js) under bench/e2e/ and append it to SCENARIOS;
 * lib/relay-scenario.js runs the usual generator -> relay -> sink shape (also
 * with another relay program in place of ours: lib/peers.js).
 */
const os = require('node:os');
const { killAll } = require('./lib/children');
const { burstPenalty } = require('./lib/burst-penalty');
const { table, fixed, int } = require('./lib/format');
const { envNumber } = require('./lib/env');
const { mergeRounds } = require('./lib/rounds');

/** @type {import('./lib/types').Scenario[]} */
const SCENARIOS = [
  require('./e2e/line-to-pickle'),
  require('./e2e/pickle-to-pickle'),
  ...require('./e2e/workers'),
  require('./e2e/line-to-pickle-paced'),
  require('./e2e/line-to-pickle-spool'),
  require('./e2e/spool-replay'),
  require('./e2e/http-sink'),
  require('./e2e/http-feed'),
  require('./e2e/http-get'),
  require('./e2e/vs-carbon-relay'),
  require('./e2e/vs-carbon-c-relay'),
  require('./e2e/fuzz'),
];

/** The project's bar for every e2e scenario that does not set its own (the TCP path's). */
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

/**
 * The 1-minute load average, flagged (before the run) when other work already
 * competes for every core: throughput and CPU figures are then pessimistic.
 * @param {boolean} judge false after the run, when the benchmark itself is the load
 */
function loadNote(judge) {
  const load = os.loadavg()[0];
  const busy = judge && load > os.cpus().length;
  return `load average ${load.toFixed(2)}${busy ? ' (busy machine: throughput and CPU figures are pessimistic)' : ''}`;
}

/** @param {import('./lib/types').Bar} bar */
function describeBar(bar) {
  const out = [];
  if (bar.metricsPerSec !== undefined) out.push(`>= ${int(bar.metricsPerSec)} metrics/s`);
  if (bar.loss !== undefined) out.push(bar.loss === 0 ? 'zero loss' : `loss ${bar.loss}`);
  if (bar.peakRssMiB !== undefined) out.push(`peak RSS < ${bar.peakRssMiB} MiB`);
  if (bar.cpuMicrosPerMetricVs !== undefined) out.push(`CPU us/metric <= ${bar.cpuMicrosPerMetricVs.maxRatio}x "${bar.cpuMicrosPerMetricVs.scenario}"'s`);
  if (bar.metricsPerSecVs !== undefined) out.push(`metrics/s >= ${bar.metricsPerSecVs.minRatio}x "${bar.metricsPerSecVs.scenario}"'s`);
  return out.join(', ');
}

/** @param {import('./lib/types').Bar} bar @returns {boolean} false when the bar checks nothing */
const hasBar = (bar) => Object.values(bar).some((v) => v !== undefined);

/**
 * The row `bar.cpuMicrosPerMetricVs` compares with, from this run.
 * @param {import('./lib/types').Bar} bar
 * @param {import('./lib/types').ScenarioResult[]} all
 */
function reference(bar, all) {
  const ref = bar.cpuMicrosPerMetricVs;
  return ref === undefined ? undefined : all.find((x) => x.name === ref.scenario);
}

/**
 * @param {import('./lib/types').ScenarioResult} r
 * @param {import('./lib/types').Bar} bar
 * @param {import('./lib/types').ScenarioResult[]} all every row of this run (for cpuMicrosPerMetricVs)
 * @returns {string[]}
 */
function misses(r, bar, all) {
  const out = [];
  if (bar.metricsPerSec !== undefined && !(r.metricsPerSec >= bar.metricsPerSec)) out.push(`throughput ${int(r.metricsPerSec)}/s < ${int(bar.metricsPerSec)}/s`);
  if (bar.loss !== undefined && r.loss !== bar.loss) out.push(`loss ${r.loss} != ${bar.loss}`);
  if (bar.peakRssMiB !== undefined && !(r.peakRssMiB < bar.peakRssMiB)) out.push(`peak RSS ${fixed(r.peakRssMiB, 1)} MiB >= ${bar.peakRssMiB} MiB`);
  const faster = bar.metricsPerSecVs === undefined ? undefined : all.find((x) => x.name === bar.metricsPerSecVs?.scenario);
  if (faster !== undefined && bar.metricsPerSecVs !== undefined) {
    const min = bar.metricsPerSecVs.minRatio;
    if (!(r.metricsPerSec >= faster.metricsPerSec * min))
      out.push(`throughput ${int(r.metricsPerSec)}/s = ${(r.metricsPerSec / faster.metricsPerSec).toFixed(2)}x "${faster.name}"'s ${int(faster.metricsPerSec)}/s < ${min}x`);
  }
  const ref = reference(bar, all);
  if (ref !== undefined && bar.cpuMicrosPerMetricVs !== undefined) {
    const max = bar.cpuMicrosPerMetricVs.maxRatio;
    if (!(r.cpuMicrosPerMetric <= ref.cpuMicrosPerMetric * max))
      out.push(`CPU ${fixed(r.cpuMicrosPerMetric, 2)} us/metric = ${(r.cpuMicrosPerMetric / ref.cpuMicrosPerMetric).toFixed(2)}x "${ref.name}"'s ${fixed(ref.cpuMicrosPerMetric, 2)} > ${max}x`);
  }
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  /** @type {string[]} */
  const parts = args.filter((a) => a === 'micro' || a === 'e2e');
  const picks = args.filter((a) => a !== 'micro' && a !== 'e2e').map((a) => a.toLowerCase());
  if (picks.length > 0 && !parts.includes('e2e')) parts.push('e2e');
  const want = (/** @type {string} */ p) => parts.length === 0 || parts.includes(p);
  const scenarios = picks.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => picks.some((p) => s.name.toLowerCase().includes(p)));
  if (scenarios.length === 0) throw new Error(`no e2e scenario matches ${picks.join(', ')} (scenarios: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  const metrics = Math.floor(envNumber('BENCH_METRICS', 6_000_000));
  const timeoutMs = envNumber('BENCH_TIMEOUT_S', 120) * 1000;
  const rounds = Math.max(1, Math.floor(envNumber('BENCH_ROUNDS', 3)));
  const relayNodeArgs = (process.env.BENCH_RELAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

  const cpus = os.cpus();
  console.log(`carbon-fanout bench: node ${process.version}, ${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, ${os.platform()} ${os.release()}, ${loadNote(true)}`);

  if (want('micro')) {
    log('micro-benchmarks (in process, dist/codec)...');
    const { runMicro } = require('./micro/codec');
    const micro = [...runMicro(), ...require('./micro/hash').runMicro(), ...require('./micro/router').runMicro(), ...require('./micro/queue').runMicro()];
    console.log('\nCodec micro-benchmarks (single thread, median of 7 rounds)');
    console.log(table([['benchmark', 'datapoints/round', 'median s', 'M datapoints/s'], ...micro.map((m) => [m.name, int(m.datapoints), fixed(m.seconds, 3), fixed(m.perSec / 1e6, 2)])]));
  }

  let failed = false;
  if (want('e2e')) {
    /** @type {Array<{ r: import('./lib/types').ScenarioResult, bar: import('./lib/types').Bar }>} */
    const results = [];
    /** @type {string[]} lines for after the table (peer ratios, skipped comparisons) */
    const notes = [];
    /** @type {Map<string, { rs: import('./lib/types').ScenarioResult[], bar: import('./lib/types').Bar }>} rows by name, in first-seen order */
    const rows = new Map();
    for (let round = 1; round <= rounds; round++) {
      for (const s of scenarios) {
        if (round > (s.rounds ?? rounds)) continue;
        log(`scenario "${s.name}"${rounds > 1 ? ` (round ${round} of ${Math.min(rounds, s.rounds ?? rounds)})` : ''}`);
        try {
          const out = await s.run({ metrics, timeoutMs, relayNodeArgs, log });
          for (const r of 'results' in out ? out.results : [out]) {
            const row = rows.get(r.name) ?? { rs: [], bar: s.bar ?? BAR };
            row.rs.push(r);
            rows.set(r.name, row);
          }
          if ('results' in out) notes.push(...out.notes);
        } catch (err) {
          failed = true;
          log(`scenario "${s.name}" failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        }
      }
    }
    for (const { rs, bar } of rows.values()) results.push({ r: mergeRounds(rs), bar });
    if (results.length === 0) {
      for (const n of notes) console.log(n);
      return void (process.exitCode = failed || notes.length === 0 ? 1 : 0);
    }
    const all = results.map(({ r }) => r);
    console.log('\nEnd-to-end over loopback (metrics/s = datapoints counted by the sink per second; CPU and RSS are the relay process)');
    if (rounds > 1) console.log(`${rounds} rounds, interleaved: metrics/s, seconds and CPU are medians of the rounds, peak RSS the highest, loss the sum; metrics = per round`);
    console.log(
      table([
        ['scenario', 'metrics', 'seconds', 'metrics/s', 'requests/s', 'CPU us/metric', 'peak RSS MiB', 'loss', '503 retries', 'bar'],
        ...results.map(({ r, bar }) => [
          r.name,
          int(r.metrics),
          fixed(r.seconds, 2),
          int(r.metricsPerSec),
          r.requestsPerSec === undefined ? '-' : int(r.requestsPerSec),
          fixed(r.cpuMicrosPerMetric, 2),
          fixed(r.peakRssMiB, 1),
          int(r.loss),
          r.retries === undefined ? '-' : int(r.retries),
          !hasBar(bar) ? '-' : misses(r, bar, all).length === 0 ? 'PASS' : 'MISS',
        ]),
      ]),
    );
    console.log(`after the scenarios: ${loadNote(false)}`);
    const barred = results.filter(({ bar }) => hasBar(bar));
    if (barred.length > 0) console.log(`bars: ${barred.map(({ r, bar }) => `${r.name}: ${describeBar(bar)}`).join('; ')}`);
    // ratio lines: CPU at a steady rate against the flat-out row, then the peer comparisons
    for (const { r, bar } of results) {
      const vs = bar.cpuMicrosPerMetricVs;
      if (vs === undefined) continue;
      const ref = reference(bar, all);
      if (ref === undefined) console.log(`${r.name}: CPU ${fixed(r.cpuMicrosPerMetric, 2)} us/metric; no "${vs.scenario}" row in this run to compare with (bar <= ${vs.maxRatio}x; run both: node bench/run.js "${vs.scenario}")`);
      else {
        const x = r.cpuMicrosPerMetric / ref.cpuMicrosPerMetric;
        console.log(`${r.name}: CPU ${fixed(r.cpuMicrosPerMetric, 2)} us/metric = ${x.toFixed(2)}x "${ref.name}"'s ${fixed(ref.cpuMicrosPerMetric, 2)} (bar <= ${vs.maxRatio}x: ${x <= vs.maxRatio ? 'PASS' : 'MISS'})`);
      }
      // context for the ratio: what the machine charges a plain loop for running in bursts
      const penalty = await burstPenalty(5);
      console.log(`  this machine runs the same JS loop (Buffer -> string -> Map lookup, 250 per burst) at ${penalty.toFixed(2)}x its back-to-back CPU when it runs every 5 ms (bench/lib/burst-penalty.js)`);
    }
    // the workers rows: N workers against one, beside the ceiling the run's own CPU shares put on that ratio
    for (const { r, bar } of results) {
      const vs = bar.metricsPerSecVs;
      const ref = vs === undefined ? undefined : all.find((x) => x.name === vs.scenario);
      if (vs === undefined || ref === undefined) continue;
      const x = r.metricsPerSec / ref.metricsPerSec;
      console.log(`${r.name}: ${int(r.metricsPerSec)} metrics/s = ${x.toFixed(2)}x "${ref.name}"'s ${int(ref.metricsPerSec)} (bar >= ${vs.minRatio}x: ${x >= vs.minRatio ? 'PASS' : 'MISS'})`);
      if (r.harnessCores !== undefined && ref.relayCores !== undefined) {
        const cores = os.availableParallelism();
        const ceiling = (cores - r.harnessCores) / ref.relayCores;
        console.log(
          `  ceiling from this run's CPU shares: (${cores} cores - ${r.harnessCores.toFixed(2)} for the generator and sink) / ${ref.relayCores.toFixed(2)} cores for one worker = ${ceiling.toFixed(2)}x if a datapoint cost each worker what it costs one alone; on this VM it costs more while both cores are busy (the rows' CPU us/metric)`,
        );
      }
    }
    for (const n of notes) console.log(n);
    for (const { r, bar } of results) {
      const m = misses(r, bar, all);
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
