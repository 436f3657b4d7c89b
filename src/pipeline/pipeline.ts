import { MetricBatch, type Metric } from './metric';
import { isValidMetricName } from '../codec/metric-name';
import type { Destination, PressureListener } from '../output/destination';
import { RouteCache } from '../routing/route-cache';
import type { RuleSet } from '../routing/rule-set';
import type { IngestCounters } from '../telemetry/counters';
import type { Logger } from '../telemetry/logger';
import { RateLimitedLog } from '../telemetry/rate-limited-log';

/** A source the pipeline can slow down (TCP receivers map this to socket.pause()/resume()). */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/** Routing decision for a name: its destinations, or null when the name itself is rejected. */
type Route = readonly Destination[] | null;

export interface PipelineOptions {
  routeCacheSize: number;
}

/**
 * The single fan-out point: validates names, routes each (cached per name) and
 * offers the datapoint to every matched destination once. It also turns queue
 * pressure from connected destinations into pause/resume of the sources, so a
 * fast sender is slowed rather than dropped.
 */
export class Pipeline implements PressureListener {
  private readonly routes: RouteCache<Route>;
  private readonly pressured = new Set<Destination>();
  private readonly sources = new Set<Pausable>();
  private readonly limited: RateLimitedLog;
  private readonly one = new MetricBatch(1);

  constructor(
    private readonly rules: RuleSet<Destination>,
    private readonly counters: IngestCounters,
    log: Logger,
    opts: PipelineOptions,
  ) {
    this.routes = new RouteCache<Route>(opts.routeCacheSize, (name) => (isValidMetricName(name) ? this.rules.match(name) : null));
    this.limited = new RateLimitedLog(log);
  }

  /**
   * Route every datapoint in the batch. `origin` names the peer for log lines;
   * `received` is false for the relay's own metrics (not counted as received).
   */
  accept(batch: MetricBatch, origin: string, received = true): void {
    const { names, values, timestamps } = batch;
    const c = this.counters;
    let valid = 0;
    for (let i = 0; i < batch.length; i++) {
      const name = names[i];
      const route = this.routes.get(name);
      if (route === null) {
        c.invalidNames++;
        this.limited.warn(`name:${origin}`, 'invalid metric name, dropping datapoint', { peer: origin, name: JSON.stringify(name.slice(0, 200)) });
        continue;
      }
      valid++;
      if (route.length === 0) {
        c.blackholed++;
        continue;
      }
      const ts = timestamps[i];
      const v = values[i];
      for (let d = 0; d < route.length; d++) route[d].offer(name, ts, v);
    }
    if (received) c.metricsReceived += valid;
  }

  /** Convenience for single-datapoint producers (HTTP, pollers); same path as accept(). */
  acceptMetric(m: Metric, origin: string): void {
    this.one.clear();
    this.one.push(m.name, m.value, m.timestamp);
    this.accept(this.one, origin);
  }

  /** The destinations a name routes to, in send order (for `carbon-fanout route`). */
  route(name: string): readonly Destination[] | null {
    return this.routes.get(name);
  }

  get paused(): boolean {
    return this.pressured.size > 0;
  }

  /** Register a source; it is paused at once if the pipeline is under pressure. Returns the unregister function. */
  addSource(source: Pausable): () => void {
    this.sources.add(source);
    if (this.paused) source.pause();
    return () => this.sources.delete(source);
  }

  onPressure(destination: Destination, high: boolean): void {
    const wasPaused = this.paused;
    if (high) this.pressured.add(destination);
    else this.pressured.delete(destination);
    if (wasPaused === this.paused) return;
    for (const s of this.sources) {
      if (this.paused) s.pause();
      else s.resume();
    }
  }
}
