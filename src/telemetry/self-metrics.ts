import os from 'node:os';
import { MetricBatch } from '../model/metric';
import type { Pipeline } from '../pipeline/pipeline';
import type { Destination } from '../output/destination';
import type { DestinationCounters, IngestCounters } from './counters';
import type { Source } from '../sources/source';

export interface SelfMetricsOptions {
  /** Emission interval in ms; 0 disables self-metrics. */
  intervalMs: number;
  /** Name prefix, e.g. `carbon.relays.myhost-a` (carbon-relay's scheme). */
  prefix: string;
  /** Include the HTTP front door's counters. */
  http?: boolean;
}

/** Counters reported as per-interval deltas, as carbon does (its stats dict is cleared every interval). */
const INGEST_DELTAS = [
  'metricsReceived',
  'invalidLines',
  'lineTooLong',
  'incompleteLines',
  'invalidTimestamps',
  'nanValues',
  'invalidPickles',
  'pickleTooLong',
  'invalidPickleItems',
  'invalidNames',
  'blackholed',
  'blacklistMatches',
  'whitelistRejects',
  'invalidTags',
] as const satisfies readonly (keyof IngestCounters)[];

/** Emitted only when the HTTP front door is enabled. */
const HTTP_DELTAS = [
  'httpRequests',
  'httpInvalidItems',
  'httpUnauthorized',
  'httpRateLimited',
  'httpOverloaded',
  'httpBadRequests',
  'httpSkippedItems',
] as const satisfies readonly (keyof IngestCounters)[];

const DESTINATION_DELTAS = [
  'sent',
  'attemptedRelays',
  'fullQueueDrops',
  'queuedUntilConnected',
  'batchesSent',
  'connectFailures',
] as const satisfies readonly (keyof DestinationCounters)[];

/** carbon's default prefix: `carbon.relays.<hostname with . -> _>-a`. */
export function defaultSelfMetricsPrefix(): string {
  return `carbon.relays.${os.hostname().replace(/\./g, '_')}-a`;
}

/**
 * Emits the relay's own counters every interval as ordinary datapoints through
 * the pipeline (so rules route them and destination queues bound them): drops
 * by reason, per-destination delivery, CPU and memory.
 */
export class SelfMetrics {
  private timer: NodeJS.Timeout | null = null;
  private readonly lastIngest = new Map<string, number>();
  private readonly lastDest = new Map<string, number>();
  private readonly lastSource = new Map<string, number>();
  private lastCpu = process.cpuUsage();
  private lastCpuAt = Date.now();
  private readonly batch = new MetricBatch(64);

  constructor(
    private readonly opts: SelfMetricsOptions,
    private readonly deps: {
      pipeline: Pipeline;
      counters: IngestCounters;
      destinations: ReadonlyMap<string, Destination>;
      now?: () => number;
      /** Pull sources: `sources.<name>.<key>` (polls, datapoints, apiErrors.<kind>, lastSuccessTime, ...). */
      sources?: ReadonlyMap<string, Source>;
    },
  ) {}

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => this.emit(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Collect one interval's datapoints and route them. Public so tests need no timers. */
  emit(): MetricBatch {
    const nowMs = (this.deps.now ?? Date.now)();
    const ts = nowMs / 1000;
    const b = this.batch;
    b.clear();
    const p = this.opts.prefix;
    for (const d of this.deps.destinations.values()) {
      const c = d.counters;
      const name = d.metricName;
      for (const key of DESTINATION_DELTAS) b.push(`${p}.destinations.${name}.${key}`, this.delta(this.lastDest, `${d.name}\n${key}`, c[key]), ts);
      b.push(`${p}.destinations.${name}.relayMaxQueueLength`, c.relayMaxQueueLength, ts);
      b.push(`${p}.destinations.${name}.queueLength`, d.queue.length, ts);
      c.relayMaxQueueLength = d.queue.length;
    }
    const ic = this.deps.counters;
    b.push(`${p}.activeConnections`, ic.activeConnections, ts);
    for (const key of INGEST_DELTAS) b.push(`${p}.${key}`, this.delta(this.lastIngest, key, ic[key]), ts);
    if (this.opts.http === true) for (const key of HTTP_DELTAS) b.push(`${p}.${key}`, this.delta(this.lastIngest, key, ic[key]), ts);
    for (const s of this.deps.sources?.values() ?? []) {
      s.telemetry((key, value, kind) => {
        b.push(`${p}.sources.${s.name}.${key}`, kind === 'delta' ? this.delta(this.lastSource, `${s.name}\n${key}`, value) : value, ts);
      });
    }
    const cpu = process.cpuUsage();
    const elapsedUs = Math.max(1, (nowMs - this.lastCpuAt) * 1000);
    b.push(`${p}.cpuUsage`, (100 * (cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system)) / elapsedUs, ts);
    this.lastCpu = cpu;
    this.lastCpuAt = nowMs;
    b.push(`${p}.memUsage`, process.memoryUsage.rss(), ts);
    this.deps.pipeline.acceptInternal(b);
    return b;
  }

  private delta(last: Map<string, number>, key: string, value: number): number {
    const d = value - (last.get(key) ?? 0);
    last.set(key, value);
    return d;
  }
}
