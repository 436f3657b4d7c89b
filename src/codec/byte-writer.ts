import { latin1Write, utf8Write } from '../common/bytes';

/** A reusable, growing output buffer that encoders append to. */
export class ByteWriter {
  buf: Buffer;
  pos = 0;
  private readonly initialSize: number;

  constructor(initialSize = 64 * 1024) {
    this.initialSize = initialSize;
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  bytes(src: Buffer): void {
    this.ensure(src.length);
    src.copy(this.buf, this.pos);
    this.pos += src.length;
  }

  /** Writes s as UTF-8 and returns its byte length. */
  utf8(s: string): number {
    this.ensure(s.length * 3);
    const n = utf8Write(this.buf, s, this.pos);
    this.pos += n;
    return n;
  }

  /** Writes s, all ASCII (the caller knows: numbers, separators), and returns its length. Short ones by hand: cheaper than a call into C++. */
  ascii(s: string): number {
    const n = s.length;
    this.ensure(n);
    const buf = this.buf;
    const at = this.pos;
    if (n <= 24) for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i);
    else latin1Write(buf, s, at);
    this.pos = at + n;
    return n;
  }

  /** Forget what was written after `pos` (an encoder backing out of a datapoint that does not fit). */
  truncate(pos: number): void {
    this.pos = pos;
    if (pos === 0 && this.buf.length > this.initialSize * 2) this.buf = Buffer.allocUnsafe(this.initialSize);
  }

  /**
   * A copy of what was written since the last reset; the writer is reused
   * afterwards. One oversized message must not pin a large buffer for the
   * life of the process, so a grown buffer is given back here.
   */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    if (this.buf.length > this.initialSize * 2) this.buf = Buffer.allocUnsafe(this.initialSize);
    return out;
  }
}
