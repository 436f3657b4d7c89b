// @ts-check
'use strict';
/**
 * Carbon TCP load generator (plaintext lines or pickle frames), run as its own
 * process (fork). Everything it sends is built before the start signal, so
 * during the run it only hands prebuilt buffers to write() and waits for
 * 'drain' whenever write() returns false (the relay pausing its sockets is then
 * visible as TCP backpressure, not loss).
 *
 *   format 'line'    `name value timestamp\n` lines (the default)
 *   format 'pickle'  carbon pickle frames: a 4-byte big-endian length + a
 *                    protocol-2 pickle of [(name, (timestamp, value)), ...],
 *                    `framePoints` datapoints each, encoded by the relay's own
 *                    PickleEncoder (dist/codec/pickle-encoder.js)
 *
 * Flat out (no `rate`): each connection writes its whole plan as fast as the
 * relay takes it, in slices of writeBytes cut anywhere (like a real TCP client).
 * Paced (`rate` datapoints/s over all connections): every tickMs each
 * connection writes the whole lines/frames that are due by then (rate x elapsed
 * time, not whole seconds in bursts), until `total` are sent.
 *
 * argv[2]: JSON GeneratorConfig.
 * IPC, parent -> gen: {type:'go'}
 * IPC, gen -> parent: {type:'ready', bytesPerMetric}   connections open, buffers built
 *                     {type:'started', t0}              t0 = hrtime (ns, string) just before the first write
 *                     {type:'done', sent, bytes, t1, cpuMicros, [lateTicks, maxBehindMs]}   every byte handed to the kernel, FIN sent
 *                                                   (paced: ticks that came late, and by how much at most)
 */
const net = require('node:net');
const path = require('node:path');
const { reportChildError } = require('./children');
const { benchLines, benchName, benchValue } = require('./workload');

/**
 * @typedef {object} GeneratorConfig
 * @property {number} port          carbon TCP port (line or pickle listener) on 127.0.0.1
 * @property {number} total         datapoints to send, across all connections
 * @property {number} connections
 * @property {number} names         distinct metric names (bench.host<k>.metric<j>)
 * @property {number} writeBytes    bytes per write() call (flat out)
 * @property {'line' | 'pickle'} [format]  what to send (default 'line')
 * @property {number} [framePoints] pickle: datapoints per frame (default 500)
 * @property {number} [rate]        paced: datapoints per second over all connections (default: flat out)
 * @property {number} [tickMs]      paced: how often what is due is written (default 5)
 */

/** @type {GeneratorConfig} */
const cfg = JSON.parse(process.argv[2]);
const format = cfg.format ?? 'line';
const framePoints = cfg.framePoints ?? 500;

/** @param {{ type: string, [k: string]: unknown }} m */
function send(m) {
  if (process.send) process.send(m);
}

/**
 * Units (lines or frames) concatenated: `block`, with unitEnds[i] = offset just
 * after unit i; every unit carries `perUnit` datapoints.
 * @typedef {{ block: Buffer, unitEnds: Int32Array, perUnit: number }} Block
 */

/**
 * One line per distinct name (bench/lib/workload.js), values differing per connection.
 * @param {number} conn
 * @param {number} timestamp
 * @returns {Block}
 */
function lineBlock(conn, timestamp) {
  const lines = benchLines(0, cfg.names, cfg.names, conn, timestamp);
  const block = Buffer.from(lines.join(''), 'latin1');
  const unitEnds = new Int32Array(lines.length);
  let off = 0;
  for (let i = 0; i < lines.length; i++) unitEnds[i] = off += lines[i].length;
  return { block, unitEnds, perUnit: 1 };
}

/** The relay's own encoder, as the destinations use it (loaded only for pickle). */
function distCodec() {
  const dist = path.resolve(__dirname, '..', '..', 'dist');
  return {
    /** @type {new (prefix?: string) => { encode: (q: any, max: number, out: any) => number }} */
    PickleEncoder: require(path.join(dist, 'codec', 'pickle-encoder.js')).PickleEncoder,
    /** @type {new () => { take: () => Buffer }} */
    ByteWriter: require(path.join(dist, 'codec', 'byte-writer.js')).ByteWriter,
    /** @type {new (limit: number) => { length: number, push: (n: string, t: number, v: number) => boolean, shift: (n: number) => void }} */
    DatapointQueue: require(path.join(dist, 'output', 'queue.js')).DatapointQueue,
  };
}

