import type { ByteWriter } from './byte-writer';
import type { DatapointView } from '../model/datapoint-view';
import type { Encoder } from './encoder';
import { formatTimestamp, formatValue } from './line-encoder';
import type { NamePrefix } from './name-prefix';
import { PickleEncoder } from './pickle-encoder';

/**
 * How a Kafka destination's encoder hands its records to the Kafka transport:
 * one write() carries the records built from a window of queued datapoints,
 * each as
 *
 *   u32 partition | u32 datapoints | u32 key length | key | u32 value length | value
 *
 * (big-endian). The transport produces each record to its partition and
 * reports the write flushed once every record is acknowledged. Both sides are
 * ours; nothing else reads this layout.
 */
export interface KafkaRecord {
  readonly partition: number;
  /** Datapoints in the value (counted as rejected if the broker refuses the record). */
  readonly datapoints: number;
  readonly key: Buffer;
  readonly value: Buffer;
}

/** The records of one write, in order; key and value are views into `chunk`. */
export function readKafkaRecords(chunk: Buffer): KafkaRecord[] {
  const out: KafkaRecord[] = [];
  let p = 0;
  while (p < chunk.length) {
    const partition = chunk.readUInt32BE(p);
    const datapoints = chunk.readUInt32BE(p + 4);
    const keyLength = chunk.readUInt32BE(p + 8);
    const key = chunk.subarray(p + 12, p + 12 + keyLength);
    p += 12 + keyLength;
    const valueLength = chunk.readUInt32BE(p);
    const value = chunk.subarray(p + 4, p + 4 + valueLength);
    p += 4 + valueLength;
    out.push({ partition, datapoints, key, value });
  }
  return out;
}

/**
 * Chooses a record's partition from its key bytes (`key[start, end)`, the
 * metric name as sent) among `partitions`.
 */
export type KafkaPartitioner = (key: Uint8Array, start: number, end: number, partitions: number) => number;

export interface KafkaRecordEncoderOptions {
  /** `line`: newline-terminated plaintext lines (go-carbon's Kafka receiver); `pickle`: one carbon pickle payload, without the 4-byte length header (message boundaries frame it). */
  format: 'line' | 'pickle';
  /** Prefixed to the names (Hosted Graphite's API key, see NamePrefix), and part of the key. */
  prefix: NamePrefix;
  /** Largest record value. */
  maxMessageBytes: number;
  /** Largest plaintext line, newline included (line format). */
  maxLineBytes: number;
  partitioner: KafkaPartitioner;
  /** The topic's partition count as last read from the cluster's metadata. */
  partitions: () => number;
}

/** The record header: partition, datapoints, key length. */
const HEADER = 12;
/** A pickle payload of one datapoint holds its key plus less than this (PickleEncoder: 33 bytes, with its frame header). */
const PICKLE_ONE_DATAPOINT = 64;

/**
 * Turns a window of queued datapoints into Kafka records: each datapoint's
 * partition comes from its name as sent (so a series keeps its partition and
 * its order), the datapoints of one partition are batched into records of at
 * most maxMessageBytes, and a record's key is the name of its first
 * datapoint. Order within a partition is queue order. A datapoint too large
 * for a record of its own ends the window; at the queue head, encode()
 * returns 0 and the destination drops and counts it.
 */
export class KafkaRecordEncoder implements Encoder {
  /** Each window datapoint's key (prefix + name) and, for lines, its whole line, back to back. */
  private scratch: Buffer = Buffer.allocUnsafe(64 * 1024);
  private starts = new Int32Array(512);
  private keyEnds = new Int32Array(512);
  private ends = new Int32Array(512);
  private partitionOf = new Int32Array(512);
  /** Per partition: the first window index in it, then each index's successor in the same partition (-1: none). */
  private first = new Int32Array(0);
  private last = new Int32Array(0);
  private next = new Int32Array(512);
  private readonly pickle: PickleEncoder;
  private readonly view = new IndexedView();
  private readonly prefixBytes: Buffer;

  constructor(private readonly opts: KafkaRecordEncoderOptions) {
    // a pickle payload plus the 4-byte frame header PickleEncoder writes (stripped below)
    this.pickle = new PickleEncoder(opts.prefix, opts.maxMessageBytes + 4);
    this.prefixBytes = opts.prefix.bytes;
  }

  encode(queue: DatapointView, max: number, out: ByteWriter): number {
    const partitions = this.opts.partitions();
    if (partitions <= 0) return 0;
    const n = this.measure(queue, Math.min(max, queue.length), partitions);
    if (n === 0) return 0;
    this.group(n, partitions);
    for (let p = 0; p < partitions; p++) {
      if (this.first[p] === -1) continue;
      if (this.opts.format === 'line') this.lineRecords(p, out);
      else this.pickleRecords(queue, p, out);
    }
    return n;
  }

  /** Writes each datapoint's key (and line) to scratch and picks its partition; returns how many fit. */
  private measure(queue: DatapointView, n: number, partitions: number): number {
    this.reserve(n);
    const { maxMessageBytes, maxLineBytes, format } = this.opts;
    let pos = 0;
    for (let k = 0; k < n; k++) {
      const name = queue.nameAt(k);
      const tail = format === 'line' ? ' ' + formatValue(queue.valueAt(k)) + ' ' + formatTimestamp(queue.timestampAt(k)) + '\n' : '';
      pos = this.ensureScratch(pos, this.prefixBytes.length + name.length * 3 + tail.length);
      const start = pos;
      if (this.opts.prefix.appliesTo(name)) pos += this.prefixBytes.copy(this.scratch, pos);
      pos += this.scratch.write(name, pos, 'utf8');
      const keyEnd = pos;
      pos += this.scratch.write(tail, pos, 'latin1');
      const size = format === 'line' ? pos - start : keyEnd - start + PICKLE_ONE_DATAPOINT;
      if ((format === 'line' && size > maxLineBytes) || size > maxMessageBytes) return k;
      this.starts[k] = start;
      this.keyEnds[k] = keyEnd;
      this.ends[k] = pos;
      this.partitionOf[k] = this.opts.partitioner(this.scratch, start, keyEnd, partitions);
    }
    return n;
  }

