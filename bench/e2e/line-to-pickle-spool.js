// @ts-check
'use strict';
/**
 * Scenario "line -> pickle (spool always)": "line -> pickle" with the sink
 * destination's spool in `always` mode, so every datapoint is written to disk
 * (CRC'd records, one write each) and read back before it is sent. The issue's
 * bar: no more than 25% slower than the same path without a spool (compare
 * the two rows of one run), with peak RSS bounded by the memory queue.
 */
const { lineToPickle } = require('./line-to-pickle');

/** 75% of the plain TCP path's bar. */
module.exports = lineToPickle({ name: 'line -> pickle (spool always)', spool: 'always', bar: { metricsPerSec: 225_000, loss: 0, peakRssMiB: 250 } });
