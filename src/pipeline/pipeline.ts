import { faultThreshold, NameFault, type NameValidation } from '../codec/name-validation';
import { MetricBatch, type Metric } from '../model/metric';
import type { DatapointTarget } from '../model/datapoint-target';
import type { MetricSink } from '../model/metric-sink';
import type { Pausable } from '../model/pausable';
import type { Destination, PressureListener } from '../output/destination';
import { FlowControl } from './flow-control';
import { RouteVerdict, type Route, type Router } from '../routing/router';
import type { IngestCounters } from '../telemetry/counters';
import type { Logger } from '../telemetry/logger';
import { RateLimitedLog } from '../telemetry/rate-limited-log';

const CARBON_THRESHOLD = faultThreshold('carbon');

type StrictFault = NameFault.EmptyComponent | NameFault.DisallowedCharacter | NameFault.StrictTooLong;
const STRICT_REASON: Readonly<Record<StrictFault, string>> = {
  [NameFault.EmptyComponent]: 'empty path component',
  [NameFault.DisallowedCharacter]: 'character outside listen.strict.allowedCharacters',
  [NameFault.StrictTooLong]: 'longer than listen.strict.maxLength',
};

/**
 * Sees each received datapoint that passed the filters, before it is routed
 * (the aggregator). Returns false when the datapoint must not be routed raw.
 */
export interface ReceivedTap {
  offer(name: string, timestamp: number, value: number): boolean;
}

export interface PipelineRouters {
  /** For received datapoints: filters, tags, rules. */
  received: Router<DatapointTarget>;
  /** For the relay's own metrics, which bypass the white/blacklists as in carbon. */
  internal: Router<DatapointTarget>;
  /** For aggregates when aggregation sends them to named destinations; undefined: through `internal` (the rules). */
  aggregates?: Router<DatapointTarget>;
  /** Aggregation, when configured: fed every received datapoint before routing. */
  tap?: ReceivedTap;
}

/**
 * The single fan-out point: routes each datapoint (decision cached per name)
 * and offers it to every chosen destination once, counting what is rejected
 * by reason. Its flow control slows producers while destinations catch up.
 */
export class Pipeline implements PressureListener, MetricSink<IngestCounters, NameValidation> {
  readonly flow = new FlowControl();
  private readonly limited: RateLimitedLog;
  private readonly one = new MetricBatch(1);

  constructor(
    /** Replaced whole (copy-on-write) by replaceRouters, never mutated. */
    private routers: PipelineRouters,
    /** The relay's own: the internal path's, and the default for producers that pass none (pull sources). */
    private readonly counters: IngestCounters,
    log: Logger,
    /** carbon's MIN_TIMESTAMP_RESOLUTION for received datapoints: int(ts) // res * res. 0 = off. */
    private timestampResolution = 0,
  ) {
    this.limited = new RateLimitedLog(log);
  }

  /** Route every received datapoint in the batch. `origin` names the peer for log lines; `validation` is the receiving listener's level. */
  accept(batch: MetricBatch, origin: string, counters: IngestCounters = this.counters, validation: NameValidation = 'carbon'): void {
    const res = this.timestampResolution;
    if (res > 0) {
      const ts = batch.timestamps;
      for (let i = 0; i < batch.length; i++) ts[i] = Math.floor(Math.trunc(ts[i]) / res) * res;
    }
    counters.metricsReceived += this.offer(batch, origin, this.routers.received, counters, faultThreshold(validation), this.routers.tap);
  }

  /** The relay's own metrics: routed like any other, not counted as received, not filtered. */
  acceptInternal(batch: MetricBatch): void {
    this.offer(batch, 'self-metrics', this.routers.internal, this.counters, CARBON_THRESHOLD, undefined);
  }

  /**
   * Aggregates: routed to the configured destinations, or by the rules without
   * the filters (as carbon-aggregator relays what it generates); never
   * aggregated again, not counted as received.
   */
  acceptAggregates(batch: MetricBatch): void {
    const r = this.routers;
    this.offer(batch, 'aggregator', r.aggregates ?? r.internal, this.counters, CARBON_THRESHOLD, undefined);
  }

  /** Convenience for single-datapoint producers (HTTP, pollers); same path as accept(). */
  acceptMetric(m: Metric, origin: string, counters: IngestCounters = this.counters): void {
    this.one.clear();
    this.one.push(m.name, m.value, m.timestamp);
    this.accept(this.one, origin, counters);
  }

