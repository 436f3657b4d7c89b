import { decodeUtf8Strict, latin1Slice } from '../common/bytes';
import { FNV32_OFFSET, FNV32_PRIME } from '../common/fnv1a';
import { parseAsciiFloat, parsePyFloat, POW10 } from '../common/python/float';
import { pySplit } from '../common/python/str';
import type { MetricBatch } from '../model/metric';
import type { NameInterner } from './name-interner';

/** Outcome of decoding one plaintext line. */
export const enum LineVerdict {
  Ok = 0,
  /** Not exactly three fields, a field that float() rejects, or invalid UTF-8. */
  Malformed = 1,
  /** Timestamp is NaN or infinite. */
  BadTimestamp = 2,
  /** Value is NaN: carbon drops these silently, we count them. */
  NanValue = 3,
  /** Blank line (carbon logs these as invalid too). */
  Empty = 4,
  /** Accepted without a timestamp (`timestampOptional`): it got the relay's clock, in whole seconds. */
  OkTimestampAssigned = 5,
}

/** Whether the line became a datapoint (with its own timestamp or the relay's). */
export function isAccepted(v: LineVerdict): boolean {
  return v === LineVerdict.Ok || v === LineVerdict.OkTimestampAssigned;
}

/** ASCII bytes Python's str.split() treats as separators: \t\n\v\f\r, \x1c-\x1f and space. */
function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
}

/**
 * Carbon's plaintext line: `name value timestamp`, fields split like Python
 * str.split(), numbers parsed like float(). A timestamp with int(ts) == -1
 * means "now"; with `timestampOptional` (Hosted Graphite's format) a missing
 * one does too, as whole seconds, and the verdict says so (OkTimestampAssigned)
 * so a receiver can count such clients. Bytes in, datapoint appended to the batch;
 * `names`, when given, supplies the name's string (see NameInterner).
 */
export function decodeLine(buf: Buffer, start: number, end: number, batch: MetricBatch, nowSeconds: number, timestampOptional = false, names?: NameInterner): LineVerdict {
  if (names !== undefined) {
    const v = decodeCommonLine(buf, start, end, batch, nowSeconds, names);
    if (v !== NOT_COMMON) return v;
  }
  return decodeAnyLine(buf, start, end, batch, nowSeconds, timestampOptional, names);
}

/** decodeCommonLine's answer for a line it leaves to the general decoder. */
const NOT_COMMON = -1;

/**
 * The shape nearly every client sends, in one pass: `name value timestamp`
 * with single spaces, a printable-ASCII name (hashed as it is scanned, for the
 * interner), a value of at most 15 digits with an optional point, an integer
 * timestamp of at most 15 digits. Whatever else (tabs, '\r', exponents,
 * underscores, non-ASCII, missing fields) returns NOT_COMMON, and
 * decodeAnyLine decides it: what is decoded here is what it would decode.
 */
function decodeCommonLine(buf: Buffer, start: number, end: number, batch: MetricBatch, nowSeconds: number, names: NameInterner): LineVerdict | typeof NOT_COMMON {
  let i = start;
  let h = FNV32_OFFSET | 0;
  let c = 0;
  for (; i < end; i++) {
    c = buf[i];
    if (c <= 0x20 || c >= 0x7f) break;
    h = Math.imul(h ^ c, FNV32_PRIME);
  }
  const nameEnd = i;
  if (nameEnd === start || c !== 0x20) return NOT_COMMON;
  // value: [+-] digits [. digits], or [+-] . digits
  i++;
  if (i >= end) return NOT_COMMON;
  c = buf[i];
  const negative = c === 0x2d;
  if (negative || c === 0x2b) i++;
  let digits = 0;
  let count = 0;
  let fraction = -1;
  for (; i < end; i++) {
    c = buf[i];
    if (c >= 0x30 && c <= 0x39) {
      digits = digits * 10 + (c - 0x30);
      count++;
    } else if (c === 0x2e && fraction < 0) {
      fraction = count;
    } else break;
  }
  if (c !== 0x20 || count === 0 || count > 15 || i >= end) return NOT_COMMON;
  const magnitude = fraction < 0 || fraction === count ? digits : digits / POW10[count - fraction];
  const value = negative ? -magnitude : magnitude;
  // timestamp: [+-] digits to the end of the line
  i++;
  if (i >= end) return NOT_COMMON;
  c = buf[i];
  const tsNegative = c === 0x2d;
  if (tsNegative || c === 0x2b) i++;
  const tsStart = i;
  let ts = 0;
  for (; i < end; i++) {
    c = buf[i];
    if (c < 0x30 || c > 0x39) return NOT_COMMON;
    ts = ts * 10 + (c - 0x30);
  }
  if (i === tsStart || i - tsStart > 15) return NOT_COMMON;
  return accept(names.internHashed(buf, start, nameEnd, h), value, tsNegative ? -ts : ts, batch, nowSeconds);
}

