import { decodeUtf8Strict, latin1Slice } from '../common/bytes';
import type { NameInterner } from './name-interner';
import { accept, LineVerdict } from './line-decoder';
import { parsePyFloat } from '../common/python/float';
import type { MetricBatch } from '../model/metric';

/** The whole frame is rejected (carbon: "invalid pickle received ... ignoring"). */
export class PickleDecodeError extends Error {
  override readonly name: string = 'PickleDecodeError';
}

/** Rejected whole for nesting deeper than the decoder's limit (counted apart from other bad frames). */
export class PickleTooDeepError extends PickleDecodeError {
  override readonly name: string = 'PickleTooDeepError';
}

/** Per-frame tallies of datapoints that were skipped, by reason. Reused between frames. */
export class PickleItemStats {
  accepted = 0;
  /** Item is not (name, (timestamp, value)). */
  badShape = 0;
  /** Name is not a string (carbon drops the connection for these). */
  badName = 0;
  /** Value or timestamp is not something float() accepts. */
  badNumber = 0;
  badTimestamp = 0;
  nanValue = 0;

  reset(): void {
    this.accepted = this.badShape = this.badName = this.badNumber = this.badTimestamp = this.nanValue = 0;
  }
}

/** Opcodes never honoured: they build arbitrary objects or call code, or carbon senders never emit them. */
const FORBIDDEN: Record<number, string> = {
  0x63: 'GLOBAL', 0x93: 'STACK_GLOBAL', 0x52: 'REDUCE', 0x69: 'INST', 0x6f: 'OBJ', 0x62: 'BUILD',
  0x50: 'PERSID', 0x51: 'BINPERSID', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX', 0x8b: 'LONG4', 0x7d: 'EMPTY_DICT', 0x64: 'DICT', 0x73: 'SETITEM', 0x75: 'SETITEMS',
  0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8e: 'BINBYTES8', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** Bound on text-form numbers (INT/LONG/FLOAT, PUT/GET indices): far above any real one, far below any cost. */
const MAX_TEXT_NUMBER = 64;
const MAX_LONG1_BYTES = 8;

/**
 * Nesting accepted by default, open MARKs included. A carbon frame (a list of
 * `(name, (timestamp, value))`) is 3 deep; deeper frames are hostile or not metrics.
 */
export const DEFAULT_MAX_PICKLE_DEPTH = 16;

/**
 * Memo entries per frame: one per 4 payload bytes (+ a floor for tiny frames).
 * A pickler writes at least a 1-byte object and a 1-byte MEMOIZE per entry,
 * a datapoint at least 6.5 bytes per entry; a flood of MEMOIZE opcodes is cut here.
 */
const MEMO_ENTRIES_FLOOR = 1024;
/** Memo indices not assigned in order (CPython's pickler never writes them): a few at most. */
const MAX_SPARSE_MEMO = 1024;

/** Stack slots whose depth array is kept between frames (carbon's frames stack up about 1,000 items). */
const MAX_KEPT_DEPTHS = 4096;

/** Nesting of a canonical frame as the interpreter bounds it: the list's MARK, the list, two tuples. */
const CANONICAL_DEPTH = 4;

/** Python bool/None stand-ins, so they cannot be confused with numbers or lists. */
const NONE = Symbol('None');
type Value = string | number | boolean | typeof NONE | Value[];

/**
 * Every empty list or tuple while it stays on the stack unmemoised, so a frame
 * of `]` or `)` opcodes allocates nothing. It is replaced by a real array
 * before anything can append to it (APPEND/APPENDS on it, or PUT, after which
 * a GET could bring it back); frozen, so a slip throws instead of corrupting.
 */
const EMPTY = Object.freeze([]) as unknown as Value[];

interface MemoEntry {
  value: Value;
  depth: number;
}

export interface PickleDecoderOptions {
  /** Deepest nesting accepted, open MARKs included; default DEFAULT_MAX_PICKLE_DEPTH. */
  maxDepth?: number;
  /** One string per distinct ASCII string (names, mostly); see NameInterner. */
  names?: NameInterner;
}

/**
 * A whitelist pickle decoder for Carbon's `[(name, (timestamp, value)), ...]`,
 * protocols 0 to 5. It interprets only the opcodes that build lists, tuples,
 * strings and numbers; everything that could construct objects or call code is
 * refused before anything else happens. Linear in the frame size, no recursion;
 * nesting, memo entries and empty containers are bounded or shared, so a hostile
 * 1 MiB frame costs at most a few simple steps per byte.
 */
export class PickleDecoder {
  private readonly stack: Value[] = [];
  /**
   * Nesting depth of each stack item (0 for scalars, 1 + the deepest element
   * for containers), so depth is known when a container is built without
   * walking it. A container of depth d built while m MARKs are open could end
   * up m + d deep (each open MARK becomes a container around it, or feeds the
   * list below it): that sum is what is bounded, when it is built, so a flood
   * of MARKs or wrapping opcodes is rejected at the first opcode past the limit.
   * Indexed like the stack (no length of its own); grown by doubling.
   * A memoised list appended to later keeps the depth it had when memoised;
   * harmless, as nothing here recurses into values: the bound is for
   * rejecting deep frames early, not what keeps decoding linear.
   */
  private depths = new Uint8Array(256);
  private readonly marks: number[] = [];
  /** Memo indices 0..n-1 as CPython assigns them (len(memo)): arrays, not a Map, as PUT follows most objects. */
  private readonly memo: Value[] = [];
  private readonly memoDepths: number[] = [];
  private readonly sparseMemo = new Map<number, MemoEntry>();
  private readonly maxDepth: number;
  private readonly names: NameInterner | undefined;
  readonly stats = new PickleItemStats();
  /** Frames read on the one-pass path for carbon's usual layout (see canonical()); the rest went through the interpreter. */
  canonicalFrames = 0;

  constructor(opts: PickleDecoderOptions = {}) {
    this.maxDepth = opts.maxDepth ?? DEFAULT_MAX_PICKLE_DEPTH;
    this.names = opts.names;
    if (!(this.maxDepth >= 1 && this.maxDepth <= 255)) throw new RangeError(`maxDepth ${this.maxDepth} is not within 1..255`);
  }

  /** Decodes one frame payload into the batch; throws PickleDecodeError when the frame as a whole is bad. */
  decode(frame: Buffer, batch: MetricBatch, nowSeconds: number): PickleItemStats {
    this.stats.reset();
    if (this.names !== undefined && this.maxDepth >= CANONICAL_DEPTH && this.canonical(frame, batch, nowSeconds, this.names)) {
      this.canonicalFrames++;
      return this.stats;
    }
    let top: Value;
    try {
      top = this.run(frame);
    } finally {
      this.stack.length = 0;
      // a flood of opcodes grew it with the stack: keep no more than a normal frame needs
      if (this.depths.length > MAX_KEPT_DEPTHS) this.depths = new Uint8Array(MAX_KEPT_DEPTHS);
      this.marks.length = 0;
      this.memo.length = 0;
      this.memoDepths.length = 0;
      this.sparseMemo.clear();
    }
    if (!Array.isArray(top)) throw new PickleDecodeError('top-level object is not a list or tuple');
    for (let i = 0; i < top.length; i++) this.item(top[i], batch, nowSeconds);
    return this.stats;
  }

  private item(raw: Value, batch: MetricBatch, nowSeconds: number): void {
    const s = this.stats;
    if (!Array.isArray(raw) || raw.length !== 2 || !Array.isArray(raw[1]) || raw[1].length !== 2) {
      s.badShape++;
      return;
    }
    const name = raw[0];
    if (typeof name !== 'string') {
      s.badName++;
      return;
    }
    const ts = toFloat(raw[1][0]);
    const value = toFloat(raw[1][1]);
    if (ts === undefined || value === undefined) {
      s.badNumber++;
      return;
    }
    this.count(accept(name, value, ts, batch, nowSeconds));
  }

  private count(verdict: LineVerdict): void {
    const s = this.stats;
    switch (verdict) {
      case LineVerdict.Ok: s.accepted++; break;
      case LineVerdict.BadTimestamp: s.badTimestamp++; break;
      default: s.nanValue++; break;
    }
  }

  /**
   * The frames carbon's senders write (Python's pickle.dumps of a list of
   * `(name, (timestamp, value))` at protocol 2 to 5: an empty list, items of
   * a BINUNICODE name and two numbers under two TUPLE2s, gathered by
   * APPENDS or APPEND, memo puts in order) read in one pass straight into the
   * batch, without building the values the general interpreter builds. It
   * only takes frames the interpreter would decode to the same datapoints and
   * counts: anything else (another opcode, a memo index out of order, a
   * name that is not UTF-8, more memo entries than the interpreter allows) returns
   * false with the batch and counts as they were, and the interpreter decodes
   * the frame from the start.
   */
  private canonical(b: Buffer, batch: MetricBatch, nowSeconds: number, names: NameInterner): boolean {
    const end = b.length;
    const maxMemo = MEMO_ENTRIES_FLOOR + (b.length >> 2);
    const startLength = batch.length;
    let memoNext = 0;
    let p = 0;
    /** Skips a memo put at p, if it puts the next index; -1: a put the interpreter might treat differently. */
    const memo = (): number => {
      const op = b[p];
      let idx: number;
      if (op === 0x71) {
        if (p + 2 > end) return -1;
        idx = b[p + 1];
        p += 2;
      } else if (op === 0x72) {
        if (p + 5 > end) return -1;
        idx = b.readUInt32LE(p + 1);
        p += 5;
      } else if (op === 0x94) {
        idx = memoNext;
        p += 1;
      } else return 0;
      if (idx !== memoNext || memoNext >= maxMemo) return -1;
      memoNext++;
      return 0;
    };
    /** A number at p (BINFLOAT, BININT, BININT1, BININT2), or NaN-free failure as undefined. */
    const num = (): number | undefined => {
      const op = b[p];
      if (op === 0x47) {
        if (p + 9 > end) return undefined;
        const v = b.readDoubleBE(p + 1);
        p += 9;
        return v;
      }
      if (op === 0x4a) {
        if (p + 5 > end) return undefined;
        const v = b.readInt32LE(p + 1);
        p += 5;
        return v;
      }
      if (op === 0x4b) {
        if (p + 2 > end) return undefined;
        const v = b[p + 1];
        p += 2;
        return v;
      }
      if (op === 0x4d) {
        if (p + 3 > end) return undefined;
        const v = b.readUInt16LE(p + 1);
        p += 3;
        return v;
      }
      return undefined;
    };
    const fail = (): false => {
      batch.length = startLength;
      this.stats.reset();
      return false;
    };
    if (b[p] === 0x80) p += 2;
    if (b[p] === 0x95) p += 9;
    if (p >= end || b[p] !== 0x5d) return false;
    p++;
    if (memo() < 0) return fail();
    let inMark = false;
    while (p < end) {
      const op = b[p];
      if (op === 0x2e) return !inMark || fail(); // STOP (what follows it is ignored, as by the interpreter)
      if (op === 0x28) {
        if (inMark) return fail();
        inMark = true;
        p++;
        continue;
      }
      if (op === 0x65) {
        if (!inMark) return fail();
        inMark = false;
        p++;
        continue;
      }
      let len: number;
      if (op === 0x58) {
        if (p + 5 > end) return fail();
        len = b.readUInt32LE(p + 1);
        p += 5;
      } else if (op === 0x8c) {
        if (p + 2 > end) return fail();
        len = b[p + 1];
        p += 2;
      } else return fail();
      if (len > end - p) return fail();
      // invalid UTF-8: the interpreter refuses the frame with its own message
      const name = names.internAscii(b, p, p + len) ?? decodeUtf8Strict(b, p, p + len);
      if (name === undefined) return fail();
      p += len;
      if (memo() < 0) return fail();
      const ts = num();
      if (ts === undefined) return fail();
      const value = num();
      if (value === undefined || b[p] !== 0x86) return fail();
      p++;
      if (memo() < 0 || b[p] !== 0x86) return fail();
      p++;
      if (memo() < 0) return fail();
      if (!inMark) {
        if (b[p] !== 0x61) return fail(); // APPEND
        p++;
      }
      this.count(accept(name, value, ts, batch, nowSeconds));
    }
    return fail(); // no STOP: the interpreter reports the truncation
  }

  private run(b: Buffer): Value {
    const { stack, marks, memo, memoDepths, sparseMemo, maxDepth, names } = this;
    const maxMemo = MEMO_ENTRIES_FLOOR + (b.length >> 2);
    const end = b.length;
    let p = 0;
    const need = (n: number): void => {
      if (p + n > end) throw new PickleDecodeError(`truncated at offset ${p}`);
    };
    /** Throws unless the stack holds n items above the current MARK (as in CPython, nothing below it may be used). */
    const take = (n: number): void => {
      if (stack.length - n < (marks.length > 0 ? marks[marks.length - 1] : 0)) throw new PickleDecodeError(`stack underflow at offset ${p}`);
    };
    let depths = this.depths;
    const grow = (): void => {
      const bigger = new Uint8Array(depths.length * 2);
      bigger.set(depths);
      depths = this.depths = bigger;
    };
    const push = (v: Value): void => {
      const n = stack.length;
      if (n === depths.length) grow();
      depths[n] = 0;
      stack.push(v);
    };
    const tooDeep = (): PickleTooDeepError => new PickleTooDeepError(`nesting deeper than ${maxDepth} levels at offset ${p - 1}`);
    /** Pushes a container of depth d; every open MARK will enclose it. */
    const pushContainer = (v: Value, d: number): void => {
      if (d + marks.length > maxDepth) throw tooDeep();
      const n = stack.length;
      if (n === depths.length) grow();
      depths[n] = d;
      stack.push(v);
    };
    /** The stack item at i, made appendable (a shared EMPTY becomes its own array). */
    const mutableAt = (i: number): Value => {
      if (stack[i] === EMPTY) stack[i] = [];
      return stack[i];
    };
    /** The list at i now holds an item of depth d. */
    const deepen = (i: number, d: number): void => {
      if (d + 1 > depths[i]) {
        if (d + 1 + marks.length > maxDepth) throw tooDeep();
        depths[i] = d + 1;
      }
    };
    /** Pops the topmost MARK; returns the stack index its items start at. */
    const popMark = (): number => {
      const m = marks.pop();
      if (m === undefined) throw new PickleDecodeError(`missing MARK at offset ${p}`);
      return m;
    };
    /** The deepest of the stack items from m up. */
    const cut = (m: number): number => {
      let d = 0;
      for (let i = m; i < stack.length; i++) if (depths[i] > d) d = depths[i];
      return d;
    };
    const textLine = (): string => {
      const nl = b.indexOf(0x0a, p);
      if (nl < 0 || nl - p > 1024 * 1024) throw new PickleDecodeError(`unterminated text argument at offset ${p}`);
      const s = latin1Slice(b, p, nl);
      p = nl + 1;
      return s;
    };
    const memoPut = (idx: number): void => {
      take(1);
      const t = stack.length - 1;
      const v = mutableAt(t);
      const d = depths[t];
      const n = memo.length;
      if (idx < n) {
        memo[idx] = v;
        memoDepths[idx] = d;
        return;
      }
      const sparse = idx === n ? undefined : sparseMemo.get(idx);
      if (sparse !== undefined) {
        sparse.value = v;
        sparse.depth = d;
        return;
      }
      if (n + sparseMemo.size >= maxMemo) throw new PickleDecodeError(`more than ${maxMemo} memo entries at offset ${p}`);
      if (idx === n) {
        memo.push(v);
        memoDepths.push(d);
        return;
      }
      if (sparseMemo.size >= MAX_SPARSE_MEMO) throw new PickleDecodeError(`more than ${MAX_SPARSE_MEMO} out-of-order memo indices at offset ${p}`);
      sparseMemo.set(idx, { value: v, depth: d });
    };
    const memoGet = (idx: number): void => {
      if (idx < memo.length) return pushContainer(memo[idx], memoDepths[idx]);
      const e = sparseMemo.get(idx);
      if (e === undefined) throw new PickleDecodeError(`memo key ${idx} not found`);
      pushContainer(e.value, e.depth);
    };
    const str = (len: number): string => {
      need(len);
      const s = names?.internAscii(b, p, p + len) ?? decodeUtf8Strict(b, p, p + len);
      if (s === undefined) throw new PickleDecodeError(`string at offset ${p} is not valid UTF-8`);
      p += len;
      return s;
    };

    while (p < end) {
      const op = b[p++];
      switch (op) {
        case 0x80: need(1); p += 1; break; // PROTO
        case 0x95: need(8); p += 8; break; // FRAME: a length hint only
        case 0x2e: // STOP
          if (stack.length !== 1 || this.marks.length !== 0) throw new PickleDecodeError('STOP with a malformed stack');
          return stack[0];
        case 0x28: // MARK
          marks.push(stack.length);
          if (marks.length > maxDepth) throw tooDeep();
          break;
        case 0x5d: case 0x29: pushContainer(EMPTY, 1); break; // EMPTY_LIST, EMPTY_TUPLE
        case 0x6c: case 0x74: { // LIST, TUPLE
          const m = popMark();
          if (m === stack.length) {
            pushContainer(EMPTY, 1);
            break;
          }
          const d = cut(m);
          pushContainer(stack.splice(m), d + 1);
          break;
        }
        case 0x85: { // TUPLE1
          take(1);
          const a = stack.pop() as Value;
          pushContainer([a], depths[stack.length] + 1);
          break;
        }
        case 0x86: { // TUPLE2
          take(2);
          const b2 = stack.pop() as Value;
          const a = stack.pop() as Value;
          const n = stack.length;
          pushContainer([a, b2], Math.max(depths[n], depths[n + 1]) + 1);
          break;
        }
        case 0x87: { // TUPLE3
          take(3);
          const c = stack.pop() as Value;
          const b2 = stack.pop() as Value;
          const a = stack.pop() as Value;
          const n = stack.length;
          pushContainer([a, b2, c], Math.max(depths[n], depths[n + 1], depths[n + 2]) + 1);
          break;
        }
        case 0x61: { // APPEND
          take(2);
          const v = stack.pop() as Value;
          const d = depths[stack.length];
          const i = stack.length - 1;
          const list = mutableAt(i);
          if (!Array.isArray(list)) throw new PickleDecodeError(`APPEND to a non-list at offset ${p - 1}`);
          list.push(v);
          deepen(i, d);
          break;
        }
        case 0x65: { // APPENDS
          const m = popMark();
          take(stack.length - m + 1); // the items and the list just below the MARK, itself above the next MARK
          const i = m - 1;
          if (!Array.isArray(stack[i])) throw new PickleDecodeError(`APPENDS to a non-list at offset ${p - 1}`);
          if (m === stack.length) break;
          const list = mutableAt(i) as Value[];
          for (let k = m; k < stack.length; k++) list.push(stack[k]);
          const d = cut(m);
          stack.length = m;
          deepen(i, d);
          break;
        }
        case 0x30: take(1); stack.pop(); break; // POP
        case 0x31: stack.length = popMark(); break; // POP_MARK
        case 0x71: need(1); memoPut(b[p]); p += 1; break; // BINPUT
        case 0x72: need(4); memoPut(b.readUInt32LE(p)); p += 4; break; // LONG_BINPUT
        case 0x94: memoPut(memo.length + sparseMemo.size); break; // MEMOIZE: CPython's len(memo)
        case 0x70: memoPut(textIndex(textLine())); break; // PUT
        case 0x68: need(1); memoGet(b[p]); p += 1; break; // BINGET
        case 0x6a: need(4); memoGet(b.readUInt32LE(p)); p += 4; break; // LONG_BINGET
        case 0x67: memoGet(textIndex(textLine())); break; // GET
        case 0x4a: need(4); push(b.readInt32LE(p)); p += 4; break; // BININT
        case 0x4b: need(1); push(b[p]); p += 1; break; // BININT1
        case 0x4d: need(2); push(b.readUInt16LE(p)); p += 2; break; // BININT2
        case 0x8a: { // LONG1: little-endian two's complement
          need(1);
          const n = b[p++];
          if (n > MAX_LONG1_BYTES) throw new PickleDecodeError(`LONG1 of ${n} bytes is too large`);
          need(n);
          let v: number;
          if (n <= 6) {
            v = 0;
            for (let i = n - 1; i >= 0; i--) v = v * 256 + b[p + i];
            if (n > 0 && b[p + n - 1] & 0x80) v -= 2 ** (8 * n);
          } else {
            // Beyond 2**53 accumulate exactly, then round once, as float(int) does.
            let big = 0n;
            for (let i = n - 1; i >= 0; i--) big = (big << 8n) | BigInt(b[p + i]);
            if (b[p + n - 1] & 0x80) big -= 1n << BigInt(8 * n);
            v = Number(big);
          }
          push(v);
          p += n;
          break;
        }
        case 0x49: { // INT (text); protocol 0 writes bools as I01/I00
          const t = textLine();
          if (t === '01') push(true);
          else if (t === '00') push(false);
          else push(textInt(t));
          break;
        }
        case 0x4c: { // LONG (text), optional trailing L
          const t = textLine();
          push(textInt(t.endsWith('L') ? t.slice(0, -1) : t));
          break;
        }
        case 0x46: { // FLOAT (text)
          const t = textLine();
          const v = t.length <= MAX_TEXT_NUMBER ? parsePyFloat(t) : undefined;
          if (v === undefined) throw new PickleDecodeError(`bad FLOAT argument at offset ${p}`);
          push(v);
          break;
        }
        case 0x47: need(8); push(b.readDoubleBE(p)); p += 8; break; // BINFLOAT
        case 0x4e: push(NONE); break; // NONE
        case 0x88: push(true); break; // NEWTRUE
        case 0x89: push(false); break; // NEWFALSE
        case 0x58: { need(4); const n = b.readUInt32LE(p); p += 4; push(str(n)); break; } // BINUNICODE
        case 0x8c: { need(1); const n = b[p++]; push(str(n)); break; } // SHORT_BINUNICODE
        case 0x8d: { // BINUNICODE8
          need(8);
          const n = Number(b.readBigUInt64LE(p));
          p += 8;
          push(str(n));
          break;
        }
        case 0x55: { need(1); const n = b[p++]; push(str(n)); break; } // SHORT_BINSTRING (py2 str, utf-8 like carbon)
        case 0x54: { // BINSTRING
          need(4);
          const n = b.readInt32LE(p);
          p += 4;
          if (n < 0) throw new PickleDecodeError('BINSTRING with a negative length');
          push(str(n));
          break;
        }
        case 0x53: push(pyStringLiteral(textLine())); break; // STRING (repr form)
        case 0x56: push(rawUnicodeEscape(textLine())); break; // UNICODE
        default: {
          const forbidden = FORBIDDEN[op];
          if (forbidden !== undefined) throw new PickleDecodeError(`forbidden opcode ${forbidden} (0x${op.toString(16)}) at offset ${p - 1}`);
          throw new PickleDecodeError(`unsupported opcode 0x${op.toString(16)} at offset ${p - 1}`);
        }
      }
    }
    throw new PickleDecodeError('no STOP opcode');
  }
}

/** Carbon applies float() to both fields: ints, bools and numeric strings are fine. */
function toFloat(v: Value): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return parsePyFloat(v);
  return undefined;
}

