import { decodeUtf8Strict, latin1Slice } from '../common/bytes';
import { parseAsciiFloat, parsePyFloat } from '../common/python/float';
import { pySplit } from '../common/python/str';
import type { MetricBatch } from '../model/metric';

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
 * so a receiver can count such clients. Pure: bytes in, datapoint appended to the batch.
 */
export function decodeLine(buf: Buffer, start: number, end: number, batch: MetricBatch, nowSeconds: number, timestampOptional = false): LineVerdict {
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
  if (field !== 3) return field === 2 && timestampOptional ? withoutTimestamp(latin1Slice(buf, s0, e0), parseAsciiFloat(buf, s1, e1), batch, nowSeconds) : LineVerdict.Malformed;
  const value = parseAsciiFloat(buf, s1, e1);
  const ts = parseAsciiFloat(buf, s2, e2);
  if (value === undefined || ts === undefined) return LineVerdict.Malformed;
  return accept(latin1Slice(buf, s0, e0), value, ts, batch, nowSeconds);
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
