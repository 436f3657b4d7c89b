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
 *
 * Frames from another pickler (Python's pickle.dumps, as carbon-relay sends
 * them: memo opcodes, ints, MARK ... TUPLE) go to countPicklerDatapoints, a
 * small opcode walker for lists of (name, (number, number)), when a
 * PickleStreamCounter is built with `anyPickler`. LineStreamCounter counts
 * plaintext lines the same way (a sink for line destinations).
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

// ---------------------------------------------------------------- any pickler

/** Stand-ins for what the walker keeps on its stack: only the shape of a datapoint matters. */
const NUM = { k: 'num' };
const PAIR = { k: 'pair' };
const OTHER = { k: 'other' };
const MARK_OBJ = { k: 'mark' };
const NAME_MATCH = { k: 'name', m: true };
const NAME_OTHER = { k: 'name', m: false };
const ITEM_MATCH = { k: 'item', m: true };
const ITEM_OTHER = { k: 'item', m: false };

/**
 * @typedef {{ k: string, m?: boolean, n?: number, matching?: number }} Obj
 */

/** @param {Obj} a @param {Obj} b @returns {Obj} the 2-tuple (a, b) */
function tuple2(a, b) {
  if (a === NUM && b === NUM) return PAIR;
  if (a.k === 'name' && b === PAIR) return a.m ? ITEM_MATCH : ITEM_OTHER;
  return OTHER;
}

/** @param {Obj} list @param {Obj} x @returns {boolean} false when list is not a list or x not a datapoint */
function appendTo(list, x) {
  if (list.k !== 'list' || x.k !== 'item') return false;
  list.n = /** @type {number} */ (list.n) + 1;
  if (x.m) list.matching = /** @type {number} */ (list.matching) + 1;
  return true;
}

/**
 * Datapoints in a pickle of [(name, (number, number)), ...] written by any
 * pickler in a binary protocol (1-4: memo BINPUT/BINGET/MEMOIZE, BINFLOAT or BININT*,
 * TUPLE2 or MARK ... TUPLE, APPEND or MARK ... APPENDS). Anything else (another
 * structure, an opcode outside that set, a truncated frame) returns null.
 * @param {Buffer} b
 * @param {number} start
 * @param {number} end
 * @param {Buffer} [prefix]
 * @returns {FrameCount | null}
 */
function countPicklerDatapoints(b, start, end, prefix) {
  /** @type {Obj[]} */
  const stack = [];
  /** @type {Map<number, Obj>} */
  const memo = new Map();
  const plen = prefix === undefined ? 0 : prefix.length;
  /** @param {number} at @param {number} len */
  const name = (at, len) => {
    if (at + len > end) return null;
    if (prefix === undefined) return NAME_MATCH;
    return len >= plen && b.compare(prefix, 0, plen, at, at + plen) === 0 ? NAME_MATCH : NAME_OTHER;
  };
  const popMark = () => {
    const i = stack.lastIndexOf(MARK_OBJ);
    if (i < 0) return null;
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  let p = start;
  while (p < end) {
    const op = b[p++];
    /** @type {Obj | null | undefined} */
    let push;
    switch (op) {
      case 0x80: // PROTO
        p += 1;
        break;
      case 0x95: // FRAME (protocol 4)
        p += 8;
        break;
      case 0x5d: // EMPTY_LIST
        push = { k: 'list', n: 0, matching: 0 };
        break;
      case 0x28: // MARK
        push = MARK_OBJ;
        break;
      case 0x71: // BINPUT
      case 0x72: // LONG_BINPUT
      case 0x94: {
        // MEMOIZE
        if (stack.length === 0) return null;
        const idx = op === 0x71 ? b[p] : op === 0x72 ? b.readUInt32LE(p) : memo.size;
        p += op === 0x71 ? 1 : op === 0x72 ? 4 : 0;
        memo.set(idx, stack[stack.length - 1]);
        break;
      }
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        if (p + (op === 0x68 ? 1 : 4) > end) return null;
        const x = memo.get(op === 0x68 ? b[p] : b.readUInt32LE(p));
        p += op === 0x68 ? 1 : 4;
        if (x === undefined) return null;
        push = x;
        break;
      }
      case 0x58: // BINUNICODE
        if (p + 4 > end) return null;
        push = name(p + 4, b.readUInt32LE(p));
        p += 4 + b.readUInt32LE(p);
        break;
      case 0x8c: // SHORT_BINUNICODE
        if (p + 1 > end) return null;
        push = name(p + 1, b[p]);
        p += 1 + b[p];
        break;
      case 0x47: // BINFLOAT
        p += 8;
        push = NUM;
        break;
      case 0x4a: // BININT
        p += 4;
        push = NUM;
        break;
      case 0x4b: // BININT1
        p += 1;
        push = NUM;
        break;
      case 0x4d: // BININT2
        p += 2;
        push = NUM;
        break;
      case 0x86: {
        // TUPLE2
        if (stack.length < 2) return null;
        const y = /** @type {Obj} */ (stack.pop());
        const x = /** @type {Obj} */ (stack.pop());
        if (x === MARK_OBJ || y === MARK_OBJ) return null;
        push = tuple2(x, y);
        break;
      }
      case 0x74: {
        // TUPLE
        const items = popMark();
        if (items === null) return null;
        push = items.length === 2 ? tuple2(items[0], items[1]) : OTHER;
        break;
      }
      case 0x61: {
        // APPEND
        const x = stack.pop();
        if (x === undefined || stack.length === 0 || !appendTo(stack[stack.length - 1], x)) return null;
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        if (items === null || stack.length === 0) return null;
        for (const x of items) if (!appendTo(stack[stack.length - 1], x)) return null;
        break;
      }
      case 0x2e: {
        // STOP
        const top = stack[stack.length - 1];
        if (p !== end || stack.length !== 1 || top.k !== 'list') return null;
        return { datapoints: /** @type {number} */ (top.n), matching: /** @type {number} */ (top.matching) };
      }
      default:
        return null;
    }
    if (p > end) return null;
    if (push === null) return null;
    if (push !== undefined) stack.push(push);
  }
  return null; // no STOP
}

