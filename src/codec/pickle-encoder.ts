import type { ByteWriter } from './byte-writer';
import type { Encoder } from './encoder';
import type { DatapointView } from '../model/datapoint-view';
import { NamePrefix } from './name-prefix';

const PROTO = 0x80, EMPTY_LIST = 0x5d, MARK = 0x28, APPENDS = 0x65, STOP = 0x2e;
const BINUNICODE = 0x58, BINFLOAT = 0x47, TUPLE2 = 0x86;
/** Worst case per datapoint beyond the name: X + len(4) + G + 8 + G + 8 + 2 tuples. */
const FIXED_PER_DATAPOINT = 1 + 4 + 9 + 9 + 2;

/** Carbon's pickle receiver drops the connection on a frame over 2^20 bytes (MAX_LENGTH); stay well under it. */
export const DEFAULT_MAX_FRAME_BYTES = 1_000_000;

/**
 * Carbon's pickle frame: a 4-byte big-endian length, then what Python's
 * pickle.dumps([(name, (ts, value)), ...], protocol=2) means, as a list of
 * tuples with BINUNICODE names and BINFLOAT numbers (carbon's relay sends
 * floats too). No memo opcodes: unpicklers do not need them (pickle-sample.md
 * example 6). An optional prefix (Hosted Graphite API key) goes before the names (see NamePrefix).
 * A frame holds at most `maxFrameBytes` bytes including its length header; a
 * datapoint that does not fit in a frame of its own is left at the queue head
 * and encode() returns 0 (the destination drops and counts it).
 */
export class PickleEncoder implements Encoder {
  private readonly prefix: Buffer;

  constructor(
    private readonly namePrefix = NamePrefix.NONE,
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  ) {
    this.prefix = namePrefix.bytes;
  }

  encode(queue: DatapointView, max: number, out: ByteWriter): number {
    const n = Math.min(max, queue.length);
    if (n === 0) return 0;
    const frameStart = out.pos;
    out.ensure(4 + 5 + n * (FIXED_PER_DATAPOINT + this.prefix.length));
    out.pos += 4;
    const b0 = out.pos;
    out.buf[b0] = PROTO;
    out.buf[b0 + 1] = 2;
    out.buf[b0 + 2] = EMPTY_LIST;
    out.buf[b0 + 3] = MARK;
    out.pos += 4;
    // the last byte a frame may use, leaving room for APPENDS and STOP
    const limit = frameStart + this.maxFrameBytes - 2;
    let k = 0;
    for (; k < n; k++) {
      const datapointStart = out.pos;
      const name = queue.nameAt(k);
      out.ensure(FIXED_PER_DATAPOINT + this.prefix.length + name.length * 3);
      const buf = out.buf;
      buf[out.pos] = BINUNICODE;
      const lenAt = out.pos + 1;
      out.pos += 5;
      let nameBytes = 0;
      if (this.namePrefix.appliesTo(name)) {
        nameBytes = this.prefix.copy(buf, out.pos);
        out.pos += nameBytes;
      }
      nameBytes += out.utf8(name);
      buf.writeUInt32LE(nameBytes, lenAt);
      let p = out.pos;
      buf[p] = BINFLOAT;
      buf.writeDoubleBE(queue.timestampAt(k), p + 1);
      buf[p + 9] = BINFLOAT;
      buf.writeDoubleBE(queue.valueAt(k), p + 10);
      buf[p + 18] = TUPLE2;
      buf[p + 19] = TUPLE2;
      p += 20;
      out.pos = p;
      if (p > limit) {
        out.truncate(k === 0 ? frameStart : datapointStart);
        if (k === 0) return 0;
        break;
      }
    }
    out.ensure(2);
    out.buf[out.pos++] = APPENDS;
    out.buf[out.pos++] = STOP;
    out.buf.writeUInt32BE(out.pos - frameStart - 4, frameStart);
    return k;
  }
}
