import type { Timers } from '../common/timers';
import type { Component, StopReport } from '../model/component';
import { cleanStop } from '../model/component';
import { MetricBatch } from '../model/metric';
import type { AggregationMethod, AggregationRule } from '../routing/aggregation-rules';
import { RouteCache } from '../routing/route-cache';
import type { Logger } from '../telemetry/logger';
import { RateLimitedLog } from '../telemetry/rate-limited-log';
import type { AggregationCounters } from './counters';
import { aggregateValue, IntervalState, keepsValues } from './methods';

export interface AggregatorOptions {
  /** aggregation-rules.conf, in file order. */
  readonly rules: readonly AggregationRule[];
  /** carbon's FORWARD_ALL, for datapoints that match a rule: route them raw as well. */
  readonly keepRaw: boolean;
  /** carbon's MAX_AGGREGATION_INTERVALS: intervals kept (and re-emitted on late data) behind the current one. */
  readonly maxIntervals: number;
  /** carbon's WRITE_BACK_FREQUENCY, seconds: compute at most this far apart (undefined: every frequency). */
  readonly writeBackFrequency: number | undefined;
  /** Open aggregates at most; a datapoint for a new one beyond it is refused and counted. */
  readonly maxAggregates: number;
  /** Values held for percentile methods at most, over every aggregate. */
  readonly maxValues: number;
  /** Received names whose matching rules are memoised. */
  readonly nameCacheSize: number;
}

export interface AggregatorDeps {
  /** Where computed aggregates go (the pipeline: through the rules, or to the configured destinations). */
  readonly emit: (batch: MetricBatch) => void;
  readonly counters: AggregationCounters;
  readonly log: Logger;
  /** Epoch milliseconds. */
  readonly now: () => number;
  readonly timers: Timers;
}

/** An aggregate a received name feeds: the rule that matched it and the name it produced. */
interface Output {
  readonly rule: AggregationRule;
  readonly name: string;
}

/** What the aggregator does with a received name, decided once per name. */
interface NameMatch {
  readonly outputs: readonly Output[];
  /** Route the datapoint raw too. */
  readonly forward: boolean;
}

const NO_MATCH: NameMatch = Object.freeze({ outputs: Object.freeze([]), forward: true });

/** The aggregates computed every `seconds` (min(writeBackFrequency, frequency)), on wall-clock multiples of it. */
class ComputeGroup {
  readonly members = new Set<OpenAggregate>();
  /** floor(now / seconds) at the last compute. */
  lastSlot = 0;

  constructor(readonly seconds: number) {}
}

/** carbon's MetricBuffer: one output name, configured by the rule that opened it. */
class OpenAggregate {
  readonly intervals = new Map<number, IntervalState>();

  constructor(
    readonly name: string,
    readonly method: AggregationMethod,
    readonly frequency: number,
    readonly group: ComputeGroup,
  ) {}
}

/** Python's floor modulo, which carbon's `timestamp % frequency` is (JS's % truncates). */
function floorMod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

/**
 * carbon-aggregator's aggregation, fed with received datapoints after the
 * filters and before routing. Each datapoint goes into the interval
 * `timestamp - timestamp % frequency` of every aggregate a rule names for it
 * (carbon's order and naming; the first rule to open an aggregate sets its
 * method and frequency). Every frequency seconds (or writeBackFrequency) each
 * interval that received values since it was last emitted is emitted again
 * with its value over all its values, and intervals older than maxIntervals
 * are forgotten. Unlike carbon, computes happen on wall-clock multiples of
 * the frequency (not every frequency from the aggregate's first datapoint),
 * and a datapoint for a forgotten interval is refused and counted instead of
 * starting that interval over with only itself. Memory is bounded: open
 * aggregates (maxAggregates), intervals per aggregate (maxIntervals behind and
 * ahead) and percentile values (maxValues).
 */
export class Aggregator implements Component {
  readonly name = 'aggregator';
  private readonly open = new Map<string, OpenAggregate>();
  private readonly groups = new Map<number, ComputeGroup>();
  private readonly names: RouteCache<NameMatch>;
  private readonly limited: RateLimitedLog;
  private readonly batch = new MetricBatch(256);
  private timer: unknown;
  private running = false;

  constructor(
    readonly opts: AggregatorOptions,
    private readonly deps: AggregatorDeps,
  ) {
    this.names = new RouteCache(opts.nameCacheSize, (name) => this.match(name));
    this.limited = new RateLimitedLog(deps.log);
    for (const r of opts.rules) {
      const seconds = this.computeSeconds(r.frequency);
      if (!this.groups.has(seconds)) this.groups.set(seconds, new ComputeGroup(seconds));
    }
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const nowS = Math.floor(this.deps.now() / 1000);
    for (const g of this.groups.values()) g.lastSlot = Math.floor(nowS / g.seconds);
    this.schedule();
  }

  /** Emits every interval not emitted since its last value (the current, partial one too), then forgets them all. */
  async stop(_deadline: number): Promise<StopReport> {
    this.running = false;
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    const b = this.batch;
    b.clear();
    for (const agg of this.open.values()) {
      for (const s of agg.intervals.values()) if (s.active) this.push(agg, s);
      this.close(agg);
    }
    if (b.length > 0) this.deps.emit(b);
    return cleanStop(this.name);
  }

