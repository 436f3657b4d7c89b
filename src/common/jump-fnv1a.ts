/**
 * carbon-c-relay's 64-bit FNV-1a and Lamping & Veach's jump consistent hash,
 * on (hi, lo) uint32 pairs: the jump_fnv1a_ch hash groups and the Kafka
 * partitioner of the same name share them. BigInt would allocate on every
 * step; these write their 64-bit result to `r64` instead (a scratch register,
 * read right after the call; nothing is kept in it between calls).
 */
export const r64 = { hi: 0, lo: 0 };

/** r64 = (aHi:aLo * bHi:bLo) mod 2^64 */
export function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  r64.lo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  const carry = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16); // high word of aLo*bLo, < 2^32
  r64.hi = (carry + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
}

const FNV64_OFFSET_HI = 0xcbf29ce4;
const FNV64_OFFSET_LO = 0x84222325;
const FNV64_PRIME_HI = 0x00000100;
const FNV64_PRIME_LO = 0x000001b3;
const JUMP_LCG_HI = 0x27bb2ee6; // 2862933555777941757
const JUMP_LCG_LO = 0x87b0b0fd;
export const XORSHIFT_MUL_HI = 0x2545f491; // 2685821657736338717
export const XORSHIFT_MUL_LO = 0x4f6cdd1d;

/**
 * 64-bit FNV-1a of key's UTF-8 bytes into r64 (carbon-c-relay's fnv1a_64; `signedChar`:
 * see JumpFnv1aOptions in routing/jump-fnv1a-ring.ts). The multiply by the prime 2^40 + 0x1b3 is
 * done as h * 0x1b3 + (h << 40), which stays exact in doubles.
 */
export function fnv1a64(key: string, signedChar: boolean): void {
  let hi = FNV64_OFFSET_HI;
  let lo = FNV64_OFFSET_LO;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c > 0x7f) return fnv1a64Bytes(Buffer.from(key, 'utf8'), signedChar);
    lo = (lo ^ c) >>> 0;
    const x = lo * 0x1b3;
    const xLo = x >>> 0;
    hi = (hi * 0x1b3 + (x - xLo) / 4294967296 + (lo << 8)) >>> 0;
    lo = xLo;
  }
  r64.hi = hi;
  r64.lo = lo;
}

function fnv1a64Bytes(bytes: Uint8Array, signedChar: boolean): void {
  let hi = FNV64_OFFSET_HI;
  let lo = FNV64_OFFSET_LO;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (signedChar && b >= 0x80) {
      // the char -> 64-bit conversion sign-extends: xor with 0xffffffffffffffxx
      hi = ~hi >>> 0;
      lo = (lo ^ (0xffffff00 | b)) >>> 0;
    } else lo = (lo ^ b) >>> 0;
    mul64(hi, lo, FNV64_PRIME_HI, FNV64_PRIME_LO);
    hi = r64.hi;
    lo = r64.lo;
  }
  r64.hi = hi;
  r64.lo = lo;
}

/** carbon-c-relay's 64-bit FNV-1a of key's UTF-8 bytes (see JumpFnv1aOptions.signedChar), as a bigint: for tests and tools. */
export function fnv1a64BigInt(key: string, signedChar = true): bigint {
  fnv1a64(key, signedChar);
  return (BigInt(r64.hi) << 32n) | BigInt(r64.lo);
}

/** Jump consistent hash of a 64-bit key into [0, buckets), as a bigint: for tests and tools. */
export function jumpConsistentHash(key: bigint, buckets: number): number {
  return jumpBucket(Number(BigInt.asUintN(64, key) >> 32n), Number(BigInt.asUintN(32, key)), buckets);
}

/**
 * Lamping & Veach's jump consistent hash of the 64-bit key hi:lo into
 * [0, buckets). The doubles are computed in the same order as the C, so the
 * rounding is the same.
 */
export function jumpBucket(hi: number, lo: number, buckets: number): number {
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    mul64(hi, lo, JUMP_LCG_HI, JUMP_LCG_LO);
    hi = r64.hi;
    lo = (r64.lo + 1) >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
    j = Math.floor((b + 1) * (2147483648 / ((hi >>> 1) + 1)));
  }
  return b;
}

/** jump_fnv1a_ch's first pick: the bucket in [0, buckets) for `key` (a Kafka partition, a hash group member). */
export function jumpFnv1aBucket(key: string, buckets: number, signedChar = true): number {
  fnv1a64(key, signedChar);
  return jumpBucket(r64.hi, r64.lo, buckets);
}
