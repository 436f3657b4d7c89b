import type { AggregationMethod } from '../routing/aggregation-rules';

/**
 * What one interval of one aggregate has seen. sum, avg, min, max and count
 * need only running figures; the percentiles need every value (kept only for
 * them). Running figures give carbon's results exactly: Python's sum() adds
 * left to right from 0 as the running sum does, and avg is that sum over the
 * count.
 */
export class IntervalState {
  /** Values arrived since the interval was last emitted (carbon's IntervalBuffer.active). */
  active = true;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  constructor(
    /** Start of the interval, seconds: `timestamp - timestamp % frequency`. */
    readonly interval: number,
    /** Every value, for a percentile method; undefined for the others. */
    readonly values: number[] | undefined,
  ) {}

  add(value: number): void {
    this.active = true;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.values?.push(value);
  }
}

const PERCENTILE_FACTORS: Readonly<Partial<Record<AggregationMethod, number>>> = {
  p50: 0.5,
  p75: 0.75,
  p80: 0.8,
  p90: 0.9,
  p95: 0.95,
  p99: 0.99,
  p999: 0.999,
};

/** Whether the method needs every value of an interval. */
export function keepsValues(method: AggregationMethod): boolean {
  return PERCENTILE_FACTORS[method] !== undefined;
}

/** The method's value over an interval that has at least one value, as carbon's AGGREGATION_METHODS computes it. */
export function aggregateValue(method: AggregationMethod, s: IntervalState): number {
  switch (method) {
    case 'sum':
      return s.sum;
    case 'avg':
      return s.sum / s.count;
    case 'min':
      return s.min;
    case 'max':
      return s.max;
    case 'count':
      return s.count;
    default:
      return percentile(s.values ?? [], PERCENTILE_FACTORS[method] ?? 0.5);
  }
}

/** carbon's percentile(factor): linear interpolation over the sorted values at rank factor * (n - 1). */
function percentile(values: number[], factor: number): number {
  // in place: the order of an interval's values does not matter to any method
  values.sort((a, b) => a - b);
  const rank = factor * (values.length - 1);
  const left = Math.floor(rank);
  const right = Math.ceil(rank);
  if (left === right) return values[left];
  return values[left] * (right - rank) + values[right] * (rank - left);
}
