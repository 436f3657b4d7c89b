import { latin1Slice } from '../common/bytes';
import { FNV32_OFFSET, FNV32_PRIME } from '../common/fnv1a';

/** Longest ASCII name interned; longer ones are rare and each is decoded as it comes. */
const MAX_INTERNED_LENGTH = 255;
/** Slots the table starts with. */
const INITIAL_SIZE = 1024;

/**
 * ASCII bytes -> one shared string per distinct name. Decoders see the same few
 * thousand names over and over: answering from here skips building a string
 * per datapoint, and the string returned is the same object each time, whose
 * hash V8 has already computed, so the route cache's lookup is a pointer
 * compare. Keys are the strings themselves (compared byte against char), so
 * nothing is copied; names with a non-ASCII byte are not interned (the caller
 * decodes those strictly).
 *
 * Bounded: when `capacity` names are held the table starts over, so a stream
 * of ever-new names costs one decode each, as without it, and memory stays at
 * capacity strings.
 */
export class NameInterner {
  private hashes: Int32Array;
  private names: (string | undefined)[];
  private mask: number;
  private count = 0;
  /** The table's largest size: twice capacity, a power of two. */
  private readonly maxSize: number;

  constructor(private readonly capacity = 100_000) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.maxSize = size;
    // Starts small and doubles at half full: a relay seeing ten thousand names
    // probes a table that stays in the CPU cache, not one sized for the cap.
    const initial = Math.min(size, INITIAL_SIZE);
    this.hashes = new Int32Array(initial);
    this.names = new Array<string | undefined>(initial).fill(undefined);
    this.mask = initial - 1;
  }

  /** The string for buf[start, end), all ASCII (the caller checked). */
  intern(buf: Buffer, start: number, end: number): string {
    return this.internAscii(buf, start, end) ?? latin1Slice(buf, start, end);
  }

  /** intern() for bytes not yet checked: undefined when one is not ASCII (the caller decodes those strictly). One pass. */
  internAscii(buf: Buffer, start: number, end: number): string | undefined {
    let h = FNV32_OFFSET | 0;
    for (let i = start; i < end; i++) {
      const c = buf[i];
      if (c >= 0x80) return undefined;
      h = Math.imul(h ^ c, FNV32_PRIME);
    }
    return this.internHashed(buf, start, end, h);
  }

  /** intern() for a caller that hashed the bytes as it scanned them: `h` is their FNV-1a (FNV32_OFFSET, FNV32_PRIME). */
  internHashed(buf: Buffer, start: number, end: number, hash: number): string {
    const len = end - start;
    if (len > MAX_INTERNED_LENGTH) return latin1Slice(buf, start, end);
    // 0 marks an empty slot
    const h = hash === 0 ? 1 : hash | 0;
    const { hashes, names, mask } = this;
    let slot = h & mask;
    for (;;) {
      const sh = hashes[slot];
      if (sh === 0) break;
      if (sh === h) {
        const s = names[slot] as string;
        if (s.length === len && sameAscii(s, buf, start, len)) return s;
      }
      slot = (slot + 1) & mask;
    }
    const s = latin1Slice(buf, start, end);
    if (this.count >= this.capacity) {
      this.clear();
      slot = h & this.mask;
    } else if (this.count * 2 >= hashes.length && hashes.length < this.maxSize) {
      this.grow();
      slot = this.freeSlot(h);
    }
    this.hashes[slot] = h;
    this.names[slot] = s;
    this.count++;
    return s;
  }

  get size(): number {
    return this.count;
  }

  clear(): void {
    this.hashes.fill(0);
    this.names.fill(undefined);
    this.count = 0;
  }

  private grow(): void {
    const oldHashes = this.hashes;
    const oldNames = this.names;
    const size = oldHashes.length * 2;
    this.hashes = new Int32Array(size);
    this.names = new Array<string | undefined>(size).fill(undefined);
    this.mask = size - 1;
    for (let i = 0; i < oldHashes.length; i++) {
      const h = oldHashes[i];
      if (h === 0) continue;
      const slot = this.freeSlot(h);
      this.hashes[slot] = h;
      this.names[slot] = oldNames[i];
    }
  }

  private freeSlot(h: number): number {
    let slot = h & this.mask;
    while (this.hashes[slot] !== 0) slot = (slot + 1) & this.mask;
    return slot;
  }
}

function sameAscii(s: string, buf: Buffer, start: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (s.charCodeAt(i) !== buf[start + i]) return false;
  return true;
}