function textInt(t: string): number {
  if (t.length > MAX_TEXT_NUMBER || !/^[+-]?\d+$/.test(t.trim())) throw new PickleDecodeError(`bad integer argument ${JSON.stringify(t.slice(0, 40))}`);
  return Number(t);
}

function textIndex(t: string): number {
  if (t.length > 10 || !/^\d+$/.test(t)) throw new PickleDecodeError(`bad memo index ${JSON.stringify(t.slice(0, 40))}`);
  return Number(t);
}

const SIMPLE_ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, v: 11, '0': 0 };

/** Protocol-0 STRING: a Python 2 str repr ('...' or "..."), decoded to bytes, then UTF-8 (carbon's encoding). */
function pyStringLiteral(t: string): string {
  const q = t[0];
  if (t.length < 2 || (q !== "'" && q !== '"') || t[t.length - 1] !== q) throw new PickleDecodeError('STRING argument is not quoted');
  const body = t.slice(1, -1);
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c !== 0x5c) { bytes.push(c & 0xff); continue; }
    const e = body[++i];
    if (e === 'x') {
      const h = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new PickleDecodeError('bad \\x escape in STRING');
      bytes.push(parseInt(h, 16));
      i += 2;
    } else if (e !== undefined && e >= '0' && e <= '7') {
      let j = i;
      while (j < i + 3 && body[j] >= '0' && body[j] <= '7') j++;
      bytes.push(parseInt(body.slice(i, j), 8) & 0xff);
      i = j - 1;
    } else if (e !== undefined && SIMPLE_ESCAPES[e] !== undefined) {
      bytes.push(SIMPLE_ESCAPES[e]);
    } else {
      bytes.push(0x5c);
      if (e !== undefined) bytes.push(e.charCodeAt(0) & 0xff);
    }
  }
  const buf = Buffer.from(bytes);
  const s = decodeUtf8Strict(buf, 0, buf.length);
  if (s === undefined) throw new PickleDecodeError('STRING is not valid UTF-8');
  return s;
}

/** Protocol-0 UNICODE: raw-unicode-escape (latin-1 plus \uXXXX and \UXXXXXXXX). */
function rawUnicodeEscape(t: string): string {
  return t.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4: string | undefined, u8: string | undefined) => {
    const cp = parseInt((u4 ?? u8) as string, 16);
    if (cp > 0x10ffff) throw new PickleDecodeError('UNICODE escape out of range');
    return String.fromCodePoint(cp);
  });
}
