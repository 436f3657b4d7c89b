// @ts-check
'use strict';

/**
 * The contract between bench/run.js and a scenario. A scenario module exports
 * `{ name, run }`; `run` does everything (start processes, load, measure, clean
 * up) and resolves with one ScenarioResult, or a ScenarioReport (several rows
 * of the summary table and notes printed after it: the peer comparisons). Add
 * a scenario by writing such a module under bench/e2e/ and listing it in bench/run.js.
 *
 * @typedef {object} ScenarioOptions
 * @property {number} metrics        datapoints to send (BENCH_METRICS)
 * @property {number} timeoutMs      give up waiting for delivery after this long (BENCH_TIMEOUT_S)
 * @property {string[]} relayNodeArgs extra `node` flags for the relay process (BENCH_RELAY_NODE_ARGS, e.g. --cpu-prof)
 * @property {(msg: string) => void} log progress output (stderr)
 *
 * @typedef {object} ScenarioResult
 * @property {string} name
 * @property {number} metrics            datapoints sent by the load generator
 * @property {number} seconds            wall time, first byte sent -> last datapoint counted by the sink (or the timeout)
 * @property {number} metricsPerSec      datapoints delivered per wall second
 * @property {number} cpuMicrosPerMetric relay CPU (user+system, all threads) per delivered datapoint
 * @property {number} peakRssMiB         relay peak RSS (VmHWM)
 * @property {number} loss               sent - delivered (0 means every datapoint arrived)
 * @property {number} [requestsPerSec]   HTTP scenarios: requests answered 2xx per wall second
 * @property {number} [retries]          HTTP scenarios: 503 answers waited out and resent (flow control, not loss)
 * @property {number} [relayCores]     relay CPU over the measured window / its wall time (1 = one core busy throughout)
 * @property {number} [harnessCores]   the same for the load generator and the sink together (they share the machine)
 * @property {Record<string, string | number>} [details] scenario-specific extras, printed under the table
 *
 * @typedef {object} ScenarioReport several rows (possibly none) and notes for after the table
 * @property {ScenarioResult[]} results
 * @property {string[]} notes          e.g. ratios to a peer, or why a comparison was skipped
 *
 * @typedef {object} Bar what a scenario must reach; an absent field is not checked (no field: no bar, shown as '-')
 * @property {number} [metricsPerSec] at least this many datapoints delivered per second
 * @property {number} [loss]          exactly this loss (0)
 * @property {number} [peakRssMiB]    relay peak RSS below this
 * @property {{ scenario: string, maxRatio: number }} [cpuMicrosPerMetricVs]
 *   CPU us per metric at most maxRatio x that of the row named `scenario` in the same run (not checked without that row)
 * @property {{ scenario: string, minRatio: number }} [metricsPerSecVs]
 *   metrics/s at least minRatio x that of the row named `scenario` in the same run (not checked without that row)
 *
 * @typedef {object} Scenario
 * @property {string} name
 * @property {(opts: ScenarioOptions) => Promise<ScenarioResult | ScenarioReport>} run
 * @property {Bar} [bar] this scenario's own bar, instead of bench/run.js's BAR
 * @property {number} [rounds] at most this many rounds of it (BENCH_ROUNDS): 1 for a scenario that repeats
 *   itself (http-get), runs for a fixed time whatever the relay does (fuzz), or compares ratios far above the noise (peers)
 *
 * @typedef {object} MicroResult
 * @property {string} name
 * @property {number} datapoints  per timed round
 * @property {number} seconds     median round time
 * @property {number} perSec      datapoints per second (median round)
 */

module.exports = {};
