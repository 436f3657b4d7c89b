import crypto from 'node:crypto';
import { fnv1a32 } from '../common/fnv1a';
import { fmix32 } from '../common/mix32';

export { fnv1a32 };

/**
 * carbon's ring hash functions (carbon/hashing.py, 1.1.x), bit for bit. Every
 * hash runs over the key's UTF-8 bytes, as Python's `key.encode('utf-8')`.
 * (A JS string with a lone surrogate is encoded as U+FFFD here; Python could
 * not encode it at all, and a name decoded from the wire never has one.)
 */
export type CarbonHashType = 'carbon_ch' | 'fnv1a_ch' | 'mmh3_ch';

export const CARBON_HASH_TYPES: readonly CarbonHashType[] = ['carbon_ch', 'fnv1a_ch', 'mmh3_ch'];

/**
 * `carbonHash(key, hash_type)`: the ring position of `key`.
 *   carbon_ch  first 2 bytes of md5, big-endian (0..65535)
 *   fnv1a_ch   32-bit FNV-1a folded to 16 bits: (h >>> 16) ^ (h & 0xffff)
 *   mmh3_ch    MurmurHash3_x86_32, seed 0, as a signed int32 (mmh3.hash)
 */
export function carbonHash(key: string, type: CarbonHashType): number {
  switch (type) {
    case 'fnv1a_ch': {
      const h = fnv1a32(key);
      return (h >>> 16) ^ (h & 0xffff);
    }
    case 'mmh3_ch':
      return mmh3Hash(key);
    default:
      return md5Position(key);
  }
}

/** The one-shot crypto.hash (Node >= 20.12) is about twice as fast as createHash for short input. */
const oneShot = typeof crypto.hash === 'function' ? crypto.hash : undefined;

/** int(md5(key.encode('utf-8')).hexdigest()[:4], 16). */
export function md5Position(key: string): number {
  const hex = oneShot ? oneShot('md5', key) : crypto.createHash('md5').update(key, 'utf8').digest('hex');
  return parseInt(hex.slice(0, 4), 16);
}

/** Reused for keys that fit (a UTF-16 unit is at most 3 UTF-8 bytes), saving an allocation per hash. */
const scratch = Buffer.allocUnsafe(1024);

/** Python `mmh3.hash(key)`: MurmurHash3_x86_32 of the UTF-8 bytes, seed 0, signed. */
export function mmh3Hash(key: string): number {
  if (key.length * 3 > scratch.length) return murmur3x86_32(Buffer.from(key, 'utf8')) | 0;
  return murmur3x86_32(scratch, 0, scratch.write(key, 0, 'utf8')) | 0;
}

const M3_C1 = 0xcc9e2d51;
const M3_C2 = 0x1b873593;

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** MurmurHash3_x86_32 (Appleby's reference) of bytes[0, len), unsigned. `| 0` gives Python mmh3.hash()'s signed value. */
export function murmur3x86_32(bytes: Uint8Array, seed = 0, len = bytes.length): number {
  const tail = len & ~3;
  let h = seed | 0;
  for (let i = 0; i < tail; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(rotl32(Math.imul(k, M3_C1), 15), M3_C2);
    h ^= k;
    h = (Math.imul(rotl32(h, 13), 5) + 0xe6546b64) | 0;
  }
  const rest = len & 3;
  if (rest > 0) {
    let k = bytes[tail]!;
    if (rest > 1) k ^= bytes[tail + 1]! << 8;
    if (rest > 2) k ^= bytes[tail + 2]! << 16;
    h ^= Math.imul(rotl32(Math.imul(k, M3_C1), 15), M3_C2);
  }
  return fmix32(h ^ len);
}

/**
 * Python 3 `str((server, instance))`, the string carbon_ch and mmh3_ch replica
 * keys (and fast-hashing node keys) are built from: `('10.0.0.1', 'a')`,
 * `('10.0.0.1', None)`.
 */
export function pythonTupleRepr(server: string, instance: string | null): string {
  return `(${pythonStrRepr(server)}, ${instance === null ? 'None' : pythonStrRepr(instance)})`;
}

/** Neither Other (Cc Cf Cs Co Cn) nor Separator (Zs Zl Zp): Python's str.isprintable(), except that ' ' is printable there. */
const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

/**
 * Python 3 `repr(s)` for a str (unicode_repr in CPython): single quotes unless
 * s has ' and no "; \\ \t \n \r and the quote escaped; other ASCII controls and
 * DEL as \xNN; non-ASCII kept when printable, else \xNN / \uNNNN / \UNNNNNNNN.
 * "Printable" comes from this Node's Unicode tables: characters assigned after
 * the Python's Unicode version (14.0 in Python 3.11) print here, and are
 * escaped (as unassigned) by that Python.
 */
export function pythonStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + hex(cp, 2);
    else if (cp < 0x7f) out += ch;
    else if (!NON_PRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += '\\x' + hex(cp, 2);
    else if (cp <= 0xffff) out += '\\u' + hex(cp, 4);
    else out += '\\U' + hex(cp, 8);
  }
  return out + quote;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}
