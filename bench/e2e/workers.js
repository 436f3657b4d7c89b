// @ts-check
'use strict';
/**
 * "line -> pickle" and "pickle -> pickle" with `workers:` set to the core
 * count (bench/lib/relay-scenario.js measures the primary and every worker:
 * CPU summed, peak RSS summed). The load generator and the sink run on the
 * same cores, so N workers cannot reach N times one worker's throughput: the
 * bar (the issue's) is 1.6x with 2 workers on 2 cores, against the
 * one-process row of the same run.
 */
const os = require('node:os');
const { lineToPickle } = require('./line-to-pickle');
const { pickleToPickle } = require('./pickle-to-pickle');

const CORES = os.availableParallelism();
/** @type {(scenario: string) => import('../lib/types').Bar} */
const barVs = (scenario) => ({ loss: 0, metricsPerSecVs: { scenario, minRatio: 1.6 } });

const lineName = `line -> pickle (${CORES} workers)`;
const pickleName = `pickle -> pickle (${CORES} workers)`;

/** @type {import('../lib/types').Scenario[]} */
module.exports = [
  lineToPickle({ name: lineName, workers: CORES, bar: barVs('line -> pickle') }),
  { name: pickleName, run: (opts) => pickleToPickle(opts, { name: pickleName, workers: CORES }), bar: barVs('pickle -> pickle') },
];
