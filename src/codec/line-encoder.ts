import type { ByteWriter } from './byte-writer';
import type { Encoder } from './encoder';
import type { DatapointView } from '../model/datapoint-view';
import { NamePrefix } from './name-prefix';

/**
 * Carbon's line-protocol value format, ("%.10f" % v).rstrip('0').rstrip('.'):
 * never exponent notation, so 1e23 -> 99999999999999991611392 and 1e-12 -> 0.
 */
export function formatValue(v: number): string {
  if (Number.isInteger(v)) {
    if (v === 0) return Object.is(v, -0) ? '-0' : '0';
    // String() shortens integers beyond 2^53 (18446744073709552000); carbon prints the exact digits of the double
    return Math.abs(v) <= Number.MAX_SAFE_INTEGER ? String(v) : BigInt(v).toString();
  }
  if (v !== v) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  const s = v.toFixed(10);
  let end = s.length;
  while (s.charCodeAt(end - 1) === 0x30) end--;
  if (s.charCodeAt(end - 1) === 0x2e) end--;
  return s.slice(0, end);
}

/** Carbon's "%d" for timestamps: truncation toward zero. */
export function formatTimestamp(ts: number): string {
  const t = Math.trunc(ts);
  if (t === 0) return '0';
  return Math.abs(t) <= Number.MAX_SAFE_INTEGER ? String(t) : BigInt(t).toString();
}

/**
 * Carbon's line receiver (Twisted's LineOnlyReceiver, MAX_LENGTH 16384) drops
 * the whole connection on a longer line; ours stay within this, newline included.
 */
export const DEFAULT_MAX_LINE_BYTES = 16_384;

/**
 * Plaintext output `name value timestamp\n`, one message per call. We end lines
 * with LF (what every Carbon receiver reads); carbon-relay writes CRLF. A
 * datapoint whose line would exceed `maxLineBytes` stops the message; at the
 * head of the queue, encode() returns 0 (the destination drops and counts it).
 */
export class LineEncoder implements Encoder {
  /** The last timestamp written and its ` 1700000000\n`: a queue holds runs of the same second. */
  private lastTimestamp: number | undefined = undefined;
  private lastTimestampText = '';

  constructor(
    private readonly prefix = NamePrefix.NONE,
    private readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES,
  ) {}

  encode(queue: DatapointView, max: number, out: ByteWriter): number {
    const n = Math.min(max, queue.length);
    for (let k = 0; k < n; k++) {
      const lineStart = out.pos;
      const name = queue.nameAt(k);
      if (this.prefix.appliesTo(name)) out.utf8(this.prefix.text);
      out.utf8(name);
      const ts = queue.timestampAt(k);
      if (ts !== this.lastTimestamp) {
        this.lastTimestamp = ts;
        this.lastTimestampText = ' ' + formatTimestamp(ts) + '\n';
      }
      out.ascii(' ');
      out.ascii(formatValue(queue.valueAt(k)));
      out.ascii(this.lastTimestampText);
      if (out.pos - lineStart > this.maxLineBytes) {
        out.truncate(lineStart);
        return k;
      }
    }
    return n;
  }
}
