// @ts-check
'use strict';
/**
 * CPU us per datapoint of a Node.js server that only reads the sockets and
 * discards the bytes (discard-child.js), under a given load generator: the
 * floor beneath any Node.js relay's figure for that load on this machine. At a
 * steady modest rate it is far from free: every few ms the process wakes, and
 * each wake-up and read costs the same whatever it carries.
 */
const path = require('node:path');
const { Child } = require('./children');

/**
 * @param {(port: number) => import('./loadgen').LoadGenerator} generator the scenario's load, aimed at `port`
 * @param {number} timeoutMs
 * @returns {Promise<{ microsPerLine: number, lines: number }>}
 */
async function readFloor(generator, timeoutMs) {
  const server = new Child(path.join(__dirname, 'discard-child.js'), [], 'discard server');
  let gen;
  try {
    const { port } = await server.next('listening', 10_000);
    gen = generator(Number(port));
    await gen.ready();
    const before = await server.request({ type: 'cpu' }, 'cpu');
    await gen.go();
    const done = await gen.done(timeoutMs);
    // the last writes are in the kernel: wait until the server has read every line
    let after = await server.request({ type: 'cpu' }, 'cpu');
    for (let i = 0; i < 100 && after.lines - before.lines < done.sent; i++) {
      await new Promise((r) => setTimeout(r, 20));
      after = await server.request({ type: 'cpu' }, 'cpu');
    }
    const lines = after.lines - before.lines;
    return { microsPerLine: (after.cpuMicros - before.cpuMicros) / lines, lines };
  } finally {
    await gen?.stop();
    await server.stop();
  }
}

module.exports = { readFloor };
