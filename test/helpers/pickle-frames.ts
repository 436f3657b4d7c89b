/** Carbon pickle frames built byte by byte (independently of our encoder), as Python's pickle.dumps(protocol=2) writes them. */

/** The 4-byte big-endian length header carbon puts before each pickle payload. */
export function frame(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(payload.length);
  return Buffer.concat([h, payload]);
}

export const u32le = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** BINFLOAT: 'G' and a big-endian double. */
export const binfloat = (x: number): Buffer => {
  const b = Buffer.alloc(9);
  b[0] = 0x47;
  b.writeDoubleBE(x, 1);
  return b;
};

/** Protocol-2 pickle payload of [(name, (ts, value))], as Python writes it (BINUNICODE name). */
export function pickleOf(name: string, ts: number, value: number): Buffer {
  const n = Buffer.from(name, 'utf8');
  return Buffer.concat([Buffer.from([0x80, 2, 0x5d, 0x28, 0x58]), u32le(n.length), n, binfloat(ts), binfloat(value), Buffer.from([0x86, 0x86, 0x65, 0x2e])]);
}
