// @ts-check
'use strict';
/**
 * Plaintext load generator, run as its own process (fork). Everything it sends
 * is built before the start signal, so during the run it only hands prebuilt
 * buffers to write() and waits for 'drain' whenever write() returns false (the
 * relay pausing its sockets is then visible as TCP backpressure, not loss).
 *
 * argv[2]: JSON GeneratorConfig.
 * IPC, parent -> gen: {type:'go'}
 * IPC, gen -> parent: {type:'ready', bytesPerMetric}   connections open, buffers built
 *                     {type:'started', t0}              t0 = hrtime (ns, string) just before the first write
 *                     {type:'done', sent, bytes, t1, cpuMicros}   every byte handed to the kernel, FIN sent
 */
const net = require('node:net');
const { reportChildError } = require('./children');
const { benchLines } = require('./workload');

/**
 * @typedef {object} GeneratorConfig
 * @property {number} port          plaintext TCP port on 127.0.0.1
 * @property {number} total         lines to send, across all connections
 * @property {number} connections
 * @property {number} names         distinct metric names (bench.host<k>.metric<j>)
 * @property {number} writeBytes    bytes per write() call
 */

/** @type {GeneratorConfig} */
const cfg = JSON.parse(process.argv[2]);

/** @param {{ type: string, [k: string]: unknown }} m */
function send(m) {
  if (process.send) process.send(m);
}

/**
 * One line per distinct name (bench/lib/workload.js), values differing per connection.
 * @param {number} conn
 * @param {number} timestamp
 * @returns {{ block: Buffer, lineEnds: Int32Array }} lineEnds[i] = offset just after line i's '\n'
 */
function buildBlock(conn, timestamp) {
  const lines = benchLines(0, cfg.names, cfg.names, conn, timestamp);
  const block = Buffer.from(lines.join(''), 'latin1');
  const lineEnds = new Int32Array(lines.length);
  let off = 0;
  for (let i = 0; i < lines.length; i++) lineEnds[i] = off += lines[i].length;
  return { block, lineEnds };
}

/**
 * The byte ranges one connection sends: whole blocks, then the first `rest` lines.
 * @param {Buffer} block
 * @param {Int32Array} lineEnds
 * @param {number} lines
 * @returns {Buffer[]} slices of at most writeBytes (cut anywhere, like a real TCP client)
 */
function plan(block, lineEnds, lines) {
  const n = lineEnds.length;
  /** @type {Buffer[]} */
  const out = [];
  /** @param {Buffer} b */
  const cut = (b) => {
    for (let off = 0; off < b.length; off += cfg.writeBytes) out.push(b.subarray(off, Math.min(b.length, off + cfg.writeBytes)));
  };
  for (let k = 0; k < Math.floor(lines / n); k++) cut(block);
  const rest = lines % n;
  if (rest > 0) cut(block.subarray(0, lineEnds[rest - 1]));
  return out;
}

/** @param {net.Socket} socket @param {Buffer[]} pieces */
async function pump(socket, pieces) {
  for (const piece of pieces) {
    if (!socket.write(piece)) {
      await new Promise((resolve, reject) => {
        const onClose = () => reject(new Error('relay closed the connection during the run'));
        socket.once('close', onClose);
        socket.once('drain', () => {
          socket.off('close', onClose);
          resolve(undefined);
        });
      });
    }
  }
  await new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.end(() => resolve(undefined)); // 'finish': all data flushed to the kernel
  });
}

/** @returns {Promise<net.Socket>} */
function connect() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: cfg.port }, () => {
      s.off('error', reject);
      s.on('error', () => undefined); // surfaces as 'close' in pump()
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function main() {
  const timestamp = Math.floor(Date.now() / 1000);
  /** @type {Buffer[][]} */
  const plans = [];
  let bytes = 0;
  for (let c = 0; c < cfg.connections; c++) {
    const lines = Math.floor(cfg.total / cfg.connections) + (c < cfg.total % cfg.connections ? 1 : 0);
    const { block, lineEnds } = buildBlock(c, timestamp);
    const p = plan(block, lineEnds, lines);
    for (const b of p) bytes += b.length;
    plans.push(p);
  }
  const sockets = [];
  for (let c = 0; c < cfg.connections; c++) sockets.push(await connect());
  await new Promise((resolve) => {
    process.once('message', (/** @type {{ type: string }} */ m) => {
      if (m.type === 'go') resolve(undefined);
    });
    send({ type: 'ready', bytesPerMetric: bytes / Math.max(1, cfg.total) });
  });
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const runs = sockets.map((s, c) => pump(s, plans[c]));
  send({ type: 'started', t0: t0.toString() });
  await Promise.all(runs);
  const t1 = process.hrtime.bigint();
  const cpu = process.cpuUsage(cpu0);
  send({ type: 'done', sent: cfg.total, bytes, t1: t1.toString(), cpuMicros: cpu.user + cpu.system });
}

process.on('disconnect', () => process.exit(0));
main().catch(reportChildError);
