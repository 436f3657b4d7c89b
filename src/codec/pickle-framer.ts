/** Receives the frames a PickleFramer cuts out of a byte stream. */
export interface FrameHandler {
  /** One complete frame payload (without the length prefix). Valid only during the call. */
  onFrame(payload: Buffer): void;
  /** A frame longer than the limit is being skipped; called once, when its header arrives. */
  onOversizedFrame(length: number): void;
}

/**
 * Splits a stream of carbon pickle frames (4-byte unsigned big-endian length,
 * then the payload). A frame over maxLength is skipped byte for byte without
 * being buffered, so the stream stays in sync and memory stays bounded; a
 * length so large it cannot be a pickle stream is reported as garbage.
 */
export class PickleFramer {
  private header = Buffer.alloc(4);
  private headerFill = 0;
  private frame: Buffer | null = null;
  private frameFill = 0;
  private skipRemaining = 0;

  constructor(
    private readonly maxLength: number,
    private readonly handler: FrameHandler,
    /** Lengths beyond this are not skipped: the peer is not speaking pickle framing. */
    private readonly garbageLength = maxLength * 64,
  ) {}

  /** Returns false when the stream is garbage and the caller should close the connection. */
  push(chunk: Buffer): boolean {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      if (this.skipRemaining > 0) {
        const n = Math.min(this.skipRemaining, len - pos);
        this.skipRemaining -= n;
        pos += n;
        continue;
      }
      if (this.frame !== null) {
        const n = Math.min(this.frame.length - this.frameFill, len - pos);
        chunk.copy(this.frame, this.frameFill, pos, pos + n);
        this.frameFill += n;
        pos += n;
        if (this.frameFill === this.frame.length) {
          const f = this.frame;
          this.frame = null;
          this.handler.onFrame(f);
        }
        continue;
      }
      // Fast path: whole header and payload inside this chunk, no copy.
      if (this.headerFill === 0 && len - pos >= 4) {
        const flen = chunk.readUInt32BE(pos);
        if (flen <= this.maxLength && len - pos - 4 >= flen) {
          this.handler.onFrame(chunk.subarray(pos + 4, pos + 4 + flen));
          pos += 4 + flen;
          continue;
        }
      }
      while (this.headerFill < 4 && pos < len) this.header[this.headerFill++] = chunk[pos++];
      if (this.headerFill < 4) break;
      this.headerFill = 0;
      const flen = this.header.readUInt32BE(0);
      if (flen > this.maxLength) {
        if (flen > this.garbageLength) return false;
        this.handler.onOversizedFrame(flen);
        this.skipRemaining = flen;
        continue;
      }
      if (flen === 0) {
        this.handler.onFrame(Buffer.alloc(0));
        continue;
      }
      this.frame = Buffer.allocUnsafe(flen);
      this.frameFill = 0;
    }
    return true;
  }

  /** Bytes of an incomplete frame held at connection end, its length header included. */
  get pendingBytes(): number {
    return this.headerFill + (this.frame === null ? 0 : 4 + this.frameFill);
  }
}
