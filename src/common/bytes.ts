/**
 * Buffer's unchecked slice/write methods: present on every Node Buffer but absent
 * from @types/node. They skip the argument checks of toString()/write(), which
 * shows on a path that runs once per datapoint.
 */
interface UncheckedBuffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number, length: number): number;
  latin1Write(s: string, offset: number, length: number): number;
}

export function latin1Slice(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as UncheckedBuffer).latin1Slice(start, end);
}

export function utf8Slice(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as UncheckedBuffer).utf8Slice(start, end);
}

export function utf8Write(buf: Buffer, s: string, offset: number): number {
  return (buf as unknown as UncheckedBuffer).utf8Write(s, offset, buf.length - offset);
}

export function latin1Write(buf: Buffer, s: string, offset: number): number {
  return (buf as unknown as UncheckedBuffer).latin1Write(s, offset, buf.length - offset);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 decode that refuses malformed input (Buffer.toString would substitute U+FFFD). */
export function decodeUtf8Strict(buf: Buffer, start: number, end: number): string | undefined {
  if (isAscii(buf, start, end)) return latin1Slice(buf, start, end);
  try {
    return strictUtf8.decode(buf.subarray(start, end));
  } catch {
    return undefined;
  }
}

/** Whether buf[start, end) is all 7-bit (ASCII, so latin1 and UTF-8 decode it alike). */
export function isAscii(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] >= 0x80) return false;
  return true;
}
