// @ts-check
'use strict';
/**
 * Scenario "http-feed", end to end over loopback, four processes:
 *
 *   HTTP load generator ──GET /feed/<metric>/<value>/<ts>, keep-alive──▶ relay (dist/cli.js) ──pickle──▶ counting sink
 *
 * One datapoint per request (ggtd's carbon-http-srv), so metrics/s is also
 * requests/s: this measures the relay's per-request cost. 8 keep-alive
 * connections, one request in flight on each; 503s are waited out and resent.
 * No throughput bar, only zero loss. The default is 30,000 requests: at a few
 * thousand requests/s on a 2-core machine (the load generator's node:http
 * client costs about as much CPU per request as the relay) that is 5-15 s.
 *
 * Environment (see bench/run.js): BENCH_HTTP_FEED_REQUESTS, BENCH_HTTP_FEED_CONNECTIONS.
 */
const { LoadGenerator } = require('../lib/loadgen');
const { runRelayScenario } = require('../lib/relay-scenario');
const { envNumber } = require('../lib/env');

const name = 'http-feed';
const DISTINCT_NAMES = 10_000;

/** Only zero loss: the request rate is reported, not judged. */
const bar = { loss: 0 };

/**
 * @param {import('../lib/types').ScenarioOptions} opts
 * @returns {Promise<import('../lib/types').ScenarioResult>}
 */
function run(opts) {
  const total = Math.floor(envNumber('BENCH_HTTP_FEED_REQUESTS', 30_000));
  const connections = Math.floor(envNumber('BENCH_HTTP_FEED_CONNECTIONS', 8));
  return runRelayScenario(opts, {
    name,
    total,
    listen: (port) => `  http: { host: 127.0.0.1, port: ${port} }`,
    generator: (port) =>
      new LoadGenerator({ port, mode: 'feed', total, connections, names: DISTINCT_NAMES, linesPerRequest: 1 }, 'http-loadgen-child.js', 'HTTP load generator'),
    describe: ({ bytesPerMetric }) =>
      `sending ${total.toLocaleString('en-US')} GET /feed requests (paths of ${bytesPerMetric.toFixed(1)} B) over ${connections} keep-alive connections...`,
    wireIn: 'request paths',
  });
}

/** @type {import('../lib/types').Scenario} */
module.exports = { name, run, bar };
