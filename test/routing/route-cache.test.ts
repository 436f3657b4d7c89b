import { RouteCache } from '../../src/routing/route-cache';

function counting(capacity: number): { cache: RouteCache<string[]>; calls: string[] } {
  const calls: string[] = [];
  const cache = new RouteCache<string[]>(capacity, (name) => {
    calls.push(name);
    return [`dest-for-${name}`];
  });
  return { cache, calls };
}

describe('RouteCache', () => {
  it('resolves each name once while it stays cached, returning the same object', () => {
    const { cache, calls } = counting(10);
    const first = cache.get('a.b');
    expect(first).toEqual(['dest-for-a.b']);
    for (let i = 0; i < 100; i++) expect(cache.get('a.b')).toBe(first);
    cache.get('c.d');
    cache.get('a.b');
    expect(calls).toEqual(['a.b', 'c.d']);
    expect(cache.size).toBe(2);
  });

  it('keeps two generations: a full young map becomes the old one, the previous old one is dropped', () => {
    const { cache, calls } = counting(2);
    cache.get('a');
    cache.get('b'); // young {a, b}
    cache.get('c'); // young full -> old {a, b}, young {c}
    expect(cache.size).toBe(3);
    cache.get('a'); // hit in old, promoted: young {c, a}
    expect(calls).toEqual(['a', 'b', 'c']);
    cache.get('d'); // young full -> old {c, a}, young {d}; {a, b} dropped
    expect(cache.size).toBe(3);
    cache.get('a'); // still cached (old)
    cache.get('c'); // still cached (old)
    expect(calls).toEqual(['a', 'b', 'c', 'd']);
    cache.get('b'); // was dropped: resolved again
    expect(calls).toEqual(['a', 'b', 'c', 'd', 'b']);
  });

  it('is bounded by twice its capacity however many names pass through', () => {
    const { cache, calls } = counting(100);
    let maxSize = 0;
    for (let i = 0; i < 10_000; i++) {
      cache.get(`metric.${i}`);
      maxSize = Math.max(maxSize, cache.size);
    }
    expect(calls).toHaveLength(10_000);
    expect(maxSize).toBeLessThanOrEqual(200);
    expect(cache.size).toBe(200);
  });

  it('a hot name survives any amount of turnover', () => {
    const { cache, calls } = counting(10);
    cache.get('hot');
    for (let i = 0; i < 1000; i++) {
      cache.get(`cold.${i}`);
      cache.get('hot');
    }
    expect(calls.filter((n) => n === 'hot')).toEqual(['hot']);
  });

  it('clear() forgets everything', () => {
    const { cache, calls } = counting(10);
    cache.get('a');
    cache.clear();
    expect(cache.size).toBe(0);
    cache.get('a');
    expect(calls).toEqual(['a', 'a']);
  });

  it('caches null decisions too (invalid names)', () => {
    const calls: string[] = [];
    const cache = new RouteCache<string[] | null>(10, (name) => {
      calls.push(name);
      return null;
    });
    expect(cache.get('bad name')).toBeNull();
    expect(cache.get('bad name')).toBeNull();
    expect(calls).toEqual(['bad name']);
  });
});
