/**
 * Bounded memo of name -> routing decision. Real traffic repeats a few thousand
 * names, so almost every datapoint is a Map hit instead of a regex run. Two
 * generations: when the young map fills, it becomes the old one and the
 * previous old one is dropped, so memory is bounded by 2 x capacity entries
 * while hot names survive the turnover.
 */
export class RouteCache<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();

  constructor(
    private readonly capacity: number,
    private readonly resolve: (name: string) => V,
  ) {}

  get(name: string): V {
    let v = this.young.get(name);
    if (v !== undefined) return v;
    v = this.old.get(name);
    if (v === undefined) v = this.resolve(name);
    if (this.young.size >= this.capacity) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(name, v);
    return v;
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }
}