  /**
   * A received datapoint (its name as routed). Returns whether it should be
   * routed raw as well: always for a name no rule matches.
   */
  offer(name: string, timestamp: number, value: number): boolean {
    const m = this.names.get(name);
    const outputs = m.outputs;
    for (let i = 0; i < outputs.length; i++) this.add(outputs[i], timestamp, value);
    if (!m.forward) this.deps.counters.rawConsumed++;
    return m.forward;
  }

  /** Open aggregates now (tests, status). */
  get size(): number {
    return this.open.size;
  }

  /** Compute what is due now and emit it; public so tests can drive it without timers. */
  tick(): void {
    const nowS = Math.floor(this.deps.now() / 1000);
    const b = this.batch;
    b.clear();
    for (const g of this.groups.values()) {
      const slot = Math.floor(nowS / g.seconds);
      if (slot <= g.lastSlot) continue;
      g.lastSlot = slot;
      for (const agg of g.members) this.compute(agg, nowS);
    }
    if (b.length > 0) this.deps.emit(b);
  }

  private schedule(): void {
    if (!this.running || this.groups.size === 0) return;
    const nowMs = this.deps.now();
    let due = Infinity;
    for (const g of this.groups.values()) due = Math.min(due, (Math.floor(nowMs / 1000 / g.seconds) + 1) * g.seconds * 1000);
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = undefined;
      this.tick();
      this.schedule();
    }, Math.max(1, due - nowMs));
  }

  private computeSeconds(frequency: number): number {
    const w = this.opts.writeBackFrequency;
    return w === undefined ? frequency : Math.min(w, frequency);
  }

  /** carbon's AggregationProcessor: every rule's aggregate name; forwarded unless keepRaw is off or the name is one of its own aggregates. */
  private match(name: string): NameMatch {
    const outputs: Output[] = [];
    let selfNamed = false;
    for (const rule of this.opts.rules) {
      const out = rule.aggregateName(name);
      if (out === undefined) continue;
      // as carbon: a datapoint two rules send to one aggregate is added to it twice
      outputs.push({ rule, name: out });
      if (out === name) selfNamed = true;
    }
    if (outputs.length === 0) return NO_MATCH;
    return { outputs, forward: this.opts.keepRaw && !selfNamed };
  }

  private add(out: Output, timestamp: number, value: number): void {
    const c = this.deps.counters;
    let agg = this.open.get(out.name);
    const frequency = agg?.frequency ?? out.rule.frequency;
    const interval = timestamp - floorMod(timestamp, frequency);
    const nowS = Math.floor(this.deps.now() / 1000);
    const current = nowS - floorMod(nowS, frequency);
    const span = this.opts.maxIntervals * frequency;
    if (interval < current - span) {
      c.lateDatapoints++;
      this.limited.warn('late', 'datapoint for an aggregation interval already emitted and forgotten (older than maxIntervals), dropping it', () => ({ aggregate: out.name, timestamp }));
      return;
    }
    if (interval > current + span) {
      c.futureDatapoints++;
      this.limited.warn('future', 'datapoint for an aggregation interval more than maxIntervals ahead of the clock, dropping it', () => ({ aggregate: out.name, timestamp }));
      return;
    }
    if (agg === undefined) {
      if (this.open.size >= this.opts.maxAggregates) {
        c.aggregateCapHits++;
        this.limited.warn('cap', 'maxAggregates aggregates open, dropping datapoints for new ones', () => ({ maxAggregates: this.opts.maxAggregates, aggregate: out.name }));
        return;
      }
      const group = this.groups.get(this.computeSeconds(frequency)) as ComputeGroup;
      agg = new OpenAggregate(out.name, out.rule.method, frequency, group);
      this.open.set(out.name, agg);
      group.members.add(agg);
      c.openAggregates++;
    }
    let s = agg.intervals.get(interval);
    const keeps = keepsValues(agg.method);
    if (keeps && c.heldValues >= this.opts.maxValues) {
      c.valueCapHits++;
      this.limited.warn('values', 'maxValues percentile values held, dropping datapoints for percentile aggregates', () => ({ maxValues: this.opts.maxValues, aggregate: out.name }));
      if (agg.intervals.size === 0) this.close(agg);
      return;
    }
    if (s === undefined) agg.intervals.set(interval, (s = new IntervalState(interval, keeps ? [] : undefined)));
    s.add(value);
    if (keeps) c.heldValues++;
    c.datapointsAggregated++;
  }

  /** carbon's MetricBuffer.compute_value: emit the intervals with new values, forget the ones past maxIntervals. */
  private compute(agg: OpenAggregate, nowS: number): void {
    const f = agg.frequency;
    const threshold = nowS - floorMod(nowS, f) - this.opts.maxIntervals * f;
    for (const s of agg.intervals.values()) {
      if (s.active) this.push(agg, s);
      if (s.interval < threshold) this.forget(agg, s);
    }
    if (agg.intervals.size === 0) this.close(agg);
  }

  private push(agg: OpenAggregate, s: IntervalState): void {
    this.batch.push(agg.name, aggregateValue(agg.method, s), s.interval);
    s.active = false;
    this.deps.counters.aggregatesEmitted++;
  }

  private forget(agg: OpenAggregate, s: IntervalState): void {
    agg.intervals.delete(s.interval);
    this.deps.counters.heldValues -= s.values?.length ?? 0;
  }

  private close(agg: OpenAggregate): void {
    for (const s of agg.intervals.values()) this.forget(agg, s);
    agg.group.members.delete(agg);
    this.open.delete(agg.name);
    this.deps.counters.openAggregates--;
  }
}
