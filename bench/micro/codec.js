// @ts-check
'use strict';
/**
 * In-process codec micro-benchmarks against the compiled relay (dist/):
 *   line decode   decodeLine() of `name value timestamp` lines into a MetricBatch, names interned as the listeners do
 *   pickle encode PickleEncoder frames of 500 (the default maxDatapointsPerMessage)
 *                 from a DatapointQueue into a ByteWriter, taken every 256 KiB
 *                 as Destination.flush does
 *   pickle decode PickleDecoder over those frames into a MetricBatch (names interned)
 * Each is warmed up, then timed over several rounds; the median round is reported.
 */
const assert = require('node:assert');
const path = require('node:path');
const { countPickleDatapoints } = require('../lib/pickle-count');
const { measureMedian } = require('../lib/measure');
const { benchName, benchValue } = require('../lib/workload');

const DIST = path.resolve(__dirname, '..', '..', 'dist');
/** @type {{ decodeLine: (buf: Buffer, start: number, end: number, batch: any, now: number, timestampOptional?: boolean, names?: any) => number }} */
const { decodeLine } = require(path.join(DIST, 'codec', 'line-decoder.js'));
const { MetricBatch } = require(path.join(DIST, 'model', 'metric.js'));
const { PickleEncoder } = require(path.join(DIST, 'codec', 'pickle-encoder.js'));
const { PickleDecoder } = require(path.join(DIST, 'codec', 'pickle-decoder.js'));
const { DatapointQueue } = require(path.join(DIST, 'output', 'queue.js'));
const { ByteWriter } = require(path.join(DIST, 'codec', 'byte-writer.js'));
const { NameInterner } = require(path.join(DIST, 'codec', 'name-interner.js'));

const NAMES = 10_000;
const FRAME = 500;
/** Datapoints per timed round. */
const PER_ROUND = Number(process.env.BENCH_MICRO_POINTS ?? 1_000_000);

/** The load generator's name and value shapes (bench/lib/loadgen-child.js). */
function workload() {
  const ts = Math.floor(Date.now() / 1000);
  /** @type {string[]} */
  const names = [];
  /** @type {number[]} */
  const values = [];
  /** @type {string[]} */
  const lines = [];
  for (let i = 0; i < NAMES; i++) {
    const name = benchName(i);
    const text = benchValue(i, 0);
    names.push(name);
    values.push(Number(text));
    lines.push(`${name} ${text} ${ts}\n`);
  }
  return { ts, names, values, text: lines.join('') };
}

const measure = measureMedian;

function lineDecode() {
  const { text } = workload();
  const buf = Buffer.from(text, 'latin1');
  /** @type {number[]} */
  const starts = [];
  /** @type {number[]} */
  const ends = [];
  for (let s = 0; s < buf.length; ) {
    const nl = buf.indexOf(0x0a, s);
    starts.push(s);
    ends.push(nl);
    s = nl + 1;
  }
  const batch = new MetricBatch(512);
  const now = Date.now() / 1000;
  const reps = Math.ceil(PER_ROUND / NAMES);
  // as the relay's listeners decode: names interned
  const names = new NameInterner();
  return measure('line decode', reps * NAMES, () => {
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < NAMES; i++) {
        if (decodeLine(buf, starts[i], ends[i], batch, now, false, names) !== 0) throw new Error('line rejected');
        if (batch.length === 512) batch.clear(); // LineProtocol hands each chunk's batch on, then clears it
      }
    }
    batch.clear();
  });
}

/** Frames as the destination writes them (without the 4-byte length prefix in the returned views). */
function encodeFrames() {
  const { ts, names, values } = workload();
  const q = new DatapointQueue(NAMES);
  for (let i = 0; i < NAMES; i++) q.push(names[i], ts, values[i]);
  const w = new ByteWriter();
  const enc = new PickleEncoder();
  while (q.length > 0) q.shift(enc.encode(q, FRAME, w));
  const all = w.take();
  /** @type {Buffer[]} */
  const frames = [];
  for (let p = 0; p < all.length; ) {
    const len = all.readUInt32BE(p);
    frames.push(all.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  // The sink's exact counter must agree with the encoder (it is what the e2e loss figure rests on).
  const prefix = Buffer.from('bench.');
  let counted = 0;
  for (const f of frames) {
    const c = countPickleDatapoints(f, 0, f.length, prefix);
    assert.ok(c !== null && c.matching === c.datapoints, 'pickle-count rejects a PickleEncoder frame');
    counted += c.datapoints;
  }
  assert.strictEqual(counted, NAMES, 'pickle-count disagrees with PickleEncoder');
  return frames;
}

function pickleEncode() {
  const { ts, names, values } = workload();
  const q = new DatapointQueue(1 << 17);
  const w = new ByteWriter(256 * 1024 + 64 * 1024);
  const enc = new PickleEncoder();
  const frames = Math.ceil(PER_ROUND / FRAME);
  let next = 0;
  const refill = () => {
    while (q.length < 2 * FRAME) {
      q.push(names[next], ts, values[next]);
      next = next + 1 === NAMES ? 0 : next + 1;
    }
  };
  return measure('pickle encode', frames * FRAME, () => {
    for (let f = 0; f < frames; f++) {
      refill();
      q.shift(enc.encode(q, FRAME, w));
      if (w.pos >= 256 * 1024) w.take();
    }
    w.take();
  });
}

function pickleDecode() {
  const frames = encodeFrames();
  const dec = new PickleDecoder({ names: new NameInterner() });
  const batch = new MetricBatch(FRAME);
  const now = Date.now() / 1000;
  const reps = Math.ceil(PER_ROUND / NAMES);
  return measure('pickle decode', reps * NAMES, () => {
    for (let r = 0; r < reps; r++) {
      for (const f of frames) {
        const s = dec.decode(f, batch, now);
        if (s.accepted !== FRAME) throw new Error(`decoded ${s.accepted} of ${FRAME}`);
        batch.clear();
      }
    }
  });
}

/** @returns {import('../lib/types').MicroResult[]} */
function runMicro() {
  return [lineDecode(), pickleEncode(), pickleDecode()];
}

module.exports = { runMicro };

if (require.main === module) {
  for (const r of runMicro()) console.log(`${r.name.padEnd(14)} ${(r.perSec / 1e6).toFixed(2)} M datapoints/s`);
}
