import os from 'node:os';
import { cleanStop, type Component, type StopReport } from '../model/component';
import { MetricBatch } from '../model/metric';
import type { CounterReporter } from './counters';

export interface SelfMetricsOptions {
  /** Emission interval in ms; 0 disables self-metrics. */
  intervalMs: number;
  /** Name prefix, e.g. `carbon.relays.myhost-a` (carbon-relay's scheme). */
  prefix: string;
}

export interface SelfMetricsDeps {
  /** Whose counters to emit, read every interval (the relay-wide ingest counters, destinations, sources). */
  reporters: () => Iterable<CounterReporter>;
  /** Routes the batch like received datapoints, but unfiltered and not counted as received (Pipeline.acceptInternal). */
  emit: (batch: MetricBatch) => void;
  now?: () => number;
}

/** carbon's default prefix: `carbon.relays.<hostname with . -> _>-a`. */
export function defaultSelfMetricsPrefix(): string {
  return `carbon.relays.${os.hostname().replace(/\./g, '_')}-a`;
}

/**
 * Emits the relay's own counters every interval as ordinary datapoints through
 * the pipeline (so rules route them and destination queues bound them): what
 * every reporter reports (counters as per-interval deltas, as carbon does),
 * plus CPU and memory.
 */
export class SelfMetrics implements Component {
  readonly name = 'self-metrics';
  private timer: NodeJS.Timeout | null = null;
  /** Between start() and stop(): a reload that turns the interval on starts the timer. */
  private started = false;
  /**
   * Each reporter's counters at the last emission. Kept per reporter object:
   * a component a reload replaced under the same path starts from zero, so
   * its first interval is all its own counts, not the difference to its
   * predecessor's totals.
   */
  private readonly last = new WeakMap<CounterReporter, Map<string, number>>();
  private lastCpu = process.cpuUsage();
  private lastCpuAt = Date.now();
  private readonly batch = new MetricBatch(64);

  constructor(
    private opts: SelfMetricsOptions,
    private readonly deps: SelfMetricsDeps,
  ) {}

  /**
   * Reload: a new interval or prefix from the next emission on. The deltas
   * carry on from the last interval (they are kept by counter, not by the
   * prefixed name), so a new prefix does not send whole totals as one delta.
   */
  reconfigure(opts: SelfMetricsOptions): void {
    const intervalChanged = opts.intervalMs !== this.opts.intervalMs;
    this.opts = opts;
    if (!intervalChanged || this.timer === null) {
      if (this.timer === null && this.started && opts.intervalMs > 0) this.schedule();
      return;
    }
    clearInterval(this.timer);
    this.timer = null;
    if (opts.intervalMs > 0) this.schedule();
  }

  async start(): Promise<void> {
    this.started = true;
    if (this.opts.intervalMs <= 0 || this.timer !== null) return;
    this.schedule();
  }

  private schedule(): void {
    this.timer = setInterval(() => this.emit(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and emits a last interval, so drops just before shutdown are not lost from view. */
  async stop(_deadline: number): Promise<StopReport> {
    this.started = false;
    const wasRunning = this.timer !== null;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (wasRunning) this.emit();
    return cleanStop(this.name);
  }

  /** Collect one interval's datapoints and route them. Public so tests need no timers. */
  emit(): MetricBatch {
    const nowMs = (this.deps.now ?? Date.now)();
    const ts = nowMs / 1000;
    const b = this.batch;
    b.clear();
    const p = this.opts.prefix;
    for (const r of this.deps.reporters()) {
      const base = r.counterPath === '' ? p : `${p}.${r.counterPath}`;
      let last = this.last.get(r);
      if (last === undefined) this.last.set(r, (last = new Map()));
      const seen = last;
      r.reportCounters((key, value, kind) => {
        b.push(`${base}.${key}`, kind === 'counter' ? delta(seen, key, value) : value, ts);
      });
      r.resetPeaks?.();
    }
    const cpu = process.cpuUsage();
    const elapsedUs = Math.max(1, (nowMs - this.lastCpuAt) * 1000);
    b.push(`${p}.cpuUsage`, (100 * (cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system)) / elapsedUs, ts);
    this.lastCpu = cpu;
    this.lastCpuAt = nowMs;
    b.push(`${p}.memUsage`, process.memoryUsage.rss(), ts);
    this.deps.emit(b);
    return b;
  }

}

/** This interval's part of a counter; a reading below the last one means the counter started over (all of it is new). */
function delta(last: Map<string, number>, key: string, value: number): number {
  const previous = last.get(key) ?? 0;
  last.set(key, value);
  return value >= previous ? value - previous : value;
}