// ---------------------------------------------------------------- streams

/**
 * @typedef {object} SinkCounts
 * @property {number} datapoints      datapoints whose name has the counted prefix (the benchmark's own)
 * @property {number} otherDatapoints the rest (e.g. the relay's self-metrics), not part of the total
 * @property {number} frames
 * @property {number} frameErrors
 * @property {number} bytes
 * @property {number} [otherPicklerFrames] frames not in our encoder's layout, counted by countPicklerDatapoints
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
   * @param {boolean} [anyPickler] count frames of other picklers too (see countPicklerDatapoints)
   */
  constructor(counts, prefix, anyPickler = false) {
    this.counts = counts;
    this.prefix = prefix;
    this.anyPickler = anyPickler;
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
    let n = countPickleDatapoints(b, s, e, this.prefix);
    if (n === null && this.anyPickler) {
      n = countPicklerDatapoints(b, s, e, this.prefix);
      if (n !== null) c.otherPicklerFrames = (c.otherPicklerFrames ?? 0) + 1;
    }
    if (n === null) {
      c.frameErrors++;
      return;
    }
    c.datapoints += n.matching;
    c.otherDatapoints += n.datapoints - n.matching;
  }
}

/**
 * Counts plaintext lines (`name value timestamp\n`) of one connection into
 * shared totals: `datapoints` for lines starting with the prefix, the other
 * non-empty lines in `otherDatapoints`; `frames` counts every non-empty line.
 * Lines split across chunks are followed without copying.
 */
class LineStreamCounter {
  /**
   * @param {SinkCounts} counts shared by every connection of the sink
   * @param {Buffer} [prefix]
   */
  constructor(counts, prefix) {
    this.counts = counts;
    this.prefix = prefix ?? Buffer.alloc(0);
    /** Bytes of the prefix matched so far on the current line; -1 once it cannot match. */
    this.matched = 0;
    /** The current line has bytes (a line without a newline at the end is incomplete). */
    this.open = false;
  }

  /** @param {Buffer} chunk */
  push(chunk) {
    const c = this.counts;
    const prefix = this.prefix;
    const plen = prefix.length;
    const len = chunk.length;
    c.bytes += len;
    let pos = 0;
    while (pos < len) {
      if (this.matched >= 0 && this.matched < plen) {
        while (this.matched < plen && pos < len && chunk[pos] === prefix[this.matched]) {
          this.matched++;
          pos++;
          this.open = true;
        }
        if (pos >= len) return;
        if (this.matched < plen) this.matched = -1;
      }
      const nl = chunk.indexOf(10, pos);
      if (nl < 0) {
        this.open = true;
        return;
      }
      if (this.open || nl > pos) {
        c.frames++;
        if (this.matched === plen) c.datapoints++;
        else c.otherDatapoints++;
      }
      this.matched = 0;
      this.open = false;
      pos = nl + 1;
    }
  }

  /** Bytes of an incomplete line (at connection end: a truncated line). */
  get pendingBytes() {
    return this.open ? 1 : 0;
  }
}

module.exports = { countPickleDatapoints, countPicklerDatapoints, PickleStreamCounter, LineStreamCounter };