/**
 * Pickle frames of `count` datapoints for names first, first+1, ... (wrapping at `names`), in one buffer.
 * @param {ReturnType<typeof distCodec>} codec
 * @param {number} first @param {number} count @param {number} conn @param {number} timestamp
 * @returns {{ buf: Buffer, frameEnds: number[] }}
 */
function pickleFrames(codec, first, count, conn, timestamp) {
  const q = new codec.DatapointQueue(count);
  for (let k = 0; k < count; k++) {
    const i = (first + k) % cfg.names;
    q.push(benchName(i), timestamp, Number(benchValue(i, conn)));
  }
  const enc = new codec.PickleEncoder();
  /** @type {number[]} */
  const frameEnds = [];
  /** @type {Buffer[]} */
  const parts = [];
  let off = 0;
  while (q.length > 0) {
    const w = new codec.ByteWriter();
    const n = enc.encode(q, framePoints, w);
    if (n !== Math.min(framePoints, q.length)) throw new Error(`PickleEncoder put ${n} datapoints in a frame, expected ${Math.min(framePoints, q.length)}`);
    q.shift(n);
    const f = w.take();
    parts.push(f);
    frameEnds.push((off += f.length));
  }
  return { buf: Buffer.concat(parts), frameEnds };
}

/**
 * The pickle block of one connection: frames of framePoints over all `names` once.
 * @param {ReturnType<typeof distCodec>} codec @param {number} conn @param {number} timestamp
 * @returns {Block}
 */
function pickleBlock(codec, conn, timestamp) {
  if (cfg.names % framePoints !== 0) throw new Error(`names (${cfg.names}) must be a multiple of framePoints (${framePoints})`);
  const { buf, frameEnds } = pickleFrames(codec, 0, cfg.names, conn, timestamp);
  return { block: buf, unitEnds: Int32Array.from(frameEnds), perUnit: framePoints };
}

/**
 * What one connection sends: `points` datapoints as whole blocks, then the first
 * units of one more, then (pickle, when points is not a multiple of framePoints)
 * one shorter frame with the remaining datapoints.
 * @typedef {{ blk: Block, wholeBlocks: number, restUnits: number, tail: Buffer | null, tailPoints: number, points: number, bytes: number }} ConnPlan
 */

/**
 * @param {Block} blk @param {number} points @param {Buffer | null} tail @param {number} tailPoints
 * @returns {ConnPlan}
 */
function connPlan(blk, points, tail, tailPoints) {
  const unitsPerBlock = blk.unitEnds.length;
  const units = Math.floor((points - tailPoints) / blk.perUnit);
  const wholeBlocks = Math.floor(units / unitsPerBlock);
  const restUnits = units % unitsPerBlock;
  const bytes = wholeBlocks * blk.block.length + (restUnits > 0 ? blk.unitEnds[restUnits - 1] : 0) + (tail === null ? 0 : tail.length);
  return { blk, wholeBlocks, restUnits, tail, tailPoints, points, bytes };
}

/**
 * Flat out: the plan as slices of at most writeBytes (cut anywhere).
 * @param {ConnPlan} p
 * @returns {Buffer[]}
 */
function slices(p) {
  /** @type {Buffer[]} */
  const out = [];
  /** @param {Buffer} b */
  const cut = (b) => {
    for (let off = 0; off < b.length; off += cfg.writeBytes) out.push(b.subarray(off, Math.min(b.length, off + cfg.writeBytes)));
  };
  for (let k = 0; k < p.wholeBlocks; k++) cut(p.blk.block);
  if (p.restUnits > 0) cut(p.blk.block.subarray(0, p.blk.unitEnds[p.restUnits - 1]));
  if (p.tail !== null) cut(p.tail);
  return out;
}

/** @param {net.Socket} socket @returns {Promise<void>} */
function drain(socket) {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error('relay closed the connection during the run'));
    socket.once('close', onClose);
    socket.once('drain', () => {
      socket.off('close', onClose);
      resolve();
    });
  });
}

/** @param {net.Socket} socket @returns {Promise<void>} */
function finish(socket) {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.end(() => resolve(undefined)); // 'finish': all data flushed to the kernel
  });
}

/** @param {net.Socket} socket @param {Buffer[]} pieces */
async function pump(socket, pieces) {
  for (const piece of pieces) {
    if (!socket.write(piece)) await drain(socket);
  }
  await finish(socket);
}

