// @ts-check
'use strict';
/**
 * Scenario "pickle -> pickle", end to end over loopback, four processes:
 *
 *   load generator ──pickle frames, 4 TCP conns──▶ relay pickle listener (dist/cli.js) ──pickle──▶ counting sink
 *
 * The load of "line -> pickle" (the same names, values, connections and
 * datapoint count) sent as carbon pickle frames: a 4-byte big-endian length +
 * a protocol-2 pickle of [(name, (timestamp, value)), ...], 500 datapoints per
 * frame, encoded by the relay's own PickleEncoder (dist/), written in 64 KiB
 * slices cut anywhere. Measured as "line -> pickle" (bench/lib/relay-scenario.js).
 */
const { LoadGenerator } = require('../lib/loadgen');
const { runRelayScenario } = require('../lib/relay-scenario');

const name = 'pickle -> pickle';
const CONNECTIONS = 4;
const DISTINCT_NAMES = 10_000;
const FRAME_POINTS = 500;

/**
 * @param {import('../lib/types').ScenarioOptions} opts
 * @param {{ name: string, workers?: number }} [variant]
 * @returns {Promise<import('../lib/types').ScenarioResult>}
 */
function run(opts, variant = { name }) {
  const total = opts.metrics;
  return runRelayScenario(opts, {
    name: variant.name,
    ...(variant.workers === undefined ? {} : { workers: variant.workers }),
    total,
    listen: (port) => `  pickle:\n    tcp: { host: 127.0.0.1, port: ${port} }`,
    generator: (port) => new LoadGenerator({ port, total, connections: CONNECTIONS, names: DISTINCT_NAMES, writeBytes: 64 * 1024, format: 'pickle', framePoints: FRAME_POINTS }),
    describe: ({ bytesPerMetric }) =>
      `sending ${total.toLocaleString('en-US')} datapoints as pickle frames of ${FRAME_POINTS} (${bytesPerMetric.toFixed(1)} B per datapoint) over ${CONNECTIONS} connections${variant.workers === undefined ? '' : `, ${variant.workers} workers`}...`,
    wireIn: 'pickle',
  });
}

/** @type {import('../lib/types').Scenario & { pickleToPickle: typeof run }} */
module.exports = { name, run: (opts) => run(opts), pickleToPickle: run };
