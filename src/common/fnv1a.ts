/** FNV-1a's 32-bit parameters: a loop that hashes bytes as it scans them uses these (NameInterner's callers). */
export const FNV32_OFFSET = 0x811c9dc5;
export const FNV32_PRIME = 0x01000193;

/** 32-bit FNV-1a of the UTF-8 bytes of `key` (or of `bytes`), unsigned. */
export function fnv1a32(key: string | Uint8Array): number {
  if (typeof key !== 'string') return fnv1a32Bytes(key);
  let h = FNV32_OFFSET;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    // Non-ASCII: UTF-16 units are not UTF-8 bytes, so start over on the real bytes.
    if (c > 0x7f) return fnv1a32Bytes(Buffer.from(key, 'utf8'));
    h = Math.imul(h ^ c, FNV32_PRIME);
  }
  return h >>> 0;
}

function fnv1a32Bytes(bytes: Uint8Array): number {
  let h = FNV32_OFFSET;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, FNV32_PRIME);
  return h >>> 0;
}
