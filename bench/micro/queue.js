// @ts-check
'use strict';
/**
 * Destination queue micro-benchmarks against the compiled relay (dist/): the
 * DatapointQueue every destination buffers its datapoints in. One op is one
 * datapoint through the queue: push(), read back with nameAt/timestampAt/valueAt
 * (as the encoder reads it), and its share of shift().
 *   queue fill/drain 500   a full queue (limit 100,000, the default maxQueueSize):
 *                          drain 500 (the default maxDatapointsPerMessage, one frame),
 *                          push until full again, repeat: the ring wraps steadily
 *   queue push/shift 1:1   push one, read it, shift(1): an idle destination keeping up
 * The queues are created (and grown to their ring size) before timing.
 * Each is warmed up, then timed over several rounds; the median round is reported.
 */
const path = require('node:path');
const { measureMedian } = require('../lib/measure');
const { benchName } = require('../lib/workload');

const DIST = path.resolve(__dirname, '..', '..', 'dist');
/** @type {{ DatapointQueue: typeof import('../../src/output/queue').DatapointQueue }} */
const { DatapointQueue } = require(path.join(DIST, 'output', 'queue.js'));

const NAMES = 10_000;
/** The default maxQueueSize. */
const LIMIT = 100_000;
/** The default maxDatapointsPerMessage (one pickle frame). */
const FRAME = 500;
/** Datapoints per timed round. */
const PER_ROUND = Number(process.env.BENCH_MICRO_POINTS ?? 1_000_000);

/** @returns {string[]} */
function names() {
  /** @type {string[]} */
  const out = [];
  for (let i = 0; i < NAMES; i++) out.push(benchName(i));
  return out;
}

/**
 * Reads `n` datapoints from the head as the encoder does and checks they are the
 * next ones in push order (datapoint s has value s and name names[s % NAMES]).
 * @param {InstanceType<typeof DatapointQueue>} q
 * @param {number} n
 * @param {number} first sequence number expected at the head
 * @param {string[]} keys
 * @param {number} ts
 */
function readFrame(q, n, first, keys, ts) {
  let sum = 0;
  for (let k = 0; k < n; k++) {
    if (q.nameAt(k).length === 0 || q.timestampAt(k) !== ts) throw new Error(`bad datapoint at ${k}`);
    sum += q.valueAt(k);
  }
  // sum of first .. first + n - 1
  if (sum !== n * first + (n * (n - 1)) / 2 || q.nameAt(n - 1) !== keys[(first + n - 1) % NAMES]) throw new Error(`queue out of order at ${first}`);
}

function fillDrain() {
  const keys = names();
  const ts = Math.floor(Date.now() / 1000);
  const q = new DatapointQueue(LIMIT);
  // grow the ring to its final size (as a backed-up destination's has), then empty it
  for (let i = 0; i < LIMIT; i++) q.push(keys[i % NAMES], ts, i);
  q.clear();
  let seq = 0; // continues across rounds, so every round sees the ring at a different offset
  return measureMedian('queue fill/drain 500', PER_ROUND, () => {
    const start = seq;
    const end = start + PER_ROUND;
    let pushed = start;
    let head = start;
    while (head < end) {
      while (pushed < end && q.length < LIMIT) {
        if (!q.push(keys[pushed % NAMES], ts, pushed)) throw new Error('push refused below the limit');
        pushed++;
      }
      const n = Math.min(FRAME, q.length);
      readFrame(q, n, head, keys, ts);
      q.shift(n);
      head += n;
    }
    if (q.length !== 0 || q.push('x', ts, 0) !== true) throw new Error('queue not empty after the round');
    q.clear();
    seq = end;
  });
}

function pushShift() {
  const keys = names();
  const ts = Math.floor(Date.now() / 1000);
  const q = new DatapointQueue(LIMIT);
  let seq = 0;
  return measureMedian('queue push/shift 1:1', PER_ROUND, () => {
    const end = seq + PER_ROUND;
    for (let s = seq; s < end; s++) {
      q.push(keys[s % NAMES], ts, s);
      if (q.valueAt(0) !== s || q.timestampAt(0) !== ts || q.nameAt(0) !== keys[s % NAMES]) throw new Error(`queue out of order at ${s}`);
      q.shift(1);
    }
    if (q.length !== 0) throw new Error('queue not empty after the round');
    seq = end;
  });
}

/** @returns {import('../lib/types').MicroResult[]} */
function runMicro() {
  return [fillDrain(), pushShift()];
}

module.exports = { runMicro };

if (require.main === module) {
  for (const r of runMicro()) console.log(`${r.name.padEnd(22)} ${(r.perSec / 1e6).toFixed(2)} M ops/s (${((r.seconds / r.datapoints) * 1e9).toFixed(0)} ns each)`);
}