/** Any line: carbon's split and float() in full. */
function decodeAnyLine(buf: Buffer, start: number, end: number, batch: MetricBatch, nowSeconds: number, timestampOptional: boolean, names: NameInterner | undefined): LineVerdict {
  // Fields as [s0,e0) [s1,e1) [s2,e2); bail to the string path on any non-ASCII byte.
  let i = start;
  let s0 = -1, e0 = -1, s1 = -1, e1 = -1, s2 = -1, e2 = -1;
  let field = 0;
  while (i < end) {
    const c = buf[i];
    if (c >= 0x80) return decodeNonAscii(buf, start, end, batch, nowSeconds, timestampOptional);
    if (isAsciiSpace(c)) { i++; continue; }
    const fs = i;
    while (i < end) {
      const d = buf[i];
      if (d >= 0x80) return decodeNonAscii(buf, start, end, batch, nowSeconds, timestampOptional);
      if (isAsciiSpace(d)) break;
      i++;
    }
    if (field === 0) { s0 = fs; e0 = i; } else if (field === 1) { s1 = fs; e1 = i; } else if (field === 2) { s2 = fs; e2 = i; } else return LineVerdict.Malformed;
    field++;
  }
  if (field === 0) return LineVerdict.Empty;
  if (field !== 3) {
    if (field !== 2 || !timestampOptional) return LineVerdict.Malformed;
    return withoutTimestamp(asciiName(buf, s0, e0, names), parseAsciiFloat(buf, s1, e1), batch, nowSeconds);
  }
  const value = parseAsciiFloat(buf, s1, e1);
  const ts = parseAsciiFloat(buf, s2, e2);
  if (value === undefined || ts === undefined) return LineVerdict.Malformed;
  return accept(asciiName(buf, s0, e0, names), value, ts, batch, nowSeconds);
}

/** An all-ASCII name's string: from the name table when there is one. */
function asciiName(buf: Buffer, start: number, end: number, names: NameInterner | undefined): string {
  return names === undefined ? latin1Slice(buf, start, end) : names.intern(buf, start, end);
}

function decodeNonAscii(buf: Buffer, start: number, end: number, batch: MetricBatch, nowSeconds: number, timestampOptional: boolean): LineVerdict {
  const line = decodeUtf8Strict(buf, start, end);
  if (line === undefined) return LineVerdict.Malformed;
  const parts = pySplit(line);
  if (parts.length === 0) return LineVerdict.Empty;
  if (parts.length !== 3) return parts.length === 2 && timestampOptional ? withoutTimestamp(parts[0], parsePyFloat(parts[1]), batch, nowSeconds) : LineVerdict.Malformed;
  const value = parsePyFloat(parts[1]);
  const ts = parsePyFloat(parts[2]);
  if (value === undefined || ts === undefined) return LineVerdict.Malformed;
  return accept(parts[0], value, ts, batch, nowSeconds);
}

/** A `name value` line (timestampOptional): the relay's clock in whole seconds, as Hosted Graphite stamps them. */
function withoutTimestamp(name: string, value: number | undefined, batch: MetricBatch, nowSeconds: number): LineVerdict {
  if (value === undefined) return LineVerdict.Malformed;
  const v = accept(name, value, Math.floor(nowSeconds), batch, nowSeconds);
  return v === LineVerdict.Ok ? LineVerdict.OkTimestampAssigned : v;
}

/** The checks carbon's metricReceived applies, shared by every receiver. */
export function accept(name: string, value: number, ts: number, batch: MetricBatch, nowSeconds: number): LineVerdict {
  if (ts !== ts || ts === Infinity || ts === -Infinity) return LineVerdict.BadTimestamp;
  if (value !== value) return LineVerdict.NanValue;
  batch.push(name, value, ts > -2 && ts <= -1 ? nowSeconds : ts);
  return LineVerdict.Ok;
}
