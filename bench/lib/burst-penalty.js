// @ts-check
'use strict';
/**
 * How much more CPU the same JavaScript work costs on this machine when it
 * runs in short bursts (as a relay at a steady, modest rate does: a read
 * every few ms) than back to back: caches gone cold between bursts, clock
 * and scheduler effects. It puts the paced scenario's ratio in context: a
 * relay cannot do better than the machine does for a plain loop.
 *
 * The work is a relay-like mix: bytes to a string, a Map lookup by it.
 */
const NAMES = 10_000;
const PER_BURST = 250;
const BURSTS = 800;

/** @returns {number} CPU microseconds so far */
function cpu() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** @param {number} gapMs @returns {Promise<number>} the burst cost per unit / the flat cost per unit */
async function burstPenalty(gapMs = 5) {
  const names = Array.from({ length: NAMES }, (_, i) => Buffer.from(`bench.relay.host${Math.floor(i / 100)}.metric${i % 100}`, 'latin1'));
  const map = new Map(names.map((b, i) => [b.latin1Slice(0, b.length), i]));
  let sink = 0;
  /** @param {number} from */
  const work = (from) => {
    for (let i = 0; i < PER_BURST; i++) {
      const b = names[(from + i) % NAMES];
      sink += map.get(b.latin1Slice(0, b.length)) ?? 0;
    }
  };
  for (let r = 0; r < BURSTS; r++) work(r * PER_BURST); // warm-up (JIT)
  let c0 = cpu();
  for (let r = 0; r < BURSTS; r++) work(r * PER_BURST);
  const flat = cpu() - c0;
  c0 = cpu();
  for (let r = 0; r < BURSTS; r++) {
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    work(r * PER_BURST);
  }
  const bursts = cpu() - c0;
  if (sink < 0) throw new Error('unreachable: keeps the work observable');
  return bursts / flat;
}

module.exports = { burstPenalty };

if (require.main === module) void burstPenalty().then((x) => console.log(`burst penalty: ${x.toFixed(2)}x`));
