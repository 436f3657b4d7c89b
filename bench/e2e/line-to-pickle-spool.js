// @ts-check
'use strict';
/**
 * Scenario "line -> pickle (spool always)": "line -> pickle" with the sink
 * destination's spool in `always` mode, so every datapoint is written to disk
 * (CRC'd records, one write each) and read back before it is sent. The issue's
 * bar: no more than 25% slower than the same path without a spool (compare
 * the two rows of one run), with peak RSS bounded by the memory queue.
 */
const { LoadGenerator } = require('../lib/loadgen');
const { runRelayScenario } = require('../lib/relay-scenario');

const name = 'line -> pickle (spool always)';
const CONNECTIONS = 4;
const DISTINCT_NAMES = 10_000;

/** 75% of the plain TCP path's bar. */
const bar = { metricsPerSec: 225_000, loss: 0, peakRssMiB: 250 };

/**
 * @param {import('../lib/types').ScenarioOptions} opts
 * @returns {Promise<import('../lib/types').ScenarioResult>}
 */
function run(opts) {
  const total = opts.metrics;
  return runRelayScenario(opts, {
    name,
    total,
    listen: (port) => `  line:\n    tcp: { host: 127.0.0.1, port: ${port} }`,
    generator: (port) => new LoadGenerator({ port, total, connections: CONNECTIONS, names: DISTINCT_NAMES, writeBytes: 64 * 1024 }),
    describe: ({ bytesPerMetric }) => `sending ${total.toLocaleString('en-US')} lines (${bytesPerMetric.toFixed(1)} B each) over ${CONNECTIONS} connections, spooled first...`,
    wireIn: 'plaintext',
    spool: 'always',
  });
}

/** @type {import('../lib/types').Scenario} */
module.exports = { name, run, bar };