/**
 * Paced: all connections on one timer; each writes the units due by now.
 * @param {net.Socket[]} sockets @param {ConnPlan[]} plans @param {bigint} t0
 * @returns {Promise<{ lateTicks: number, maxBehindMs: number }>}
 */
async function paced(sockets, plans, t0) {
  const rate = /** @type {number} */ (cfg.rate);
  const tickMs = cfg.tickMs ?? 5;
  const state = plans.map((p) => ({ unit: 0, units: p.wholeBlocks * p.blk.unitEnds.length + p.restUnits, tailSent: p.tail === null, draining: false }));
  let lateTicks = 0;
  let maxBehindMs = 0;
  for (;;) {
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    let open = 0;
    for (let c = 0; c < sockets.length; c++) {
      const st = state[c];
      const p = plans[c];
      if (st.unit >= st.units && st.tailSent) continue;
      open++;
      if (st.draining) continue;
      // datapoints due on this connection by now (its share of the rate), in whole units
      const duePoints = Math.min(p.points, Math.floor((elapsed * rate * p.points) / cfg.total));
      const dueUnits = Math.min(st.units, Math.floor(duePoints / p.blk.perUnit));
      const n = p.blk.unitEnds.length;
      /** @type {Buffer[]} */
      const out = [];
      while (st.unit < dueUnits) {
        const i = st.unit % n;
        const j = Math.min(n, i + (dueUnits - st.unit)); // up to the end of the block, then wrap
        out.push(p.blk.block.subarray(i === 0 ? 0 : p.blk.unitEnds[i - 1], p.blk.unitEnds[j - 1]));
        st.unit += j - i;
      }
      if (st.unit >= st.units && !st.tailSent && duePoints >= p.points) {
        out.push(/** @type {Buffer} */ (p.tail));
        st.tailSent = true;
      }
      let ok = true;
      for (const b of out) ok = sockets[c].write(b);
      if (!ok) {
        st.draining = true;
        drain(sockets[c]).then(
          () => (st.draining = false),
          (/** @type {Error} */ err) => reportChildError(err),
        );
      }
    }
    if (open === 0) break;
    // sleep until the next tick; count ticks that came late (the generator or the machine is too busy to pace)
    const next = t0 + BigInt(Math.round((Math.floor((elapsed * 1000) / tickMs) + 1) * tickMs * 1e6));
    const waitMs = Number(next - process.hrtime.bigint()) / 1e6;
    if (waitMs < 0) {
      lateTicks++;
      maxBehindMs = Math.max(maxBehindMs, -waitMs);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, waitMs)));
  }
  await Promise.all(sockets.map(finish));
  return { lateTicks, maxBehindMs };
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
  const codec = format === 'pickle' ? distCodec() : null;
  /** @type {ConnPlan[]} */
  const plans = [];
  let bytes = 0;
  for (let c = 0; c < cfg.connections; c++) {
    const points = Math.floor(cfg.total / cfg.connections) + (c < cfg.total % cfg.connections ? 1 : 0);
    if (codec === null) {
      plans.push(connPlan(lineBlock(c, timestamp), points, null, 0));
    } else {
      const blk = pickleBlock(codec, c, timestamp);
      const tailPoints = points % framePoints;
      // the shorter last frame continues the name sequence where the whole frames stopped
      const tail = tailPoints === 0 ? null : pickleFrames(codec, (points - tailPoints) % cfg.names, tailPoints, c, timestamp).buf;
      plans.push(connPlan(blk, points, tail, tailPoints));
    }
    bytes += plans[c].bytes;
  }
  const pieces = cfg.rate === undefined ? plans.map(slices) : [];
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
  send({ type: 'started', t0: t0.toString() });
  /** @type {Record<string, number>} */
  let extra = {};
  if (cfg.rate === undefined) await Promise.all(sockets.map((s, c) => pump(s, pieces[c])));
  else extra = await paced(sockets, plans, t0);
  const t1 = process.hrtime.bigint();
  const cpu = process.cpuUsage(cpu0);
  send({ type: 'done', sent: cfg.total, bytes, t1: t1.toString(), cpuMicros: cpu.user + cpu.system, ...extra });
}

process.on('disconnect', () => process.exit(0));
main().catch(reportChildError);
