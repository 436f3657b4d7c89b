import { collectDefaultMetrics, Counter, Gauge, Registry, type Aggregator, type Metric, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { ingestCounterReporter, type CounterReporter, type HttpResponseCounts, type IngestCounters, type ListenerCounterEntry } from './counters';
import type { DurationHistogram } from './histogram';
import { FAMILIES, HISTOGRAMS, PROMETHEUS_PREFIX, targetOf, type FamilyName, type LabelName, type Scope } from './prometheus-names';

/**
 * What the exporter needs of a destination. Destination satisfies it
 * structurally, so telemetry/ never imports output/ (the layer rules).
 */
export interface ExportedDestination extends CounterReporter {
  /** The configured name: the `destination` label (not the Graphite metricName). */
  readonly name: string;
  readonly healthy: boolean;
  readonly queue: { readonly length: number; readonly limit: number };
  readonly flushSeconds: DurationHistogram;
}

/** A failover or any_of group (HealthGroup satisfies it). */
export interface ExportedGroup extends CounterReporter {
  readonly name: string;
  memberHealth(): readonly { readonly healthy: boolean }[];
}

/** A pull source (Source satisfies it). */
export interface ExportedSource extends CounterReporter {
  readonly name: string;
}

/** The ingest counters by who counted them (IngestCounterSet satisfies it). */
export interface ExportedIngest {
  /** The relay's own (the self-metrics path; reloads). */
  readonly relay: IngestCounters;
  readonly listeners: readonly ListenerCounterEntry[];
}

export interface PrometheusInputs {
  /** The counters whose sum self-metrics reports at the top level; families with a listener label get one series per listener. */
  readonly ingest: ExportedIngest;
  /** Whether the HTTP front door is on (its families exist only then); a reload may turn it on or off. */
  readonly http: () => boolean;
  /** The HTTP front door's answers by endpoint group and status (IngestCounterSet has them). */
  readonly httpResponses?: HttpResponseCounts;
  readonly destinations: readonly ExportedDestination[];
  readonly groups: readonly ExportedGroup[];
  readonly sources: readonly ExportedSource[];
  /** The aggregator's counters (it reports none while aggregation is off). */
  readonly aggregation?: CounterReporter;
  readonly version: string;
  readonly configHash: string;
}

type Labels = Partial<Record<LabelName, string>>;

interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

/** Every sample of one scrape, by family. */
type Reading = Map<FamilyName, Sample[]>;

/**
 * Prometheus exposition for one relay. Nothing on the data path calls
 * prom-client: components keep incrementing their plain counter fields, and a
 * scrape reads them once through the same CounterReporter visitors
 * self-metrics uses, then each family's collect() copies its share of that
 * reading into prom-client. Each relay has its own Registry (tests run many
 * relays in one process; the global registry would mix them).
 */
export class PrometheusExporter {
  readonly registry = new Registry();
  /** The reading of the scrape in progress; collect() falls back to a fresh one when called outside scrape(). */
  private reading: Reading | undefined;

  /** Families registered so far. */
  private readonly registered = new Set<FamilyName>();

  constructor(private readonly inputs: PrometheusInputs) {
    collectDefaultMetrics({ register: this.registry, prefix: PROMETHEUS_PREFIX });
    this.register(this.read());
    const name = PROMETHEUS_PREFIX + 'destination_flush_duration_seconds';
    const help = HISTOGRAMS.destination_flush_duration_seconds.help;
    this.registry.registerMetric(histogramOf(name, help, () => inputs.destinations.map((d) => ({ labels: { destination: d.name }, histogram: d.flushSeconds }))));
  }

  /**
   * Registers the families a reading has that are not registered yet. Which
   * are present depends only on the config (HTTP front door on, spools,
   * groups, sources): no always-zero series for features that are off, and a
   * reload that turns one on adds its families at the next scrape.
   */
  private register(present: Reading): void {
    for (const [family, spec] of Object.entries(FAMILIES) as [FamilyName, (typeof FAMILIES)[FamilyName]][]) {
      if (!present.has(family) || this.registered.has(family)) continue;
      this.registered.add(family);
      const aggregator: Aggregator = spec.acrossWorkers ?? 'sum';
      const config = { name: PROMETHEUS_PREFIX + family, help: spec.help, labelNames: spec.labels, registers: [this.registry], aggregator };
      if (spec.type === 'counter') {
        // Counters only have inc(): start from zero each scrape and add the current total.
        const c: Counter<LabelName> = new Counter<LabelName>({ ...config, collect: () => this.fill(family, (s) => c.inc(s.labels, s.value), () => c.reset()) });
      } else {
        const g: Gauge<LabelName> = new Gauge<LabelName>({ ...config, collect: () => this.fill(family, (s) => g.set(s.labels, s.value), () => g.reset()) });
      }
    }
  }

  /** GET /metrics: [content type, body]. */
  async scrape(): Promise<[string, string]> {
    return [this.registry.contentType, await this.withReading(() => this.registry.metrics())];
  }

  /** The same reading as prom-client's JSON, for a primary process to aggregate over workers (AggregatorRegistry.aggregate). */
  async json(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    return this.withReading(() => this.registry.getMetricsAsJSON());
  }

  private async withReading<T>(render: () => Promise<T>): Promise<T> {
    this.reading = this.read();
    this.register(this.reading);
    try {
      return await render();
    } finally {
      this.reading = undefined;
    }
  }

  private fill(family: FamilyName, put: (s: Sample) => void, reset: () => void): void {
    const reading = this.reading ?? this.read();
    // reset: a series whose labels are not in this reading must not linger from the last one
    reset();
    for (const s of reading.get(family) ?? []) put(s);
  }

  /** One pass over every component's counters. */
  private read(): Reading {
    const out: Reading = new Map();
    const add = (family: FamilyName, labels: Labels, value: number): void => {
      let list = out.get(family);
      if (list === undefined) out.set(family, (list = []));
      list.push({ labels, value });
    };
    const visitAll = (scope: Scope, reporter: CounterReporter, scopeLabels: Labels): void => {
      reporter.reportCounters((key, value) => {
        const t = targetOf(scope, key);
        // undefined: a counter added after this mapping was written; it stays out until it is named deliberately
        if (t === undefined || t === null) return;
        const labels: Labels = scope === 'relay' ? perListener(t.family, scopeLabels) : { ...scopeLabels };
        if (t.reason !== undefined) labels.reason = t.reason;
        if (t.kind !== undefined) labels.kind = t.kind;
        if (t.endpointGroup !== undefined) labels.endpoint_group = t.endpointGroup;
        if (t.status !== undefined) labels.status = t.status;
        add(t.family, labels, Number.isFinite(value) ? value : 0);
      });
    };
    const i = this.inputs;
    add('build_info', { version: i.version }, 1);
    add('config_info', { hash: i.configHash }, 1);
    // the relay's own counters carry listener="relay" where a family is per listener (self-metrics' own path)
    const owners: { labels: Labels; counters: IngestCounters }[] = [
      { labels: { listener: 'relay', protocol: 'internal' }, counters: i.ingest.relay },
      ...i.ingest.listeners.map((l) => ({ labels: { listener: l.name, protocol: l.protocol }, counters: l.counters })),
    ];
    for (const o of owners) visitAll('relay', ingestCounterReporter(o.counters, i.http()), o.labels);
    if (i.http() && i.httpResponses !== undefined) {
      // the family exists from the start, before the first answer gives it a series
      out.set('http_requests_total', []);
      visitAll('relay', { counterPath: '', reportCounters: (v) => i.httpResponses?.report(v) }, {});
    }
    for (const d of i.destinations) {
      const labels = { destination: d.name };
      visitAll('destination', d, labels);
      add('destination_queue_capacity', labels, d.queue.limit);
      add('destination_up', labels, d.healthy ? 1 : 0);
    }
    for (const g of i.groups) {
      visitAll('group', g, { group: g.name });
      add('group_members', { group: g.name }, g.memberHealth().length);
    }
    for (const s of i.sources) visitAll('source', s, { source: s.name });
    if (i.aggregation !== undefined) visitAll('aggregator', i.aggregation, {});
    return out;
  }
}

/**
 * A relay-scope family carries the owner's listener labels only if it is per
 * listener; the others (blackholed, filtered, reloads) sum over owners, which
 * Counter.inc does when the same (empty) label set is added twice.
 */
function perListener(family: FamilyName, owner: Labels): Labels {
  return (FAMILIES[family].labels as readonly LabelName[]).includes('listener') ? { ...owner } : {};
}

/**
 * A histogram family read from DurationHistograms at scrape time. prom-client's
 * Histogram can only observe(), so it could not show counts kept elsewhere;
 * the registry takes any object with a name and a get() that returns the
 * family as prom-client's own metrics do (documented by getMetricsAsJSON()).
 */
function histogramOf(name: string, help: string, read: () => { labels: Labels; histogram: DurationHistogram }[]): Metric<string> {
  const family = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    collect: () => undefined,
    reset: () => undefined,
    get: async () => ({
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      values: read().flatMap(({ labels, histogram: h }) => {
        const cumulative = h.cumulative();
        return [
          ...cumulative.map((value, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le: i < h.bounds.length ? h.bounds[i] : '+Inf' }, value })),
          { metricName: `${name}_sum`, labels, value: h.sum },
          { metricName: `${name}_count`, labels, value: h.count },
        ];
      }),
    }),
  };
  return family as unknown as Metric<string>;
}
