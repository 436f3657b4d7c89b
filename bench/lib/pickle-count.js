// @ts-check
'use strict';
/**
 * Exact datapoint count of one carbon pickle frame payload, as
 * src/codec/pickle-encoder.ts lays it out, without building any objects:
 *
 *   PROTO 2 | EMPTY_LIST | MARK | { X u32le(len) name | G f64be | G f64be | TUPLE2 TUPLE2 }* | APPENDS | STOP
 *
 * Every byte of the structure is checked; any deviation (another pickler, a
 * truncated or corrupt frame) returns null so the sink reports a frame error
 * instead of a wrong count. (Counting 0x58 bytes would not be exact: names and
 * doubles can contain that byte.)
 */

const PROTO = 0x80, EMPTY_LIST = 0x5d, MARK = 0x28, APPENDS = 0x65, STOP = 0x2e;
const BINUNICODE = 0x58, BINFLOAT = 0x47, TUPLE2 = 0x86;

/**
 * @typedef {object} FrameCount
 * @property {number} datapoints every datapoint in the frame
 * @property {number} matching   those whose name starts with the prefix
 */

/**
 * @param {Buffer} b
 * @param {number} start first payload byte (after the 4-byte length)
 * @param {number} end   one past the last payload byte
 * @param {Buffer} [prefix] also count the names starting with these bytes
 * @returns {FrameCount | null} null when the frame is not in the encoder's layout
 */
function countPickleDatapoints(b, start, end, prefix) {
  if (end - start < 6) return null;
  if (b[start] !== PROTO || b[start + 1] !== 2 || b[start + 2] !== EMPTY_LIST || b[start + 3] !== MARK) return null;
  const tail = end - 2; // APPENDS STOP
  const plen = prefix === undefined ? 0 : prefix.length;
  let p = start + 4;
  let n = 0;
  let matching = 0;
  while (p < tail) {
    if (b[p] !== BINUNICODE || p + 5 > tail) return null;
    const nameLen = b[p + 1] + b[p + 2] * 0x100 + b[p + 3] * 0x10000 + b[p + 4] * 0x1000000;
    if (nameLen === 0) return null;
    p += 5;
    if (prefix !== undefined && nameLen >= plen && p + plen <= tail) {
      let k = 0;
      while (k < plen && b[p + k] === prefix[k]) k++;
      if (k === plen) matching++;
    }
    p += nameLen;
    if (p + 20 > tail) return null;
    if (b[p] !== BINFLOAT || b[p + 9] !== BINFLOAT || b[p + 18] !== TUPLE2 || b[p + 19] !== TUPLE2) return null;
    p += 20;
    n++;
  }
  if (p !== tail || b[p] !== APPENDS || b[p + 1] !== STOP) return null;
  return { datapoints: n, matching: prefix === undefined ? n : matching };
}

/**
 * @typedef {object} SinkCounts
 * @property {number} datapoints      datapoints whose name has the counted prefix (the benchmark's own)
 * @property {number} otherDatapoints the rest (e.g. the relay's self-metrics), not part of the total
 * @property {number} frames
 * @property {number} frameErrors
 * @property {number} bytes
 */

/** Largest frame accepted before the stream is declared out of sync (the relay caps frames at 100,000 datapoints). */
const MAX_FRAME = 64 * 1024 * 1024;

/**
 * Cuts one connection's byte stream into length-prefixed frames and counts
 * their datapoints into shared totals. Frames that fit in the chunk are counted
 * in place; only a frame split across chunks is copied.
 */
class PickleStreamCounter {
  /**
   * @param {SinkCounts} counts shared by every connection of the sink
   * @param {Buffer} [prefix] count only names starting with these bytes in `datapoints`
   */
  constructor(counts, prefix) {
    this.counts = counts;
    this.prefix = prefix;
    this.header = Buffer.alloc(4);
    this.headerFill = 0;
    /** @type {Buffer | null} */
    this.partial = null;
    this.partialFill = 0;
    this.desynced = false;
  }

  /** @param {Buffer} chunk */
  push(chunk) {
    const c = this.counts;
    c.bytes += chunk.length;
    if (this.desynced) return;
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      const partial = this.partial;
      if (partial !== null) {
        const n = Math.min(partial.length - this.partialFill, len - pos);
        chunk.copy(partial, this.partialFill, pos, pos + n);
        this.partialFill += n;
        pos += n;
        if (this.partialFill === partial.length) {
          this.partial = null;
          this.frame(partial, 0, partial.length);
        }
        continue;
      }
      let flen;
      if (this.headerFill === 0 && len - pos >= 4) {
        flen = chunk.readUInt32BE(pos);
        pos += 4;
        if (flen > 0 && flen <= MAX_FRAME && len - pos >= flen) {
          this.frame(chunk, pos, pos + flen);
          pos += flen;
          continue;
        }
      } else {
        while (this.headerFill < 4 && pos < len) this.header[this.headerFill++] = chunk[pos++];
        if (this.headerFill < 4) return;
        this.headerFill = 0;
        flen = this.header.readUInt32BE(0);
      }
      if (flen === 0) {
        c.frames++;
        c.frameErrors++; // the encoder never writes an empty frame
        continue;
      }
      if (flen > MAX_FRAME) {
        c.frameErrors++;
        this.desynced = true; // not pickle framing: ignore the rest of this connection
        return;
      }
      this.partial = Buffer.allocUnsafe(flen);
      this.partialFill = 0;
    }
  }

  /** Bytes of an incomplete frame (at connection end this is a truncated frame). */
  get pendingBytes() {
    return this.headerFill + (this.partial === null ? 0 : this.partialFill + 4);
  }

  /** @param {Buffer} b @param {number} s @param {number} e */
  frame(b, s, e) {
    const c = this.counts;
    c.frames++;
    const n = countPickleDatapoints(b, s, e, this.prefix);
    if (n === null) {
      c.frameErrors++;
      return;
    }
    c.datapoints += n.matching;
    c.otherDatapoints += n.datapoints - n.matching;
  }
}

module.exports = { countPickleDatapoints, PickleStreamCounter };
