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
});
