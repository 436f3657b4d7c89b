// @ts-check
'use strict';
/**
 * Router lookup micro-benchmarks against the compiled relay (dist/): the
 * per-datapoint routing decision (Router.route), with the router built as the
 * relay builds it (loadConfigObject -> buildRouters, the `received` router).
 * Ten regex rules (patterns compiled as Python `re` with re.I, carbon's
 * relay-rules semantics) plus a default:
 *   router hit          10,000 distinct names, route cache large enough: every lookup a cache hit
 *   router miss         100,000 distinct names cycled through routeCacheSize 1,000: every lookup
 *                       runs the name check, the rules and the targets (what a new name pays)
 *   router hit carbon_ch   default rule -> carbon_ch group of 3 members, replication 1, cache hits
 *   router miss carbon_ch  the same, every lookup a cache miss (rules + md5 ring walk)
 * Each is warmed up, then timed over several rounds; the median round is reported.
 */
const assert = require('node:assert');
const os = require('node:os');
const path = require('node:path');
const { measureMedian } = require('../lib/measure');
const { benchName } = require('../lib/workload');

const DIST = path.resolve(__dirname, '..', '..', 'dist');
/** @type {{ loadConfigObject: typeof import('../../src/config/load').loadConfigObject }} */
const { loadConfigObject } = require(path.join(DIST, 'config', 'load.js'));
/** @type {{ buildRouters: typeof import('../../src/routing/build').buildRouters }} */
const { buildRouters } = require(path.join(DIST, 'routing', 'build.js'));
/** @type {{ silentLogger: typeof import('../../src/telemetry/logger').silentLogger }} */
const { silentLogger } = require(path.join(DIST, 'telemetry', 'logger.js'));

/** @typedef {import('../../src/routing/router').Router<string>} NameRouter */

/** Distinct names for the cache-hit scenarios (the e2e load generator's default). */
const HIT_NAMES = 10_000;
/** Distinct names for the cache-miss scenarios. */
const MISS_NAMES = 100_000;
/** routeCacheSize for the cache-miss scenarios. */
const MISS_CACHE = 1_000;
// RouteCache keeps two generations (young + old, each up to routeCacheSize), so a name
// comes back around after MISS_NAMES - 1 others only if those overflow both generations.
assert.ok(MISS_NAMES > 2 * MISS_CACHE, 'the miss scenario would hit the cache');
// Lookups per timed round, rounded up to whole passes over the names. A hit is what every
// datapoint pays (BENCH_MICRO_POINTS, as codec.js); a miss what every new name pays (as hash.js).
const HIT_PER_ROUND = Number(process.env.BENCH_MICRO_POINTS ?? 1_000_000);
const MISS_PER_ROUND = Number(process.env.BENCH_MICRO_LOOKUPS ?? 200_000);

/**
 * The ten rules, in carbon relay-rules style. On the bench names (`bench.host<k>.metric<j>`)
 * only the last two can match: host numbers ending in 0 match the `continue` rule (-> d3)
 * and then the last one (-> d2); ending in 5 only the last one (-> d2); every other
 * name tries all ten and takes the default.
 * @param {string} defaultTarget
 */
function rules(defaultTarget) {
  return [
    { name: 'carbon', pattern: '^carbon\\.', destinations: ['d2'] },
    { name: 'timers', pattern: '^stats\\.timers\\.', destinations: ['d2'] },
    { name: 'counts', pattern: '^stats_counts\\.', destinations: ['d3'] },
    { name: 'cpu', pattern: '^collectd\\.[^.]+\\.cpu-\\d+\\.', destinations: ['d3'] },
    { name: 'p99', pattern: '\\.p99$', destinations: ['d2'] },
    { name: 'web', pattern: '^servers\\.(web|app)\\d+\\.', destinations: ['d3'] },
    { name: 'jvm', pattern: '\\.jvm\\.(gc|heap)\\.', destinations: ['d2', 'd3'] },
    { name: 'tagged', pattern: ';env=(prod|staging)', destinations: ['d3'] },
    { name: 'host0', pattern: '^bench\\.host\\d*0\\.', destinations: ['d3'], continue: true },
    { name: 'host05', pattern: '^bench\\.host\\d*[05]\\.', destinations: ['d2'] },
    { default: true, destinations: [defaultTarget] },
  ];
}

