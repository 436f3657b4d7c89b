// @ts-check
'use strict';
/**
 * Hash-ring lookup micro-benchmarks against the compiled relay (dist/): the
 * cost of one uncached routing decision, i.e. what every new metric name (and
 * every route-cache miss) pays. 10,000 names, 6 destinations on 3 hosts
 * (two instances each), replication factor 2 with DIVERSE_REPLICAS, as
 * carbon's consistent-hashing, fast-hashing and carbon-c-relay's jump_fnv1a_ch.
 * Each is warmed up, then timed over several rounds; the median round is reported.
 */
const path = require('node:path');
const { measureMedian } = require('../lib/measure');
const { benchName } = require('../lib/workload');

const DIST = path.resolve(__dirname, '..', '..', 'dist');
const { ConsistentHashRing, FastHashRing } = require(path.join(DIST, 'routing', 'hash-ring.js'));
const { JumpFnv1aRing } = require(path.join(DIST, 'routing', 'jump-fnv1a-ring.js'));
const { getDestinations } = require(path.join(DIST, 'routing', 'ring.js'));

const NAMES = 10_000;
const RF = 2;
/** Lookups per timed round. */
const PER_ROUND = Number(process.env.BENCH_MICRO_LOOKUPS ?? 200_000);

/** @returns {string[]} */
function names() {
  /** @type {string[]} */
  const out = [];
  for (let i = 0; i < NAMES; i++) out.push(benchName(i));
  return out;
}

/** @returns {{ server: string, instance: string | null, value: string }[]} */
function nodes() {
  const out = [];
  for (const host of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) {
    for (const [port, instance] of /** @type {const} */ ([[2004, 'a'], [2104, 'b']])) out.push({ server: host, instance, value: `${host}:${port}:${instance}` });
  }
  return out;
}

/**
 * @param {string} name
 * @param {{ walk: (key: string, visit: (node: unknown) => boolean) => void }} ring
 * @param {boolean} diverse
 * @returns {import('../lib/types').MicroResult}
 */
function measure(name, ring, diverse) {
  const keys = names();
  const reps = Math.max(1, Math.ceil(PER_ROUND / NAMES));
  const round = () => {
    let n = 0;
    for (let r = 0; r < reps; r++) for (let i = 0; i < NAMES; i++) n += getDestinations(ring, keys[i], RF, diverse).length;
    if (n !== reps * NAMES * RF) throw new Error(`${name}: ${n} destinations, expected ${reps * NAMES * RF}`);
  };
  return measureMedian(name, reps * NAMES, round);
}

/** @returns {import('../lib/types').MicroResult[]} */
function runMicro() {
  return [
    measure('ring carbon_ch rf2', new ConsistentHashRing('carbon_ch', nodes()), true),
    measure('ring fnv1a_ch rf2', new ConsistentHashRing('fnv1a_ch', nodes()), true),
    measure('ring mmh3_ch rf2', new ConsistentHashRing('mmh3_ch', nodes()), true),
    measure('fast mmh3_ch rf2', new FastHashRing('mmh3_ch', nodes()), true),
    measure('jump_fnv1a rf2', new JumpFnv1aRing(nodes()), false),
  ];
}

module.exports = { runMicro };

if (require.main === module) {
  for (const r of runMicro()) console.log(`${r.name.padEnd(20)} ${(r.perSec / 1e6).toFixed(2)} M lookups/s (${((r.seconds / r.datapoints) * 1e9).toFixed(0)} ns each)`);
}