  /** listen.maxNameLength as the routers in force apply it, for receivers that answer with the reason (HTTP). */
  get maxNameLength(): number {
    return this.routers.received.maxNameLength;
  }

  /** The routing decision for a name (for `carbon-fanout route` and tests). */
  route(name: string): Route<DatapointTarget> {
    return this.routers.received.route(name);
  }

  /** Reload: a new minTimestampResolution for the next batch. */
  setTimestampResolution(seconds: number): void {
    this.timestampResolution = seconds;
  }

  /** Swap in new rules, filters and rings at once: every batch is routed wholly by the old or wholly by the new. */
  replaceRouters(routers: PipelineRouters): void {
    this.routers = routers;
  }

  get paused(): boolean {
    return this.flow.paused;
  }

  /** Register a producer with flow control (paused at once if under pressure). Returns the unregister function. */
  addSource(source: Pausable): () => void {
    return this.flow.addProducer(source);
  }

  onPressure(destination: Destination, high: boolean): void {
    this.flow.onPressure(destination, high);
  }

  /** Returns how many datapoints were accepted for routing. */
  private offer(batch: MetricBatch, origin: string, router: Router<DatapointTarget>, c: IngestCounters, threshold: NameFault, tap: ReceivedTap | undefined): number {
    const { names, values, timestamps } = batch;
    let accepted = 0;
    for (let i = 0; i < batch.length; i++) {
      const route = router.route(names[i]);
      // the name's fault was found once, with its route: a level is one compare per datapoint
      if (route.fault >= threshold) {
        this.rejectName(route, origin, c);
        continue;
      }
      if (route.verdict !== RouteVerdict.Ok) {
        this.reject(route, origin, c);
        continue;
      }
      accepted++;
      if (route.tagError) c.invalidTags++;
      if (route.rewritten) c.rewritten++;
      if (tap !== undefined && !tap.offer(route.name, timestamps[i], values[i])) continue;
      const dests = route.destinations;
      if (dests.length === 0) {
        c.blackholed++;
        continue;
      }
      const name = route.name;
      const ts = timestamps[i];
      const v = values[i];
      for (let d = 0; d < dests.length; d++) dests[d].offer(name, ts, v);
    }
    return accepted;
  }

  /** A name the listener's validation level refuses, counted by reason; a sample logged, rate-limited. */
  private rejectName(route: Route<DatapointTarget>, origin: string, c: IngestCounters): void {
    const fault = route.fault;
    if (fault >= NameFault.Unprintable) {
      c.invalidNames++;
      this.limited.warn(`name:${origin}`, 'invalid metric name, dropping datapoint', () => ({ peer: origin, name: JSON.stringify(route.name.slice(0, 200)) }));
      return;
    }
    if (fault === NameFault.EmptyComponent) c.invalidNameEmptyComponent++;
    else if (fault === NameFault.DisallowedCharacter) c.invalidNameCharacter++;
    else c.invalidNameStrictLength++;
    this.limited.warn(`name-strict:${origin}`, 'metric name fails strict validation, dropping datapoint', () => ({
      peer: origin,
      reason: STRICT_REASON[fault as StrictFault],
      name: JSON.stringify(route.name.slice(0, 200)),
    }));
  }

  private reject(route: Route<DatapointTarget>, origin: string, c: IngestCounters): void {
    if (route.verdict === RouteVerdict.InvalidRewrite) {
      c.invalidRewrites++;
      this.limited.warn(`rewrite:${origin}`, 'a rewrite rule made the metric name empty, unsafe or too long, dropping datapoint', () => ({
        peer: origin,
        rewritten: JSON.stringify(route.name.slice(0, 200)),
      }));
      return;
    }
    if (route.verdict === RouteVerdict.Blacklisted) c.blacklistMatches++;
    else if (route.verdict === RouteVerdict.NotWhitelisted) c.whitelistRejects++;
    else if (route.verdict === RouteVerdict.NameTooLong) {
      c.nameTooLong++;
      // lazily: the name may be a megabyte, measured and cut only for the lines actually logged
      this.limited.warn(`name-long:${origin}`, 'metric name over maxNameLength, dropping datapoint', () => ({
        peer: origin,
        bytes: Buffer.byteLength(route.name, 'utf8'),
        maxNameLength: this.routers.received.maxNameLength,
        start: JSON.stringify(route.name.slice(0, 100)),
      }));
    } else {
      c.invalidNames++;
      this.limited.warn(`name:${origin}`, 'invalid metric name, dropping datapoint', () => ({ peer: origin, name: JSON.stringify(route.name.slice(0, 200)) }));
    }
  }
}
