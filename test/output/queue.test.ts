import { DatapointQueue } from '../../src/output/queue';

type Item = [string, number, number];

function contents(q: DatapointQueue): Item[] {
  const out: Item[] = [];
  for (let k = 0; k < q.length; k++) out.push([q.nameAt(k), q.timestampAt(k), q.valueAt(k)]);
  return out;
}

const item = (i: number): Item => [`m.${i}`, 1_700_000_000 + i, i / 4];
const push = (q: DatapointQueue, from: number, to: number): boolean[] => {
  const r: boolean[] = [];
  for (let i = from; i < to; i++) r.push(q.push(...item(i)));
  return r;
};
const range = (from: number, to: number): Item[] => Array.from({ length: to - from }, (_, k) => item(from + k));
/** The ring's slot array, to check that shifted slots let go of their names. */
const slots = (q: DatapointQueue): (string | undefined)[] => (q as unknown as { names: (string | undefined)[] }).names;

describe('DatapointQueue', () => {
  it('is FIFO', () => {
    const q = new DatapointQueue(10);
    push(q, 0, 5);
    expect(q.length).toBe(5);
    expect(contents(q)).toEqual(range(0, 5));
    q.shift(2);
    expect(contents(q)).toEqual(range(2, 5));
  });

  it('refuses pushes at the limit (the newest datapoint is dropped) and accepts again after a shift', () => {
    const q = new DatapointQueue(5);
    expect(push(q, 0, 7)).toEqual([true, true, true, true, true, false, false]);
    expect(contents(q)).toEqual(range(0, 5));
    q.shift(1);
    expect(push(q, 7, 9)).toEqual([true, false]);
    expect(contents(q)).toEqual([...range(1, 5), item(7)]);
  });

  it('a limit that is not a power of two is exact', () => {
    const q = new DatapointQueue(3);
    expect(push(q, 0, 4)).toEqual([true, true, true, false]);
    expect(q.limit).toBe(3);
  });

  it('a limit of 0 accepts nothing', () => {
    const q = new DatapointQueue(0);
    expect(push(q, 0, 2)).toEqual([false, false]);
    expect(q.length).toBe(0);
  });

  it('stays FIFO when the ring wraps around, many times over', () => {
    const q = new DatapointQueue(8);
    let next = 0;
    let head = 0;
    for (let round = 0; round < 50; round++) {
      const n = 1 + (round % 8);
      while (q.length < n) push(q, next, ++next);
      expect(contents(q)).toEqual(range(head, next));
      const s = Math.ceil(q.length / 2);
      q.shift(s);
      head += s;
    }
    expect(contents(q)).toEqual(range(head, next));
  });

  it('stays FIFO when it grows while wrapped (head in the middle of the ring)', () => {
    const q = new DatapointQueue(100_000);
    push(q, 0, 1000);
    q.shift(900); // head at 900 of the initial 1024 slots
    push(q, 1000, 1124); // fills the ring exactly, wrapping
    expect(q.length).toBe(224);
    push(q, 1124, 5000); // grows (twice) from a wrapped state
    expect(q.length).toBe(4100);
    expect(contents(q)).toEqual(range(900, 5000));
    q.shift(4000);
    push(q, 5000, 5010);
    expect(contents(q)).toEqual(range(4900, 5010));
  });

  it('grows up to a limit above the initial capacity and no further', () => {
    const q = new DatapointQueue(3000);
    const accepted = push(q, 0, 3500);
    expect(accepted.filter(Boolean)).toHaveLength(3000);
    expect(accepted.indexOf(false)).toBe(3000);
    expect(contents(q)).toEqual(range(0, 3000));
  });

  it('shift releases the names it removes', () => {
    const q = new DatapointQueue(4);
    push(q, 0, 4);
    q.shift(3);
    expect(slots(q).filter((n) => n !== undefined)).toEqual(['m.3']);
  });

  it('clear() empties the queue, releases every name and returns how many it dropped', () => {
    const q = new DatapointQueue(16);
    push(q, 0, 10);
    q.shift(4);
    push(q, 10, 20);
    expect(q.clear()).toBe(16);
    expect(q.length).toBe(0);
    expect(slots(q).every((n) => n === undefined)).toBe(true);
    expect(q.clear()).toBe(0);
    push(q, 100, 102);
    expect(contents(q)).toEqual(range(100, 102));
  });

  it('keeps -0, NaN and infinities as pushed', () => {
    const q = new DatapointQueue(4);
    q.push('a', -0, -0);
    q.push('b', Infinity, NaN);
    q.push('c', 1.5, -Infinity);
    expect(contents(q)).toEqual([['a', -0, -0], ['b', Infinity, NaN], ['c', 1.5, -Infinity]]);
  });
});