/**
 * The relay's `received` router for the config, destinations represented by their names.
 * @param {boolean} group default rule -> a carbon_ch group of c1..c3 instead of d1
 * @param {number | undefined} cacheSize routeCacheSize (undefined: the relay's default)
 * @returns {NameRouter}
 */
function router(group, cacheSize) {
  const destinations = [
    { name: 'd1', host: '127.0.0.1', port: 2004 },
    { name: 'd2', host: '127.0.0.1', port: 2104 },
    { name: 'd3', host: '127.0.0.1', port: 2204 },
    { name: 'c1', host: '10.0.0.1', port: 2004 },
    { name: 'c2', host: '10.0.0.2', port: 2004 },
    { name: 'c3', host: '10.0.0.3', port: 2004 },
  ];
  const groups = [{ name: 'ring', type: 'carbon_ch', replication: 1, members: ['c1', 'c2', 'c3'] }];
  // Nothing is read from this path: it only names the config in errors and anchors relative paths.
  const file = path.join(os.tmpdir(), 'carbon-fanout-bench', 'router.yaml');
  const config = loadConfigObject({ destinations, groups, rules: rules(group ? 'ring' : 'd1'), routeCacheSize: cacheSize }, file);
  return buildRouters(config, (d) => d.name, silentLogger()).received;
}

/**
 * What the rules above must decide for benchName(i) (default: the default target's destination).
 * @param {number} i
 * @param {string} dflt
 * @returns {string[]}
 */
function expected(i, dflt) {
  const last = Math.floor(i / 100) % 10;
  if (last === 0) return ['d3', 'd2'];
  if (last === 5) return ['d2'];
  return [dflt];
}

/**
 * Checks every name's route once (untimed), returns the names and the destinations a pass over them yields.
 * @param {NameRouter} r
 * @param {number} count
 * @param {boolean} group
 */
function checkedNames(r, count, group) {
  /** @type {string[]} */
  const names = [];
  let total = 0;
  /** @type {Map<string, number>} */
  const members = new Map();
  for (let i = 0; i < count; i++) {
    const name = benchName(i);
    const route = r.route(name);
    assert.strictEqual(route.verdict, 0, `${name}: not routed`);
    const want = expected(i, group ? 'ring' : 'd1');
    if (want[0] === 'ring') {
      assert.strictEqual(route.destinations.length, 1, `${name}: ${route.destinations.join(',')}`);
      const d = route.destinations[0];
      assert.ok(d === 'c1' || d === 'c2' || d === 'c3', `${name}: routed to ${d}`);
      members.set(d, (members.get(d) ?? 0) + 1);
    } else {
      assert.deepStrictEqual(route.destinations, want, `${name}: routed to ${route.destinations.join(',')}`);
    }
    names.push(name);
    total += route.destinations.length;
  }
  if (group) assert.strictEqual(members.size, 3, `the ring used only ${[...members.keys()].join(', ')}`);
  r.invalidate();
  return { names, total };
}

/**
 * @param {string} label
 * @param {NameRouter} r
 * @param {number} count distinct names, looked up in order, round after round
 * @param {boolean} group
 * @param {number} perRound lookups per timed round
 * @returns {import('../lib/types').MicroResult}
 */
function measure(label, r, count, group, perRound) {
  const { names, total } = checkedNames(r, count, group);
  const reps = Math.max(1, Math.ceil(perRound / count));
  const round = () => {
    let n = 0;
    for (let k = 0; k < reps; k++) for (let i = 0; i < count; i++) n += r.route(names[i]).destinations.length;
    if (n !== reps * total) throw new Error(`${label}: ${n} destinations, expected ${reps * total}`);
  };
  return measureMedian(label, reps * count, round);
}

/** @returns {import('../lib/types').MicroResult[]} */
function runMicro() {
  return [
    measure('router hit', router(false, undefined), HIT_NAMES, false, HIT_PER_ROUND),
    measure('router miss', router(false, MISS_CACHE), MISS_NAMES, false, MISS_PER_ROUND),
    measure('router hit carbon_ch', router(true, undefined), HIT_NAMES, true, HIT_PER_ROUND),
    measure('router miss carbon_ch', router(true, MISS_CACHE), MISS_NAMES, true, MISS_PER_ROUND),
  ];
}

module.exports = { runMicro };

if (require.main === module) {
  for (const r of runMicro()) console.log(`${r.name.padEnd(22)} ${(r.perSec / 1e6).toFixed(2)} M lookups/s (${((r.seconds / r.datapoints) * 1e9).toFixed(0)} ns each)`);
}
