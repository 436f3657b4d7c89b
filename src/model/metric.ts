/** One datapoint, as every ingest path normalises it. Timestamps are Unix seconds (may be fractional). */
export interface Metric {
  name: string;
  value: number;
  timestamp: number;
}

/**
 * A columnar batch of datapoints. Sources fill one per chunk and hand it to the
 * pipeline, which copies what it routes before returning, so a source may clear
 * and reuse the same batch (no per-metric objects on the hot path).
 */
export class MetricBatch {
  names: string[] = [];
  values: Float64Array;
  timestamps: Float64Array;
  length = 0;

  constructor(capacity = 1024) {
    this.values = new Float64Array(capacity);
    this.timestamps = new Float64Array(capacity);
  }

  push(name: string, value: number, timestamp: number): void {
    const i = this.length;
    if (i === this.values.length) this.grow();
    this.names[i] = name;
    this.values[i] = value;
    this.timestamps[i] = timestamp;
    this.length = i + 1;
  }

  clear(): void {
    this.length = 0;
  }

  /** Room for `n` datapoints in all without growing on the way (a body whose size says how many lines to expect). */
  reserve(n: number): void {
    if (n <= this.values.length) return;
    this.resize(n);
  }

  static of(metrics: readonly Metric[]): MetricBatch {
    const b = new MetricBatch(Math.max(1, metrics.length));
    for (const m of metrics) b.push(m.name, m.value, m.timestamp);
    return b;
  }

  private grow(): void {
    this.resize(this.values.length * 2);
  }

  private resize(cap: number): void {
    const v = new Float64Array(cap);
    v.set(this.values);
    const t = new Float64Array(cap);
    t.set(this.timestamps);
    this.values = v;
    this.timestamps = t;
  }
}
