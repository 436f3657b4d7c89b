/**
 * On-disk format of a destination's spool directory. Every integer and float
 * is little-endian.
 *
 * Segment files, `<16-digit zero-padded sequence>.seg` (`0000000000000001.seg`),
 * are append-only logs of records, written in sequence order (segment.ts):
 *
 *   header, 56 bytes:
 *     0  4   magic "CFSG"
 *     4  u32 format version (1)
 *     8  f64 createdAtMs
 *     16 seal, 40 bytes, all zero until the segment is closed:
 *        u32 crc32(bytes 20..56) | u32 records | f64 datapoints |
 *        f64 oldestAppendedAtMs | f64 newestAppendedAtMs | f64 endOffset
 *   records, back to back:
 *     u32 payloadLength | u32 crc32(payload) | payload
 *     payload = f64 appendedAtMs | u32 count |
 *               count x (u16 nameByteLength | name UTF-8 | f64 timestamp | f64 value)
 *
 * The seal is the only in-place write: it lets open() learn a closed
 * segment's counts and ages from 56 bytes instead of reading the whole file.
 * It carries its own CRC, so a seal torn by a crash reads as "not sealed" and
 * the segment is scanned instead; the magic and version are never rewritten.
 *
 * A payload is at most MAX_PAYLOAD_BYTES: a corrupt length field must not make
 * the reader allocate gigabytes, and anything longer is treated as damage.
 *
 * `cursor` (cursor.ts) holds the first unacknowledged record's position;
 * `lock` (lock.ts) the owning process id. Corrupt segment files are kept as
 * `<name>.seg.bad` for an operator and are no longer part of the spool.
 */
import zlib from 'node:zlib';
import { utf8Slice, utf8Write } from '../../common/bytes';
import type { DatapointView } from '../../model/datapoint-view';

/** payloadLength + crc32. */
export const FRAME_HEADER_BYTES = 8;
/** appendedAtMs + count. */
export const PAYLOAD_HEAD_BYTES = 12;
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
/** What a u16 length can say; longer names cannot be spooled. */
export const MAX_NAME_BYTES = 0xffff;
/** u16 name length + f64 timestamp + f64 value. */
const DATAPOINT_FIXED_BYTES = 18;
/** Encode buffers grown past this by a huge batch are let go afterwards. */
const RETAINED_BUFFER_BYTES = 1024 * 1024;

/** One record handed out by the spool; reads as a DatapointView, so encoders take it as is. */
export interface SpoolRecord extends DatapointView {
  /** Opaque, ordered position; pass back to ack(). */
  readonly id: number;
  readonly appendedAtMs: number;
  readonly names: string[];
  readonly timestamps: Float64Array;
  readonly values: Float64Array;
}

export class SpooledRecord implements SpoolRecord {
  constructor(
    readonly id: number,
    readonly appendedAtMs: number,
    readonly names: string[],
    readonly timestamps: Float64Array,
    readonly values: Float64Array,
  ) {}

  get length(): number {
    return this.names.length;
  }

  nameAt(k: number): string {
    return this.names[k];
  }

  timestampAt(k: number): number {
    return this.timestamps[k];
  }

  valueAt(k: number): number {
    return this.values[k];
  }
}

export interface DecodedPayload {
  appendedAtMs: number;
  names: string[];
  timestamps: Float64Array;
  values: Float64Array;
}

/** A length that could be a record's; anything else means the bytes are not a frame. */
export function plausiblePayloadLength(n: number): boolean {
  return n >= PAYLOAD_HEAD_BYTES && n <= MAX_PAYLOAD_BYTES;
}

/**
 * Decodes a payload whose CRC already matched. Undefined when its structure
 * does not add up (a writer bug, or a CRC collision on damaged bytes), so the
 * caller treats it as one more corrupt record instead of trusting it.
 */
export function decodePayload(buf: Buffer, start: number, length: number): DecodedPayload | undefined {
  const end = start + length;
  if (length < PAYLOAD_HEAD_BYTES) return undefined;
  const appendedAtMs = buf.readDoubleLE(start);
  const count = buf.readUInt32LE(start + 8);
  if (count * DATAPOINT_FIXED_BYTES > length - PAYLOAD_HEAD_BYTES) return undefined;
  const names = new Array<string>(count);
  const timestamps = new Float64Array(count);
  const values = new Float64Array(count);
  let p = start + PAYLOAD_HEAD_BYTES;
  for (let k = 0; k < count; k++) {
    if (p + DATAPOINT_FIXED_BYTES > end) return undefined;
    const nameBytes = buf.readUInt16LE(p);
    p += 2;
    if (p + nameBytes + 16 > end) return undefined;
    names[k] = utf8Slice(buf, p, p + nameBytes);
    p += nameBytes;
    timestamps[k] = buf.readDoubleLE(p);
    values[k] = buf.readDoubleLE(p + 8);
    p += 16;
  }
  return p === end ? { appendedAtMs, names, timestamps, values } : undefined;
}

