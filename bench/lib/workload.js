// @ts-check
'use strict';
/**
 * The datapoints every load generator sends: names `bench.host<k>.metric<j>`
 * (100 metrics per host) and values alternating between integers and
 * 3-decimal numbers (both common in practice; the relay parses them on
 * different paths), differing per `variant` (connection).
 */

/** Every generated name starts with this; the sink counts only these toward the total. */
const NAME_PREFIX = 'bench.';

/** @param {number} i index of the distinct name */
function benchName(i) {
  return `${NAME_PREFIX}host${Math.floor(i / 100)}.metric${i % 100}`;
}

/**
 * The value text for name `i` on `variant`.
 * @param {number} i
 * @param {number} variant
 */
function benchValue(i, variant) {
  const x = (i * 7919 + variant * 104729) % 100_000;
  return i % 2 === 0 ? String(x) : (x / 1000).toFixed(3);
}

/**
 * Plaintext lines `name value timestamp\n` for names first, first+1, ... (wrapping at `names`).
 * @param {number} first
 * @param {number} count
 * @param {number} names distinct names
 * @param {number} variant
 * @param {number} timestamp
 * @returns {string[]}
 */
function benchLines(first, count, names, variant, timestamp) {
  const out = new Array(count);
  for (let k = 0; k < count; k++) {
    const i = (first + k) % names;
    out[k] = `${benchName(i)} ${benchValue(i, variant)} ${timestamp}\n`;
  }
  return out;
}

module.exports = { NAME_PREFIX, benchName, benchValue, benchLines };
