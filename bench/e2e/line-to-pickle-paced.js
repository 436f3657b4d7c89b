// @ts-check
'use strict';
/**
 * Scenario "line -> pickle @ 50,000/s": "line -> pickle" (same generator,
 * names, connections, relay config and sink) with the generator paced to a
 * steady BENCH_PACED_RATE datapoints/s (default 50,000) for BENCH_PACED_SECONDS
 * (default 20): every 5 ms each connection writes the whole lines due by then,
 * not a second's worth in one burst. Reported: the relay's CPU us per datapoint
 * at that steady rate (timers, flushes and self-metrics cost more per datapoint
 * when datapoints come a few at a time), peak RSS and loss; in the details,
 * the relay's CPU while idle (3 s before the load, connections open) and what
 * that baseline costs per datapoint at the rate, and what a Node.js server that
 * only reads and discards the same paced load costs per datapoint (the floor
 * beneath any Node.js relay at this pace on this machine).
 *
 * The bar: CPU us per datapoint at most 1.5x the flat-out figure, i.e.
 * the "line -> pickle" row of the same run (bench/run.js prints the ratio and
 * checks it when both ran: `node bench/run.js "line -> pickle"`); also zero
 * loss, and the relay keeping up (>= 95% of the rate delivered per second).
 */
const { envNumber } = require('../lib/env');
const { runRelayScenario } = require('../lib/relay-scenario');
const { lineSpec } = require('./line-to-pickle');
const { readFloor } = require('../lib/read-floor');

const rate = Math.floor(envNumber('BENCH_PACED_RATE', 50_000));
const name = `line -> pickle @ ${rate.toLocaleString('en-US')}/s`;

/** @type {import('../lib/types').Bar} */
const bar = { metricsPerSec: Math.floor(rate * 0.95), loss: 0, peakRssMiB: 250, cpuMicrosPerMetricVs: { scenario: 'line -> pickle', maxRatio: 1.5 } };

/**
 * @param {import('../lib/types').ScenarioOptions} opts
 * @returns {Promise<import('../lib/types').ScenarioResult>}
 */
async function run(opts) {
  const seconds = envNumber('BENCH_PACED_SECONDS', 20);
  const total = Math.round(rate * seconds);
  const r = await runRelayScenario(opts, lineSpec(name, total, { rate, note: ` for ${seconds} s`, idleBaselineMs: 3000 }));
  const spec = lineSpec(name, total, { rate });
  // context only: a failure here must not throw away the relay's measurement
  const floor = await readFloor(spec.generator, opts.timeoutMs).then(
    (f) => (f.lines > 0 ? f.microsPerLine.toFixed(2) : 'no line read'),
    (err) => `failed: ${err instanceof Error ? err.message : String(err)}`,
  );
  r.details = {
    'paced rate (datapoints/s) x seconds': `${rate.toLocaleString('en-US')} x ${seconds}`,
    'the same paced load into a Node.js server that only reads and discards (bench/lib/read-floor.js): CPU us per datapoint': floor,
    ...r.details,
  };
  return r;
}

/** @type {import('../lib/types').Scenario} */
module.exports = { name, run, bar };
