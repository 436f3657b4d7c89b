import { DurationHistogram } from '../../src/telemetry/histogram';

describe('DurationHistogram', () => {
  it('puts each observation in the first bucket whose bound is not below it (le), +Inf last, and keeps sum and count', () => {
    const h = new DurationHistogram([0.001, 0.01, 1]);
    for (const s of [0, 0.001, 0.0010001, 0.5, 1, 2, 100]) h.observe(s);
    expect(h.counts).toEqual([2, 1, 2, 2]);
    expect(h.cumulative()).toEqual([2, 3, 5, 7]);
    expect(h.count).toBe(7);
    expect(h.sum).toBeCloseTo(103.5020001, 9);
  });

  it('starts empty', () => {
    const h = new DurationHistogram([1]);
    expect([h.cumulative(), h.sum, h.count]).toEqual([[0, 0], 0, 0]);
  });
});
