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
 */
const { LoadGenerator } = require('../lib/loadgen');
const { runRelayScenario } = require('../lib/relay-scenario');

const name = 'line -> pickle';
const CONNECTIONS = 4;
const DISTINCT_NAMES = 10_000;

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
    describe: ({ bytesPerMetric }) => `sending ${total.toLocaleString('en-US')} lines (${bytesPerMetric.toFixed(1)} B each) over ${CONNECTIONS} connections...`,
    wireIn: 'plaintext',
  });
}

/** @type {import('../lib/types').Scenario} */
module.exports = { name, run };