  private group(n: number, partitions: number): void {
    if (this.first.length !== partitions) {
      this.first = new Int32Array(partitions);
      this.last = new Int32Array(partitions);
    }
    this.first.fill(-1);
    for (let k = 0; k < n; k++) {
      const p = this.partitionOf[k]!;
      this.next[k] = -1;
      if (this.first[p] === -1) this.first[p] = k;
      else this.next[this.last[p]!] = k;
      this.last[p] = k;
    }
  }

  /** The partition's lines, cut into records of at most maxMessageBytes. */
  private lineRecords(partition: number, out: ByteWriter): void {
    const max = this.opts.maxMessageBytes;
    let k = this.first[partition]!;
    while (k !== -1) {
      const at = this.recordHeader(partition, k, out);
      let count = 0;
      let bytes = 0;
      while (k !== -1 && (count === 0 || bytes + this.ends[k]! - this.starts[k]! <= max)) {
        const len = this.ends[k]! - this.starts[k]!;
        out.ensure(len);
        this.scratch.copy(out.buf, out.pos, this.starts[k]!, this.ends[k]!);
        out.pos += len;
        bytes += len;
        count++;
        k = this.next[k]!;
      }
      this.recordFooter(at, count, out);
    }
  }

  /** The partition's datapoints as pickle payloads of at most maxMessageBytes. */
  private pickleRecords(queue: DatapointView, partition: number, out: ByteWriter): void {
    const view = this.view;
    view.reset(queue);
    for (let k = this.first[partition]!; k !== -1; k = this.next[k]!) view.add(k);
    while (view.length > 0) {
      const first = view.indexAt(0);
      const at = this.recordHeader(partition, first, out);
      const frameAt = out.pos;
      const count = this.pickle.encode(view, view.length, out);
      // unreachable: measure() lets through only datapoints that fit a payload of their own
      if (count === 0) throw new Error(`pickle encoder refused a datapoint measure() accepted (${view.nameAt(0).length} chars)`);
      // the record boundary frames the payload: drop PickleEncoder's 4-byte length header
      out.buf.copy(out.buf, frameAt, frameAt + 4, out.pos);
      out.pos -= 4;
      view.shift(count);
      this.recordFooter(at, count, out);
    }
  }

  /** Partition, a datapoints placeholder, the key of window datapoint k and a value length placeholder; returns where the record starts. */
  private recordHeader(partition: number, k: number, out: ByteWriter): number {
    const keyLength = this.keyEnds[k]! - this.starts[k]!;
    out.ensure(HEADER + keyLength + 4);
    const at = out.pos;
    out.buf.writeUInt32BE(partition, at);
    out.buf.writeUInt32BE(keyLength, at + 8);
    this.scratch.copy(out.buf, at + HEADER, this.starts[k]!, this.keyEnds[k]!);
    out.pos += HEADER + keyLength + 4;
    return at;
  }

  /** Fills in the datapoints and value length of the record at `at`, whose value ends at out.pos. */
  private recordFooter(at: number, datapoints: number, out: ByteWriter): void {
    const valueLengthAt = at + HEADER + out.buf.readUInt32BE(at + 8);
    out.buf.writeUInt32BE(datapoints, at + 4);
    out.buf.writeUInt32BE(out.pos - valueLengthAt - 4, valueLengthAt);
  }

  private reserve(n: number): void {
    if (this.starts.length >= n) return;
    this.starts = new Int32Array(n);
    this.keyEnds = new Int32Array(n);
    this.ends = new Int32Array(n);
    this.partitionOf = new Int32Array(n);
    this.next = new Int32Array(n);
  }

  private ensureScratch(pos: number, extra: number): number {
    if (pos + extra > this.scratch.length) {
      let size = this.scratch.length * 2;
      while (size < pos + extra) size *= 2;
      const bigger = Buffer.allocUnsafe(size);
      this.scratch.copy(bigger, 0, 0, pos);
      this.scratch = bigger;
    }
    return pos;
  }
}

/** Selected datapoints of a queue, in order: what one partition gets of a window. */
class IndexedView implements DatapointView {
  private base: DatapointView | null = null;
  private indices: number[] = [];
  private head = 0;

  reset(base: DatapointView): void {
    this.base = base;
    this.indices.length = 0;
    this.head = 0;
  }

  add(k: number): void {
    this.indices.push(k);
  }

  shift(n: number): void {
    this.head += n;
  }

  indexAt(k: number): number {
    return this.indices[this.head + k]!;
  }

  get length(): number {
    return this.indices.length - this.head;
  }

  nameAt(k: number): string {
    return (this.base as DatapointView).nameAt(this.indexAt(k));
  }

  timestampAt(k: number): number {
    return (this.base as DatapointView).timestampAt(this.indexAt(k));
  }

  valueAt(k: number): number {
    return (this.base as DatapointView).valueAt(this.indexAt(k));
  }
}
