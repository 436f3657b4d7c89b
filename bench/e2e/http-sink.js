// @ts-check
'use strict';
/**
 * Scenario "http-sink", end to end over loopback, four processes:
 *
 *   HTTP load generator ──POST /api/v1/sink, keep-alive──▶ relay (dist/cli.js) ──pickle──▶ counting sink
 *
 * Hosted Graphite's HTTP API: bodies of 5,000 `name value timestamp` lines
 * from 4 keep-alive connections, one request in flight on each. 503s (the
 * relay's flow control) are waited out and resent, and reported as retries.
 * Measured as "line -> pickle" (bench/lib/relay-scenario.js).
 *
 * Environment (see bench/run.js): BENCH_HTTP_SINK_METRICS (default BENCH_METRICS),
 * BENCH_HTTP_SINK_LINES (lines per request), BENCH_HTTP_SINK_CONNECTIONS.
 */
const { LoadGenerator } = require('../lib/loadgen');
const { runRelayScenario } = require('../lib/relay-scenario');
const { envNumber } = require('../lib/env');

const name = 'http-sink';
const DISTINCT_NAMES = 10_000;

/** The project's bar for the HTTP sink path (the TCP path's is higher). */
const bar = { metricsPerSec: 200_000, loss: 0 };

/**
 * @param {import('../lib/types').ScenarioOptions} opts
 * @returns {Promise<import('../lib/types').ScenarioResult>}
 */
function run(opts) {
  const total = Math.floor(envNumber('BENCH_HTTP_SINK_METRICS', opts.metrics));
  const linesPerRequest = Math.floor(envNumber('BENCH_HTTP_SINK_LINES', 5000));
  const connections = Math.floor(envNumber('BENCH_HTTP_SINK_CONNECTIONS', 4));
  return runRelayScenario(opts, {
    name,
    total,
    listen: (port) => `  http: { host: 127.0.0.1, port: ${port} }`,
    generator: (port) =>
      new LoadGenerator({ port, mode: 'sink', total, connections, names: DISTINCT_NAMES, linesPerRequest }, 'http-loadgen-child.js', 'HTTP load generator'),
    describe: ({ bytesPerMetric }) =>
      `POSTing ${total.toLocaleString('en-US')} lines (${bytesPerMetric.toFixed(1)} B each) in ${Math.ceil(total / linesPerRequest).toLocaleString('en-US')} requests of ${linesPerRequest.toLocaleString('en-US')} over ${connections} keep-alive connections...`,
    wireIn: 'HTTP bodies',
  });
}

/** @type {import('../lib/types').Scenario} */
module.exports = { name, run, bar };
