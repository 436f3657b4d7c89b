// @ts-check
'use strict';
/**
 * How much slower the same JavaScript work runs on this machine while another
 * core is busy with the same kind of work: what N workers lose to each other
 * through shared hardware (on a VM, two vCPUs may be hyperthreads of one host
 * core, and whether they are can change from minute to minute). It puts the
 * workers rows' ratio in context: N workers cannot beat N / this.
 *
 * The work is burst-penalty.js's relay-like mix (bytes to a string, a Map
 * lookup by it), timed alone and then with a worker thread running the same
 * loop, alternately, ROUNDS times; the median ratio is reported.
 */
const { Worker } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');

const ROUNDS = 5;
const PASSES = 150;

const LOOP = `
const names = Array.from({ length: 10000 }, (_, i) => Buffer.from('bench.relay.host' + Math.floor(i / 100) + '.metric' + (i % 100), 'latin1'));
const map = new Map(names.map((b, i) => [b.latin1Slice(0, b.length), i]));
function pass() { let s = 0; for (let i = 0; i < names.length; i++) { const b = names[i]; s += map.get(b.latin1Slice(0, b.length)); } return s; }
`;

/** @returns {Promise<number>} time with the other core busy / time alone (1 = no penalty) */
async function corunPenalty() {
  const work = /** @type {() => number} */ (new Function(`${LOOP}; return pass;`)());
  const timed = () => {
    const t = performance.now();
    let s = 0;
    for (let p = 0; p < PASSES; p++) s += work();
    if (s < 0) throw new Error('unreachable: keeps the work observable');
    return performance.now() - t;
  };
  timed(); // warm-up (JIT)
  /** @type {number[]} */
  const ratios = [];
  for (let r = 0; r < ROUNDS; r++) {
    const alone = timed();
    const busy = new Worker(`${LOOP}; const { parentPort } = require('node:worker_threads'); parentPort.postMessage('go'); for (;;) pass();`, { eval: true });
    await new Promise((resolve) => busy.once('message', resolve));
    const together = timed();
    await busy.terminate();
    ratios.push(together / alone);
  }
  ratios.sort((a, b) => a - b);
  return ratios[Math.floor(ratios.length / 2)] ?? NaN;
}

module.exports = { corunPenalty };

if (require.main === module) void corunPenalty().then((x) => console.log(`co-run penalty: ${x.toFixed(2)}x`));
