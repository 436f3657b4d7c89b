// @ts-check
'use strict';
/**
 * Scenario "vs carbon-relay": the "line -> pickle" load through our relay,
 * then through Debian's carbon-relay (package graphite-carbon, Python/Twisted,
 * RELAY_METHOD = rules with one default rule, pickle to the sink, Debian's
 * [relay] settings but a queue for the whole load: see bench/lib/peers.js and
 * vs-peer.js). Skipped with a
 * note when /usr/bin/carbon-relay is not installed. See vs-peer.js.
 */
const { carbonRelayInfo, startCarbonRelay, CARBON_RELAY_STOCK_QUEUE } = require('../lib/peers');
const { peerComparison } = require('./vs-peer');

module.exports = peerComparison({
  name: 'vs carbon-relay',
  peer: 'carbon-relay',
  output: 'pickle',
  info: carbonRelayInfo,
  start: startCarbonRelay,
  stockQueue: CARBON_RELAY_STOCK_QUEUE,
  queueKnob: 'MAX_QUEUE_SIZE',
  sinkConnectsAtStart: true,
});
