import { BoundedLru } from '../../src/common/bounded-lru';

describe('BoundedLru', () => {
  it('keeps at most capacity entries, forgetting the least recently used', () => {
    const lru = new BoundedLru<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1); // a is now the most recent
    lru.set('c', 3); // evicts b
    expect([lru.has('a'), lru.has('b'), lru.has('c'), lru.size]).toEqual([true, false, true, 2]);
    lru.set('a', 10); // updating does not evict
    expect([lru.get('a'), lru.get('c'), lru.size]).toEqual([10, 3, 2]);
  });

  it('resize to a smaller bound forgets the least recently used beyond it; a larger one keeps everything', () => {
    const lru = new BoundedLru<string, number>(4);
    for (const [i, k] of ['a', 'b', 'c', 'd'].entries()) lru.set(k, i);
    lru.get('a'); // a is now the most recent
    lru.resize(2);
    expect([lru.capacity, lru.size, lru.has('a'), lru.has('d'), lru.has('b'), lru.has('c')]).toEqual([2, 2, true, true, false, false]);
    lru.resize(3);
    lru.set('e', 5);
    expect([lru.size, lru.has('a'), lru.has('d'), lru.has('e')]).toEqual([3, true, true, true]);
  });
});
