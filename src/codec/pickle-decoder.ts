import { decodeUtf8Strict, latin1Slice } from '../common/bytes';
import { accept, LineVerdict } from './line-decoder';
import { parsePyFloat } from '../common/python/float';
import type { MetricBatch } from '../model/metric';

/** The whole frame is rejected (carbon: "invalid pickle received ... ignoring"). */
export class PickleDecodeError extends Error {
  override readonly name = 'PickleDecodeError';
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

/** Python bool/None stand-ins, so they cannot be confused with numbers or lists. */
const NONE = Symbol('None');
type Value = string | number | boolean | typeof NONE | Value[];

/**
 * A whitelist pickle decoder for Carbon's `[(name, (timestamp, value)), ...]`,
 * protocols 0 to 5. It interprets only the opcodes that build lists, tuples,
 * strings and numbers; everything that could construct objects or call code is
 * refused before anything else happens. Linear in the frame size, no recursion,
 * so a hostile 1 MiB frame costs about as much as a valid one.
 */
export class PickleDecoder {
  private readonly stack: Value[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, Value>();
  readonly stats = new PickleItemStats();

  /** Decodes one frame payload into the batch; throws PickleDecodeError when the frame as a whole is bad. */
  decode(frame: Buffer, batch: MetricBatch, nowSeconds: number): PickleItemStats {
    this.stats.reset();
    let top: Value;
    try {
      top = this.run(frame);
    } finally {
      this.stack.length = 0;
      this.marks.length = 0;
      this.memo.clear();
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
    switch (accept(name, value, ts, batch, nowSeconds)) {
      case LineVerdict.Ok: s.accepted++; break;
      case LineVerdict.BadTimestamp: s.badTimestamp++; break;
      default: s.nanValue++; break;
    }
  }

  private run(b: Buffer): Value {
    const stack = this.stack;
    const end = b.length;
    let p = 0;
    const need = (n: number): void => {
      if (p + n > end) throw new PickleDecodeError(`truncated at offset ${p}`);
    };
    const pop = (): Value => {
      if (stack.length === 0 || (this.marks.length > 0 && stack.length <= this.marks[this.marks.length - 1])) {
        throw new PickleDecodeError(`stack underflow at offset ${p}`);
      }
      return stack.pop() as Value;
    };
    /** The top of the stack, which (as in CPython) may not reach below the current MARK. */
    const top = (): Value => {
      if (stack.length === 0 || (this.marks.length > 0 && stack.length <= this.marks[this.marks.length - 1])) {
        throw new PickleDecodeError(`stack underflow at offset ${p}`);
      }
      return stack[stack.length - 1];
    };
    const popMark = (): Value[] => {
      const m = this.marks.pop();
      if (m === undefined) throw new PickleDecodeError(`missing MARK at offset ${p}`);
      return stack.splice(m);
    };
    const textLine = (): string => {
      const nl = b.indexOf(0x0a, p);
      if (nl < 0 || nl - p > 1024 * 1024) throw new PickleDecodeError(`unterminated text argument at offset ${p}`);
      const s = latin1Slice(b, p, nl);
      p = nl + 1;
      return s;
    };
    const memoPut = (idx: number): void => {
      this.memo.set(idx, top());
    };
    const memoGet = (idx: number): void => {
      const v = this.memo.get(idx);
      if (v === undefined) throw new PickleDecodeError(`memo key ${idx} not found`);
      stack.push(v);
    };
    const str = (len: number): string => {
      need(len);
      const s = decodeUtf8Strict(b, p, p + len);
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
        case 0x28: this.marks.push(stack.length); break; // MARK
        case 0x5d: stack.push([]); break; // EMPTY_LIST
        case 0x29: stack.push([]); break; // EMPTY_TUPLE
        case 0x6c: case 0x74: stack.push(popMark()); break; // LIST, TUPLE
        case 0x85: { const a = pop(); stack.push([a]); break; } // TUPLE1
        case 0x86: { const b2 = pop(); const a = pop(); stack.push([a, b2]); break; } // TUPLE2
        case 0x87: { const c = pop(); const b2 = pop(); const a = pop(); stack.push([a, b2, c]); break; } // TUPLE3
        case 0x61: { // APPEND
          const v = pop();
          const list = top();
          if (!Array.isArray(list)) throw new PickleDecodeError(`APPEND to a non-list at offset ${p - 1}`);
          list.push(v);
          break;
        }
        case 0x65: { // APPENDS
          const items = popMark();
          const list = top();
          if (!Array.isArray(list)) throw new PickleDecodeError(`APPENDS to a non-list at offset ${p - 1}`);
          for (let i = 0; i < items.length; i++) list.push(items[i]);
          break;
        }
        case 0x30: pop(); break; // POP
        case 0x31: popMark(); break; // POP_MARK
        case 0x71: need(1); memoPut(b[p]); p += 1; break; // BINPUT
        case 0x72: need(4); memoPut(b.readUInt32LE(p)); p += 4; break; // LONG_BINPUT
        case 0x94: memoPut(this.memo.size); break; // MEMOIZE
        case 0x70: memoPut(textIndex(textLine())); break; // PUT
        case 0x68: need(1); memoGet(b[p]); p += 1; break; // BINGET
        case 0x6a: need(4); memoGet(b.readUInt32LE(p)); p += 4; break; // LONG_BINGET
        case 0x67: memoGet(textIndex(textLine())); break; // GET
        case 0x4a: need(4); stack.push(b.readInt32LE(p)); p += 4; break; // BININT
        case 0x4b: need(1); stack.push(b[p]); p += 1; break; // BININT1
        case 0x4d: need(2); stack.push(b.readUInt16LE(p)); p += 2; break; // BININT2
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
          stack.push(v);
          p += n;
          break;
        }
        case 0x49: { // INT (text); protocol 0 writes bools as I01/I00
          const t = textLine();
          if (t === '01') stack.push(true);
          else if (t === '00') stack.push(false);
          else stack.push(textInt(t));
          break;
        }
        case 0x4c: { // LONG (text), optional trailing L
          const t = textLine();
          stack.push(textInt(t.endsWith('L') ? t.slice(0, -1) : t));
          break;
        }
        case 0x46: { // FLOAT (text)
          const t = textLine();
          const v = t.length <= MAX_TEXT_NUMBER ? parsePyFloat(t) : undefined;
          if (v === undefined) throw new PickleDecodeError(`bad FLOAT argument at offset ${p}`);
          stack.push(v);
          break;
        }
        case 0x47: need(8); stack.push(b.readDoubleBE(p)); p += 8; break; // BINFLOAT
        case 0x4e: stack.push(NONE); break; // NONE
        case 0x88: stack.push(true); break; // NEWTRUE
        case 0x89: stack.push(false); break; // NEWFALSE
        case 0x58: { need(4); const n = b.readUInt32LE(p); p += 4; stack.push(str(n)); break; } // BINUNICODE
        case 0x8c: { need(1); const n = b[p++]; stack.push(str(n)); break; } // SHORT_BINUNICODE
        case 0x8d: { // BINUNICODE8
          need(8);
          const n = Number(b.readBigUInt64LE(p));
          p += 8;
          stack.push(str(n));
          break;
        }
        case 0x55: { need(1); const n = b[p++]; stack.push(str(n)); break; } // SHORT_BINSTRING (py2 str, utf-8 like carbon)
        case 0x54: { // BINSTRING
          need(4);
          const n = b.readInt32LE(p);
          p += 4;
          if (n < 0) throw new PickleDecodeError('BINSTRING with a negative length');
          stack.push(str(n));
          break;
        }
        case 0x53: stack.push(pyStringLiteral(textLine())); break; // STRING (repr form)
        case 0x56: stack.push(rawUnicodeEscape(textLine())); break; // UNICODE
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
