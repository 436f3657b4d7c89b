import { MetricBatch } from '../../src/model/metric';

describe('MetricBatch', () => {
  it('keeps every datapoint through growth and through reserve(), in order', () => {
    const b = new MetricBatch(2);
    for (let i = 0; i < 5; i++) b.push(`n${i}`, i / 2, 1_700_000_000 + i);
    b.reserve(1000);
    expect(b.values.length).toBeGreaterThanOrEqual(1000);
    for (let i = 5; i < 1000; i++) b.push(`n${i}`, i / 2, 1_700_000_000 + i);
    expect(b.length).toBe(1000);
    for (const i of [0, 4, 5, 999]) expect([b.names[i], b.values[i], b.timestamps[i]]).toEqual([`n${i}`, i / 2, 1_700_000_000 + i]);
  });

  it('reserve() never shrinks', () => {
    const b = new MetricBatch(64);
    b.reserve(8);
    expect(b.values.length).toBe(64);
  });
});
