// @ts-check
'use strict';
/**
 * Scenario "line -> pickle", end to end over loopback, four processes:
 *
 *   load generator ──plaintext, 4 TCP conns──▶ relay (dist/cli.js) ──pickle──▶ counting sink
 *
 * Measured (bench/lib/relay-scenario.js): wall time from the first byte sent
 * until the sink has counted every datapoint; the relay's CPU time
 * (/proc/<pid>/stat) over that window; its peak RSS (VmHWM); loss = sent - counted.
 * `lineToPickle({ spool })` makes the same scenario with the sink destination's
 * spool on (line-to-pickle-spool.js); `lineSpec` is the same load for the paced
 * scenario (line-to-pickle-paced.js) and the peer comparisons (vs-*.js).
 */
const { LoadGenerator } = require('../lib/loadgen');
const { runRelayScenario } = require('../lib/relay-scenario');

const CONNECTIONS = 4;
const DISTINCT_NAMES = 10_000;

/**
 * The "line -> pickle" load (4 connections, 10,000 names, 64 KiB writes) as a
 * relay-scenario spec; `extra` overrides or adds spec fields (output, relay, ...),
 * `rate` paces the generator (datapoints/s over all connections).
 * @param {string} name
 * @param {number} total
 * @param {{ rate?: number, note?: string } & Partial<import('../lib/relay-scenario').RelayScenarioSpec>} [extra]
 * @returns {import('../lib/relay-scenario').RelayScenarioSpec}
 */
function lineSpec(name, total, extra = {}) {
  const { rate, note, ...rest } = extra;
  return {
    name,
    total,
    listen: (port) => `  line:\n    tcp: { host: 127.0.0.1, port: ${port} }`,
    generator: (port) => new LoadGenerator({ port, total, connections: CONNECTIONS, names: DISTINCT_NAMES, writeBytes: 64 * 1024, ...(rate === undefined ? {} : { rate }) }),
    describe: ({ bytesPerMetric }) =>
      `sending ${total.toLocaleString('en-US')} lines (${bytesPerMetric.toFixed(1)} B each) over ${CONNECTIONS} connections${rate === undefined ? '' : `, paced at ${rate.toLocaleString('en-US')}/s`}${note ?? ''}...`,
    wireIn: 'plaintext',
    ...rest,
  };
}

/**
 * @param {{ name: string, spool?: 'overflow' | 'always', workers?: number, bar?: import('../lib/types').Bar }} variant
 * @returns {import('../lib/types').Scenario}
 */
function lineToPickle(variant) {
  const notes = [variant.spool === undefined ? '' : `, spool ${variant.spool}`, variant.workers === undefined ? '' : `, ${variant.workers} workers`].join('');
  /** @param {import('../lib/types').ScenarioOptions} opts */
  const run = (opts) =>
    runRelayScenario(opts, lineSpec(variant.name, opts.metrics, { note: notes, ...(variant.spool === undefined ? {} : { spool: variant.spool }), ...(variant.workers === undefined ? {} : { workers: variant.workers }) }));
  return variant.bar === undefined ? { name: variant.name, run } : { name: variant.name, run, bar: variant.bar };
}

module.exports = { ...lineToPickle({ name: 'line -> pickle' }), lineToPickle, lineSpec };
