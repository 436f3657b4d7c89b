// @ts-check
'use strict';

/** Timed rounds per micro-benchmark; the median is reported. */
const ROUNDS = 7;

/**
 * Runs `round` (which must process `points` datapoints) twice to warm up, then
 * ROUNDS times; returns the median round.
 * @param {string} name
 * @param {number} points
 * @param {() => void} round
 * @returns {import('./types').MicroResult}
 */
function measureMedian(name, points, round) {
  for (let i = 0; i < 2; i++) round();
  /** @type {number[]} */
  const times = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = process.hrtime.bigint();
    round();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  const seconds = times[Math.floor(times.length / 2)];
  return { name, datapoints: points, seconds, perSec: points / seconds };
}

module.exports = { measureMedian };
