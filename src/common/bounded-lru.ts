/**
 * A map that keeps at most `capacity` entries, forgetting the least recently
 * used first, so per-client or per-name state from the network stays bounded.
 * Map iteration order is insertion order, so touching an entry re-inserts it.
 */
export class BoundedLru<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private cap: number) {}

  get capacity(): number {
    return this.cap;
  }

  /** A new bound; the least recently used entries beyond it are forgotten. */
  resize(capacity: number): void {
    this.cap = capacity;
    while (this.map.size > capacity) this.map.delete(this.map.keys().next().value as K);
  }

  get size(): number {
    return this.map.size;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** The value, marking the entry as just used. */
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    if (this.map.size >= this.cap) this.map.delete(this.map.keys().next().value as K);
    this.map.set(key, value);
  }
}
