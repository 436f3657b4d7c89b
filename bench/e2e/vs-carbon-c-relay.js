// @ts-check
'use strict';
/**
 * Scenario "vs carbon-c-relay": the "line -> pickle" load, but LINE out (line
 * -> line), through our relay (a destination with `protocol: line`), then
 * through carbon-c-relay (a `forward` cluster to the sink; it has no pickle
 * output, so this comparison is line -> line), with its default worker
 * threads (one per core) and stalls, a queue for the whole load (-q; see
 * vs-peer.js), in submission mode (no statistics of its own): see
 * bench/lib/peers.js. BENCH_CRELAY_ARGS adds options. Skipped with a note when carbon-c-relay is not installed
 * (apt-get install -y carbon-c-relay). See vs-peer.js.
 */
const { carbonCRelayInfo, startCarbonCRelay, CARBON_C_RELAY_STOCK_QUEUE } = require('../lib/peers');
const { peerComparison } = require('./vs-peer');

const extraArgs = (process.env.BENCH_CRELAY_ARGS ?? '').split(/\s+/).filter(Boolean);

module.exports = peerComparison({
  name: 'vs carbon-c-relay',
  peer: 'carbon-c-relay',
  output: 'line',
  info: carbonCRelayInfo,
  start: (bin, port, sinkPort, queue) => startCarbonCRelay(bin, port, sinkPort, queue, extraArgs),
  stockQueue: CARBON_C_RELAY_STOCK_QUEUE,
  queueKnob: '-q',
  // it connects to a destination when it has something to send
  sinkConnectsAtStart: false,
  caveat: `both send lines: carbon-c-relay has no pickle output${extraArgs.length > 0 ? `; carbon-c-relay options ${extraArgs.join(' ')}` : ''}`,
});
