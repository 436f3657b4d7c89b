/**
 * Segment files: naming, the header and its seal, and a buffered frame reader
 * (the format is documented in record.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { readAt } from './files';
import { FRAME_HEADER_BYTES, payloadHead, plausiblePayloadLength } from './record';

export const HEADER_BYTES = 56;
const MAGIC = Buffer.from('CFSG', 'latin1');
const VERSION = 1;
const SEAL_OFFSET = 16;
const SEAL_BYTES = HEADER_BYTES - SEAL_OFFSET;
const SEQ_DIGITS = 16;
const SEGMENT_NAME = /^(\d{16})\.seg$/;
const BAD_NAME = /^(\d{16})\.seg\.bad$/;

export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(SEQ_DIGITS, '0')}.seg`;
}

/** The sequence of a live segment file name, or undefined. */
export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** The sequence of a quarantined segment: never reused, so a `.bad` file is never overwritten. */
export function parseBadSegmentName(name: string): number | undefined {
  const m = BAD_NAME.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** What the spool knows about one segment without reading its records. */
export interface SegmentMeta {
  readonly seq: number;
  /** End of the last whole record (the file size, once recovered). */
  bytes: number;
  records: number;
  datapoints: number;
  /** NaN while the segment holds no record. */
  oldestAt: number;
  newestAt: number;
  sealed: boolean;
  /** Datapoints of this segment acknowledged so far (only the cursor's segment has any). */
  acked: number;
}

export function newSegmentMeta(seq: number): SegmentMeta {
  return { seq, bytes: HEADER_BYTES, records: 0, datapoints: 0, oldestAt: NaN, newestAt: NaN, sealed: false, acked: 0 };
}

export function encodeHeader(createdAtMs: number): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(VERSION, 4);
  b.writeDoubleLE(createdAtMs, 8);
  return b;
}

export interface Seal {
  records: number;
  datapoints: number;
  oldestAt: number;
  newestAt: number;
  end: number;
}

export type HeaderRead = { ok: true; seal: Seal | undefined } | { ok: false; reason: string };

/** Reads and checks a header; `seal` is undefined for a segment that was never closed (or whose seal is torn). */
export function readHeader(fd: number): HeaderRead {
  const b = Buffer.alloc(HEADER_BYTES);
  const got = readAt(fd, b, 0, HEADER_BYTES, 0);
  if (got < HEADER_BYTES) return { ok: false, reason: `header is ${got} of ${HEADER_BYTES} bytes` };
  if (!b.subarray(0, 4).equals(MAGIC)) return { ok: false, reason: 'not a spool segment (bad magic)' };
  const version = b.readUInt32LE(4);
  if (version !== VERSION) return { ok: false, reason: `unknown segment format version ${version}` };
  return { ok: true, seal: decodeSeal(b) };
}

function decodeSeal(b: Buffer): Seal | undefined {
  if (b.readUInt32LE(SEAL_OFFSET) !== zlib.crc32(b.subarray(SEAL_OFFSET + 4, HEADER_BYTES))) return undefined;
  const seal: Seal = {
    records: b.readUInt32LE(SEAL_OFFSET + 4),
    datapoints: b.readDoubleLE(SEAL_OFFSET + 8),
    oldestAt: b.readDoubleLE(SEAL_OFFSET + 16),
    newestAt: b.readDoubleLE(SEAL_OFFSET + 24),
    end: b.readDoubleLE(SEAL_OFFSET + 32),
  };
  return Number.isSafeInteger(seal.datapoints) && Number.isSafeInteger(seal.end) && seal.end >= HEADER_BYTES ? seal : undefined;
}

/** Writes the seal in place; the caller fsyncs. */
export function writeSeal(fd: number, meta: SegmentMeta): void {
  const b = Buffer.alloc(SEAL_BYTES);
  b.writeUInt32LE(meta.records, 4);
  b.writeDoubleLE(meta.datapoints, 8);
  b.writeDoubleLE(meta.oldestAt, 16);
  b.writeDoubleLE(meta.newestAt, 24);
  b.writeDoubleLE(meta.bytes, 32);
  b.writeUInt32LE(zlib.crc32(b.subarray(4)), 0);
  fs.writeSync(fd, b, 0, SEAL_BYTES, SEAL_OFFSET);
}

/**
 * What lies at an offset: `end` (nothing more before the limit), `ok` (a whole
 * record with a matching CRC), `crc` (a plausible length but a bad CRC: the
 * next record starts after it), `torn` (a frame cut short by the limit) or
 * `implausible` (a length no record can have: nothing after it can be framed).
 */
export type FrameStatus = 'end' | 'ok' | 'crc' | 'torn' | 'implausible';

const READ_AHEAD_BYTES = 256 * 1024;