/** A payload's append time and datapoint count, read without decoding the names. */
export function payloadHead(buf: Buffer, start: number): { appendedAtMs: number; count: number } {
  return { appendedAtMs: buf.readDoubleLE(start), count: buf.readUInt32LE(start + 8) };
}

/**
 * Encodes datapoints into complete frames in one reusable buffer, so a
 * record reaches the file with one write. A batch whose payload would pass
 * MAX_PAYLOAD_BYTES becomes several frames (only batches of hundreds of
 * thousands of datapoints or of very long names get there).
 */
export class RecordEncoder {
  private buf = Buffer.allocUnsafe(64 * 1024);
  /** Frame k spans [frameStarts[k], frameStarts[k + 1]) of `bytes`. */
  readonly frameStarts: number[] = [];
  readonly frameCounts: number[] = [];
  /** Datapoints left out of the last encode: names longer than MAX_NAME_BYTES. */
  skipped = 0;
  private end = 0;

  constructor(private readonly maxPayloadBytes = MAX_PAYLOAD_BYTES) {}

  /** The encoded frames of the last encode(); valid until the next. */
  get bytes(): Buffer {
    return this.buf;
  }

  get frames(): number {
    return this.frameCounts.length;
  }

  frameLength(k: number): number {
    return (k + 1 < this.frameStarts.length ? this.frameStarts[k + 1] : this.end) - this.frameStarts[k];
  }

  encode(view: DatapointView, from: number, count: number, appendedAtMs: number): void {
    if (this.buf.length > RETAINED_BUFFER_BYTES) this.buf = Buffer.allocUnsafe(64 * 1024);
    this.frameStarts.length = 0;
    this.frameCounts.length = 0;
    this.skipped = 0;
    let frameStart = -1;
    let inFrame = 0;
    let p = 0;
    for (let k = from; k < from + count; k++) {
      const name = view.nameAt(k);
      // UTF-16 code units take at most 3 UTF-8 bytes, so only long names need measuring
      const worst = name.length * 3;
      if (worst > MAX_NAME_BYTES && Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
        this.skipped++;
        continue;
      }
      const need = DATAPOINT_FIXED_BYTES + Math.min(worst, MAX_NAME_BYTES);
      if (frameStart >= 0 && p + need - frameStart - FRAME_HEADER_BYTES > this.maxPayloadBytes) {
        this.closeFrame(frameStart, p, inFrame);
        frameStart = -1;
      }
      if (frameStart < 0) {
        frameStart = p;
        inFrame = 0;
        this.ensure(p + FRAME_HEADER_BYTES + PAYLOAD_HEAD_BYTES);
        this.buf.writeDoubleLE(appendedAtMs, p + FRAME_HEADER_BYTES);
        p += FRAME_HEADER_BYTES + PAYLOAD_HEAD_BYTES;
      }
      this.ensure(p + need);
      const nameBytes = utf8Write(this.buf, name, p + 2);
      this.buf.writeUInt16LE(nameBytes, p);
      p += 2 + nameBytes;
      this.buf.writeDoubleLE(view.timestampAt(k), p);
      this.buf.writeDoubleLE(view.valueAt(k), p + 8);
      p += 16;
      inFrame++;
    }
    if (frameStart >= 0) this.closeFrame(frameStart, p, inFrame);
    this.end = p;
  }

  private closeFrame(start: number, end: number, count: number): void {
    const payloadStart = start + FRAME_HEADER_BYTES;
    this.buf.writeUInt32LE(count, payloadStart + 8);
    this.buf.writeUInt32LE(end - payloadStart, start);
    this.buf.writeUInt32LE(zlib.crc32(this.buf.subarray(payloadStart, end)), start + 4);
    this.frameStarts.push(start);
    this.frameCounts.push(count);
  }

  private ensure(n: number): void {
    if (n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.buf.length);
    this.buf = grown;
  }
}
