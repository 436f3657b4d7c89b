// @ts-check
'use strict';
/**
 * Peer comparisons: the "line -> pickle" load (same generator, names,
 * connections, datapoint count and counting sink) through our relay and then
 * through another carbon relay on the same machine, back to back, measured
 * alike (bench/lib/relay-scenario.js: metrics/s, CPU us per metric and peak RSS
 * of the relay process, all its threads; loss). Two rows in the summary table,
 * and a line after it with our figures as ratios of theirs. A peer that is not
 * installed is skipped with a note saying why (not a failure).
 *
 *   vs carbon-relay    Debian's carbon-relay (graphite-carbon): line -> pickle
 *   vs carbon-c-relay  carbon-c-relay: line -> LINE (it has no pickle output),
 *                      so our relay also sends lines in that comparison
 *
 * The peers' own settings are in bench/lib/peers.js. Both drop datapoints
 * when their destination queue is full (no flow control toward a flat-out
 * sender), so by default their queue holds the whole load and nothing is
 * dropped: BENCH_PEER_QUEUE=load (default) | stock (Debian's carbon.conf
 * MAX_QUEUE_SIZE 10,000; carbon-c-relay's -q 25,000) | N. Ours keeps its
 * default maxQueueSize (100,000) and pauses its senders instead. The peer's
 * run may take longer than ours: BENCH_PEER_TIMEOUT_S (default 600).
 * BENCH_CRELAY_ARGS adds carbon-c-relay command-line options (e.g. "-w 1").
 */
const { runRelayScenario } = require('../lib/relay-scenario');
const { fixed, int } = require('../lib/format');
const { envNumber } = require('../lib/env');
const { lineSpec } = require('./line-to-pickle');

/**
 * @typedef {object} PeerSpec
 * @property {string} name                      scenario name ("vs carbon-relay")
 * @property {string} peer                      program name
 * @property {'pickle' | 'line'} output         what both relays send to the sink
 * @property {() => import('../lib/peers').PeerInfo} info
 * @property {(bin: string, port: number, sinkPort: number, queue: number) => Promise<import('../lib/relay-scenario').RelayUnderTest>} start
 * @property {number} stockQueue                its queue size as packaged
 * @property {string} queueKnob                 the setting (for the output: "MAX_QUEUE_SIZE", "-q")
 * @property {boolean} sinkConnectsAtStart      the peer connects to the sink before the first datapoint
 * @property {string} [caveat]                  printed with the ratios
 */

/**
 * The peer's queue size (BENCH_PEER_QUEUE) for a load of `total`.
 * @param {number} total @param {number} stock
 * @returns {{ queue: number, why: string }}
 */
function peerQueue(total, stock) {
  const raw = (process.env.BENCH_PEER_QUEUE ?? 'load').trim().toLowerCase();
  if (raw === 'load' || raw === '') return { queue: Math.max(total, stock), why: `= the whole load, so it drops nothing (packaged: ${int(stock)}; BENCH_PEER_QUEUE=stock uses that)` };
  if (raw === 'stock') return { queue: stock, why: '= as packaged (BENCH_PEER_QUEUE=stock; it drops what does not fit)' };
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`BENCH_PEER_QUEUE must be load, stock or a positive integer, got ${JSON.stringify(process.env.BENCH_PEER_QUEUE)}`);
  return { queue: n, why: `(BENCH_PEER_QUEUE; packaged: ${int(stock)})` };
}

/** @param {number} ours @param {number} theirs */
const ratio = (ours, theirs) => (theirs > 0 && Number.isFinite(ours) && Number.isFinite(theirs) ? `${(ours / theirs).toFixed(2)}x` : 'n/a');

/**
 * @param {PeerSpec} p
 * @returns {import('../lib/types').Scenario}
 */
function peerComparison(p) {
  const path = `line -> ${p.output}`;
  /** @param {import('../lib/types').ScenarioOptions} opts @returns {Promise<import('../lib/types').ScenarioReport>} */
  const run = async (opts) => {
    const info = p.info();
    if (info.bin === null) {
      const note = `${p.name}: skipped: ${info.whyNot}`;
      opts.log(note);
      return { results: [], notes: [note] };
    }
    const bin = info.bin;
    const label = `${p.peer}${info.version === '' ? '' : ` ${info.version}`}`;
    const total = opts.metrics;
    const { queue, why } = peerQueue(total, p.stockQueue);
    const queueNote = `${p.peer} ${p.queueKnob} ${int(queue)} ${why}`;
    opts.log(`${p.name}: carbon-fanout first, then ${label} (${queueNote}), ${path}, ${total.toLocaleString('en-US')} datapoints each`);
    // the sink the peer's run needs (the JavaScript one: it reads Python's frames) for ours too: the same harness on the same cores
    const ours = await runRelayScenario(opts, lineSpec(`carbon-fanout ${path} (vs ${p.peer})`, total, { output: p.output, jsSink: true }));
    const peerTimeoutMs = envNumber('BENCH_PEER_TIMEOUT_S', 600) * 1000;
    const theirs = await runRelayScenario(
      { ...opts, timeoutMs: peerTimeoutMs },
      lineSpec(`${label} ${path}`, total, {
        output: p.output,
        relay: (port, sinkPort) => p.start(bin, port, sinkPort, queue),
        sinkConnectsAtStart: p.sinkConnectsAtStart,
        note: ` through ${label}`,
      }),
    );
    theirs.details = { [`${p.peer} ${p.queueKnob}`]: `${int(queue)} ${why}`, ...theirs.details };
    const lossNote = [ours, theirs].filter((r) => r.loss !== 0).map((r) => `${r.name} lost ${int(r.loss)} of ${int(r.metrics)}`);
    const notes = [
      `${p.name} (${path}${p.caveat ? `; ${p.caveat}` : ''}; ${queueNote}; the same ${int(total)} datapoints through each, back to back): ` +
        `carbon-fanout ${int(ours.metricsPerSec)} metrics/s = ${ratio(ours.metricsPerSec, theirs.metricsPerSec)} ${p.peer}'s ${int(theirs.metricsPerSec)}; ` +
        `CPU ${fixed(ours.cpuMicrosPerMetric, 2)} us/metric = ${ratio(ours.cpuMicrosPerMetric, theirs.cpuMicrosPerMetric)} ${p.peer}'s ${fixed(theirs.cpuMicrosPerMetric, 2)} (lower is better); ` +
        `peak RSS ${fixed(ours.peakRssMiB, 1)} vs ${fixed(theirs.peakRssMiB, 1)} MiB` +
        (lossNote.length > 0 ? `; NOTE: ${lossNote.join(', ')} (rates count delivered datapoints only)` : ''),
    ];
    return { results: [ours, theirs], notes };
  };
  // no bar: the rows are a comparison (the ratios are printed after the table)
  return { name: p.name, run, bar: {}, rounds: 1 };
}

module.exports = { peerComparison };
