/** Receives the lines a LineFramer cuts out of a byte stream. */
export interface LineHandler {
  /** One line, without its '\n'. Valid only during the call. */
  onLine(buf: Buffer, start: number, end: number): void;
  /** A line longer than the limit was discarded; `head` is its first bytes, for the log. */
  onOversizedLine(head: Buffer): void;
}

/**
 * Splits a TCP byte stream into '\n'-terminated lines of at most maxLength bytes
 * (not counting the '\n'; carbon's LineOnlyReceiver.MAX_LENGTH semantics).
 * An oversized line is skipped up to its newline instead of closing the
 * connection, and never buffered past the limit.
 */
export class LineFramer {
  private pending: Buffer | null = null;
  private discarding = false;

  constructor(private readonly maxLength: number, private readonly handler: LineHandler) {}

  push(chunk: Buffer): void {
    let pos = 0;
    if (this.discarding || this.pending !== null) {
      const nl = chunk.indexOf(0x0a);
      if (this.discarding) {
        if (nl < 0) return;
        this.discarding = false;
      } else {
        const pending = this.pending as Buffer;
        if (nl < 0) {
          this.appendPending(pending, chunk);
          return;
        }
        this.pending = null;
        if (pending.length + nl > this.maxLength) {
          this.handler.onOversizedLine(pending.subarray(0, 200));
        } else {
          const line = Buffer.concat([pending, chunk.subarray(0, nl)]);
          this.handler.onLine(line, 0, line.length);
        }
      }
      pos = nl + 1;
    }
    const len = chunk.length;
    while (pos < len) {
      const nl = chunk.indexOf(0x0a, pos);
      if (nl < 0) {
        this.appendPending(null, chunk.subarray(pos));
        return;
      }
      if (nl - pos > this.maxLength) this.handler.onOversizedLine(chunk.subarray(pos, pos + 200));
      else this.handler.onLine(chunk, pos, nl);
      pos = nl + 1;
    }
  }

  /** Bytes of an unterminated final line still held (carbon never processes those). */
  get pendingBytes(): number {
    return this.pending === null ? 0 : this.pending.length;
  }

  /** Forget any partial line (at connection end), returning its length. */
  reset(): number {
    const n = this.pendingBytes;
    this.pending = null;
    this.discarding = false;
    return n;
  }

  private appendPending(pending: Buffer | null, tail: Buffer): void {
    const total = (pending === null ? 0 : pending.length) + tail.length;
    if (total > this.maxLength) {
      this.handler.onOversizedLine(pending === null ? tail.subarray(0, 200) : pending.subarray(0, 200));
      this.pending = null;
      this.discarding = true;
      return;
    }
    // Copy so a small tail never pins the whole socket chunk.
    this.pending = pending === null ? Buffer.from(tail) : Buffer.concat([pending, tail]);
  }
}