/**
 * Reads frames of one segment at a time through one fd and a read-ahead
 * buffer, so small records cost no syscall each. The buffer grows for a large
 * frame and shrinks back at the next refill, so one huge record does not pin
 * its size. After `ok`, the payload is `buf[payloadStart, payloadStart + payloadLength)`
 * until the next call; after `ok` and `crc`, `next` is the following frame's offset.
 */
export class FrameReader {
  buf = Buffer.allocUnsafe(READ_AHEAD_BYTES);
  payloadStart = 0;
  payloadLength = 0;
  next = 0;
  private fd = -1;
  private seq = -1;
  private bufPos = 0;
  private bufLen = 0;

  constructor(private readonly dir: string) {}

  read(seq: number, offset: number, limit: number): FrameStatus {
    if (offset >= limit) return 'end';
    this.use(seq);
    if (!this.ensure(offset, FRAME_HEADER_BYTES, limit)) return 'torn';
    const at = offset - this.bufPos;
    const length = this.buf.readUInt32LE(at);
    if (!plausiblePayloadLength(length)) return 'implausible';
    const crc = this.buf.readUInt32LE(at + 4);
    if (!this.ensure(offset, FRAME_HEADER_BYTES + length, limit)) return 'torn';
    this.payloadStart = offset - this.bufPos + FRAME_HEADER_BYTES;
    this.payloadLength = length;
    this.next = offset + FRAME_HEADER_BYTES + length;
    return zlib.crc32(this.buf.subarray(this.payloadStart, this.payloadStart + length)) === crc ? 'ok' : 'crc';
  }

  /** A frame's append time, reading only its first bytes; undefined when they are not a frame. */
  peekAppendedAt(seq: number, offset: number, limit: number): number | undefined {
    if (offset >= limit) return undefined;
    this.use(seq);
    if (!this.ensure(offset, FRAME_HEADER_BYTES + 8, limit)) return undefined;
    if (!plausiblePayloadLength(this.buf.readUInt32LE(offset - this.bufPos))) return undefined;
    const t = payloadHead(this.buf, offset - this.bufPos + FRAME_HEADER_BYTES).appendedAtMs;
    return Number.isFinite(t) ? t : undefined;
  }

  /** Let go of a segment's fd (it is being deleted, truncated or renamed). */
  forget(seq: number): void {
    if (this.seq === seq) this.close();
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.seq = -1;
    this.bufLen = 0;
  }

  private use(seq: number): void {
    if (this.seq === seq) return;
    this.close();
    this.fd = fs.openSync(path.join(this.dir, segmentFileName(seq)), 'r');
    this.seq = seq;
  }

  /** Makes [offset, offset + n) available in buf; false when the limit or the file ends first. */
  private ensure(offset: number, n: number, limit: number): boolean {
    if (offset + n > limit) return false;
    if (offset >= this.bufPos && offset + n <= this.bufPos + this.bufLen) return true;
    const want = Math.max(READ_AHEAD_BYTES, n);
    if (this.buf.length < want || this.buf.length > Math.max(want, 4 * READ_AHEAD_BYTES)) this.buf = Buffer.allocUnsafe(want);
    this.bufPos = offset;
    this.bufLen = readAt(this.fd, this.buf, 0, Math.min(want, limit - offset), offset);
    return this.bufLen >= n;
  }
}

export interface ScanResult {
  /** End of the last whole frame (where a torn or unframeable tail begins). */
  end: number;
  /** How the scan stopped: `end` (clean), `torn` or `implausible`. */
  stop: 'end' | 'torn' | 'implausible';
  records: number;
  datapoints: number;
  oldestAt: number;
  newestAt: number;
}

/**
 * Walks every frame of a segment that has no seal (the one being written when
 * the process stopped), to learn its counts and where its whole records end.
 * Records with a bad CRC are stepped over and left out of the counts; the
 * reader counts them when it meets them.
 */
export function scanSegment(reader: FrameReader, seq: number, size: number): ScanResult {
  const r: ScanResult = { end: HEADER_BYTES, stop: 'end', records: 0, datapoints: 0, oldestAt: NaN, newestAt: NaN };
  for (;;) {
    const status = reader.read(seq, r.end, size);
    if (status === 'end' || status === 'torn' || status === 'implausible') {
      r.stop = status;
      return r;
    }
    if (status === 'ok') {
      const { appendedAtMs, count } = payloadHead(reader.buf, reader.payloadStart);
      r.records++;
      r.datapoints += count;
      if (!(r.oldestAt <= appendedAtMs)) r.oldestAt = appendedAtMs;
      if (!(r.newestAt >= appendedAtMs)) r.newestAt = appendedAtMs;
    }
    r.end = reader.next;
  }
}
