import fs from 'node:fs';
import { readCaCertificates } from '../common/ca-certificates';
import type { Express } from 'express';
import type { RelayConfig } from '../config/load';
import type { HttpConfig, TlsListenConfig } from '../config/schema';
import { AdminListener } from '../admin/admin-listener';
import { StatusBuilder } from '../admin/status';
import { configHash } from '../config/hash';
import { NameInterner } from '../codec/name-interner';
import { PickleDecoder } from '../codec/pickle-decoder';
import type { ConnectionFeed } from '../ingest/connection-feed';
import { Readiness } from '../model/readiness';
import type { Component } from '../model/component';
import { createHttpApp } from '../ingest/http/app';
import type { EndpointGroup } from '../ingest/http/endpoint-group';
import { buildEndpointGroups } from '../ingest/http/groups';
import { HttpIngest, type HttpIngestDeps } from '../ingest/http/http-ingest';
import { HttpListener } from '../ingest/http/server';
import { LineProtocol } from '../ingest/line-protocol';
import { PickleProtocol } from '../ingest/pickle-protocol';
import { StreamListener, type ListenerTls } from '../ingest/stream-listener';
import { UdpListener } from '../ingest/udp-listener';
import type { Destination, PressureListener } from '../output/destination';
import { AnyOfGroup } from '../output/groups/any-of-group';
import { FailoverGroup } from '../output/groups/failover-group';
import type { HealthGroup } from '../output/groups/health-group';
import { buildDestination } from '../output/kinds';
import type { DatapointTarget } from '../model/datapoint-target';
import type { MetricBatch } from '../model/metric';
import type { NameValidation } from '../codec/name-validation';
import { Pipeline, type PipelineRouters } from '../pipeline/pipeline';
import { Aggregator } from '../aggregation/aggregator';
import { AggregationCounters, aggregationCounterReporter } from '../aggregation/counters';
import { parseAggregationRules } from '../routing/aggregation-rules';
import type { Timers } from '../common/timers';
import { buildRouters, type BuiltRouters } from '../routing/build';
import { CARBON_RELOAD_INTERVAL_MS, Reloader } from '../routing/reloader';
import { buildSources } from '../sources/build';
import { realTimers, type Source, type SourceDeps, type SourceTimers } from '../sources/source';
import { IngestCounterSet, ingestCounterReporter, type CounterReporter, type IngestCounters } from '../telemetry/counters';
import type { Logger } from '../telemetry/logger';
import { PrometheusExporter } from '../telemetry/prometheus';
import { RateLimitedLog } from '../telemetry/rate-limited-log';
import { defaultSelfMetricsPrefix, SelfMetrics } from '../telemetry/self-metrics';

export interface TopologyDeps {
  log: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** Timers the pull sources schedule polls and retries with; injectable for tests (fake clock). */
  timers?: SourceTimers;
  /** TCP receivers take their connections from here instead of listening (a worker of `workers: N`). */
  feed?: ConnectionFeed;
}

/** The receivers a config asks for, by role (tests and the CLI look them up; the relay only iterates). */
export interface Listeners {
  readonly line?: StreamListener;
  readonly lineTls?: StreamListener;
  readonly udp?: UdpListener;
  readonly pickle?: StreamListener;
  readonly pickleTls?: StreamListener;
  readonly http?: HttpListener;
}

/**
 * Every component of one relay, built and wired but not running: no socket is
 * open and no timer set until the Relay starts it. The lists say the order:
 * destinations first (they queue while connecting), then producers, then
 * background work; stopping goes the other way.
 */
/**
 * What a reload replaces as one unit: the destinations (identical ones are
 * kept, with their connections, queues and spools), failover/any_of groups,
 * the routers (rules, hash rings, filters, aggregation rules) and the file
 * reloader that watches the routers' files.
 */
export interface RoutingPart {
  readonly destinations: ReadonlyMap<string, Destination>;
  readonly healthGroups: readonly HealthGroup[];
  readonly routers: BuiltRouters<DatapointTarget>;
  readonly reloader: Reloader;
  /** The config's `aggregation`; a reload that leaves it (and its rules file) as it was keeps this one, with what it holds. */
  readonly aggregator: Aggregator | undefined;
}

export interface RoutingDeps {
  log: Logger;
  now: () => number;
  pressure: PressureListener;
  dataDir: string | undefined;
  /** What destinations (maxRate) and the aggregator wait with; the same clock as `now`. */
  timers: Timers;
  /** Every aggregator's counters (one object, so they never go backwards across reloads) and where aggregates go. */
  aggregation: { counters: AggregationCounters; emit: (batch: MetricBatch) => void };
}

/** What the pipeline routes with for a routing part: its routers, and its aggregator as the tap on received datapoints. */
export function pipelineRouters(routing: RoutingPart): PipelineRouters {
  const { received, internal, aggregates } = routing.routers;
  return { received, internal, aggregates, tap: routing.aggregator };
}

/** The config in force and what was built from it; a reload replaces all three together. */
export interface LiveState {
  config: RelayConfig;
  hash: string;
  routing: RoutingPart;
}

/**
 * Every component of one relay, built and wired but not running: no socket is
 * open and no timer set until the Relay starts it. Destinations start first
 * (they queue while connecting), then producers, then background work;
 * stopping goes the other way.
 */
export interface Topology {
  /** The config, its hash and the routing part in force (replaced by reload). */
  readonly live: LiveState;
  /** Lists other components read, kept current by reload (their contents are replaced in place). */
  readonly lists: {
    readonly destinations: Destination[];
    readonly healthGroups: HealthGroup[];
    readonly reporters: CounterReporter[];
    readonly ingestReporter: CounterReporter;
    readonly aggregationReporter: CounterReporter;
    readonly sources: Source[];
  };
  readonly routingDeps: RoutingDeps;
  /** Per listener, plus the relay's own (sources, reloads). */
  readonly counters: IngestCounterSet;
  readonly pipeline: Pipeline;
  /** Pull sources (Catchpoint pollers) by name; a reload replaces the ones whose settings changed. */
  readonly sources: Map<string, Source>;
  /** What sources are built with, and each running source's flow-control registration (to undo when replaced). */
  readonly sourceDeps: Omit<SourceDeps, 'stateDir' | 'maxNameLength'>;
  readonly sourceRelease: Map<Source, () => void>;
  readonly listeners: Listeners;
  /** Where the TCP receivers take connections from, when not listening themselves (kept for rebinding on reload). */
  readonly feed: ConnectionFeed | undefined;
  readonly selfMetrics: SelfMetrics;
  /** /ready: set by the relay as it starts and as it begins to stop. */
  readonly readiness: Readiness;
  /** /status's snapshot of this relay (the admin listener's, or a primary's over IPC). */
  readonly status: StatusBuilder;
  /** /metrics of this relay (built on first use). */
  readonly prometheus: () => PrometheusExporter;
  /** The operator's listener (/health, /ready, /status, /metrics), unless the config turns it off: started first, stopped last. */
  readonly admin: AdminListener | undefined;
  /** Receivers and pull sources: stopped first, so what they handed over is still delivered. Reload replaces rebound listeners in place. */
  readonly producers: Component[];
  /** Self-metrics: stopped after the producers and the routing part (it sends a last interval). */
  readonly background: readonly Component[];
}

/**
 * Builds the routing part of a config. `keep` offers destinations of the
 * routing part in force: one whose config is identical is reused as it is.
 */
export function buildRouting(config: RelayConfig, deps: RoutingDeps, keep?: { config: RelayConfig; routing: RoutingPart }): RoutingPart {
  const { log } = deps;
  // first: a bad rules file must refuse the config before anything is built
  const aggregator = buildAggregator(config, deps, keep);
  const previous = new Map((keep?.config.destinations ?? []).map((d) => [d.name, JSON.stringify(d)]));
  const destinations = new Map<string, Destination>();
  for (const d of config.destinations) {
    const same = previous.get(d.name) === JSON.stringify(d) ? keep?.routing.destinations.get(d.name) : undefined;
    destinations.set(d.name, same ?? buildDestination(d, { log, pressure: deps.pressure, dataDir: deps.dataDir, now: deps.now, timers: deps.timers }));
  }
  const healthGroups: HealthGroup[] = [];
  const routers = buildRouters<DatapointTarget>(config, (d) => destinations.get(d.name) as Destination, log, (g) => {
    const members = g.members.map((m) => destinations.get(m) as Destination);
    const group = g.type === 'failover' ? new FailoverGroup(g.name, members, log) : new AnyOfGroup(g.name, members, log);
    healthGroups.push(group);
    return group;
  });
  const reloader = new Reloader(routers.reloadables, CARBON_RELOAD_INTERVAL_MS, () => {
    routers.received.invalidate();
    routers.internal.invalidate();
  });
  return { destinations, healthGroups, routers, reloader, aggregator };
}

/** The aggregator a config asks for: the one in force when nothing it is built from changed, else a new one (not started). */
function buildAggregator(config: RelayConfig, deps: RoutingDeps, keep: { config: RelayConfig; routing: RoutingPart } | undefined): Aggregator | undefined {
  const a = config.aggregation;
  if (a === undefined) return undefined;
  const settings = (c: RelayConfig): string => JSON.stringify([c.aggregation, c.routeCacheSize]);
  if (keep?.routing.aggregator !== undefined && settings(keep.config) === settings(config)) return keep.routing.aggregator;
  const rules = parseAggregationRules(a.rulesText, a.rulesFile);
  const { keepRaw, maxIntervals, writeBackFrequency, maxAggregates, maxValues } = a;
  return new Aggregator(
    { rules, keepRaw, maxIntervals, writeBackFrequency, maxAggregates, maxValues, nameCacheSize: config.routeCacheSize },
    { emit: deps.aggregation.emit, counters: deps.aggregation.counters, log: deps.log, now: deps.now, timers: deps.timers },
  );
}

/** Turns a validated config into a topology. Builds only: opens nothing, starts nothing. */
export function buildTopology(config: RelayConfig, deps: TopologyDeps): Topology {
  const log = deps.log;
  const now = deps.now ?? Date.now;
  const counters = new IngestCounterSet();
  // the pipeline exists only once the routers do, which need the destinations: pressure is forwarded late
  let pipeline: Pipeline | undefined;
  const pressure = { onPressure: (d: Destination, high: boolean) => pipeline?.onPressure(d, high) };
  const aggregationCounters = new AggregationCounters();
  const aggregation = { counters: aggregationCounters, emit: (b: MetricBatch) => pipeline?.acceptAggregates(b) };
  const routingDeps: RoutingDeps = { log, now, pressure, dataDir: config.dataDir, timers: deps.timers ?? realTimers, aggregation };
  const routing = buildRouting(config, routingDeps);
  pipeline = new Pipeline(pipelineRouters(routing), counters.relay, log, config.minTimestampResolution);
  pipeline.flow.watch([...routing.destinations.values()]);
  // live lists: a reload replaces their contents in place, between two events, so every reader follows
  const destinationList = [...routing.destinations.values()];
  const healthGroups = [...routing.healthGroups];

  const sourceCounters = counters.listener('sources', 'pull');
  const p0 = pipeline;
  const sourceSink = { accept: (b: MetricBatch, origin: string) => p0.accept(b, origin, sourceCounters) };
  const sourceDeps = { sink: sourceSink, log, now, timers: deps.timers ?? realTimers };
  const sources = buildSources(config.sources, { ...sourceDeps, maxNameLength: config.listen.maxNameLength }, config.dataDir);
  const sourceRelease = new Map<Source, () => void>();
  for (const s of sources.values()) sourceRelease.set(s, pipeline.addSource(s));
  const sourceList = [...sources.values()];
  const listeners = buildListeners(config, pipeline, counters, log, now, deps.feed);

  const ingestReporter = ingestCounterReporter(() => counters.total(), () => live.config.listen.http !== undefined, counters.httpResponses);
  const aggregationReporter = aggregationCounterReporter(aggregationCounters, () => live.config.aggregation !== undefined);
  const reporters: CounterReporter[] = [ingestReporter, aggregationReporter, ...destinationList, ...healthGroups, ...sources.values()];
  const p = pipeline;
  const selfMetrics = new SelfMetrics(
    { intervalMs: config.selfMetrics.intervalMs, prefix: config.selfMetrics.prefix ?? defaultSelfMetricsPrefix() },
    { reporters: () => reporters, emit: (b) => p.acceptInternal(b), now },
  );
  const { line, lineTls, udp, pickle, pickleTls, http } = listeners;
  const live: LiveState = { config, hash: configHash(config), routing };
  const readiness = new Readiness();
  const status = new StatusBuilder({
    configFile: config.file,
    get configHash() {
      return live.hash;
    },
    readiness,
    get counters() {
      return counters.total();
    },
    // read from the record each time, so listeners a reload rebinds show at once
    get listeners() {
      const { line, lineTls, udp, pickle, pickleTls, http } = listeners;
      return [line, lineTls, udp, pickle, pickleTls, http].filter((l) => l !== undefined);
    },
    destinations: destinationList,
    groups: healthGroups,
    sources: sourceList,
    now,
  });
  // built on first use: a worker process answers its primary's scrapes without an admin listener of its own
  let exporter: PrometheusExporter | undefined;
  const prometheus = (): PrometheusExporter =>
    (exporter ??= new PrometheusExporter({
      ingest: counters,
      http: () => live.config.listen.http !== undefined,
      httpResponses: counters.httpResponses,
      destinations: destinationList,
      groups: healthGroups,
      sources: sourceList,
      aggregation: aggregationReporter,
      version: status.version,
      get configHash() {
        return live.hash;
      },
    }));
  const admin = config.admin === false ? undefined : new AdminListener(config.admin, { status, readiness, log, metrics: () => prometheus().scrape() });
  return {
    live,
    lists: { destinations: destinationList, healthGroups, reporters, ingestReporter, aggregationReporter, sources: sourceList },
    routingDeps,
    readiness,
    status,
    prometheus,
    admin,
    counters,
    pipeline,
    sources,
    sourceDeps,
    sourceRelease,
    listeners,
    feed: deps.feed,
    selfMetrics,
    producers: [...[line, lineTls, udp, pickle, pickleTls, http].filter((l) => l !== undefined), ...sources.values()],
    background: [selfMetrics],
  };
}

/** The receivers a config asks for (none started); a reload builds a set for the new config and takes the slots that changed. */
export interface StreamListenerAddress {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** The TCP receivers' names and addresses, as buildListeners names them (the primary of `workers: N` listens on these). */
export function streamListenerAddresses(listen: RelayConfig['listen']): StreamListenerAddress[] {
  const out: StreamListenerAddress[] = [];
  const add = (name: string, a: { host: string; port: number } | undefined): void => {
    if (a !== undefined) out.push({ name, host: a.host, port: a.port });
  };
  add(LISTENER_NAMES.line, listen.line?.tcp);
  add(LISTENER_NAMES.lineTls, listen.line?.tls);
  add(LISTENER_NAMES.pickle, listen.pickle?.tcp);
  add(LISTENER_NAMES.pickleTls, listen.pickle?.tls);
  return out;
}

const LISTENER_NAMES = { line: 'line', lineTls: 'line-tls', pickle: 'pickle', pickleTls: 'pickle-tls' } as const;

export function buildListeners(config: RelayConfig, pipeline: Pipeline, counterSet: IngestCounterSet, log: Logger, now: () => number, feed?: ConnectionFeed): Listeners {
  const limited = new RateLimitedLog(log);
  // one table for every receiver of this process: a name seen on any connection is decoded once
  const names = new NameInterner(config.routeCacheSize);
  const protocolDeps = (counters: IngestCounters, validation: NameValidation) => ({ sink: pipeline, counters, validation, limited, now, names });
  const listenerDeps = (counters: IngestCounters) => ({ pipeline, counters, log, feed });
  const { maxConnections, maxConnectionsPerClient, idleTimeout, proxyProtocol, maxConnectionAge, line, pickle, http } = config.listen;
  // a listener's own maxConnectionsPerClient, when set, overrides the relay-wide one
  const limits = (own: { maxConnectionsPerClient?: number }) => ({ maxConnections, maxConnectionsPerClient: own.maxConnectionsPerClient ?? maxConnectionsPerClient, idleTimeout, proxyProtocol, maxConnectionAge });
  const out: { -readonly [K in keyof Listeners]: Listeners[K] } = {};
  if (line !== undefined) {
    const lineProtocol =
      (counters: IngestCounters, timestampOptional: boolean) =>
      (peer: string): LineProtocol =>
        new LineProtocol(peer, { maxLineLength: line.maxLineLength, timestampOptional }, protocolDeps(counters, line.validation));
    if (line.tcp) {
      const { host, port, timestampOptional } = line.tcp;
      const c = counterSet.listener(LISTENER_NAMES.line, 'line');
      out.line = new StreamListener({ name: LISTENER_NAMES.line, host, port, ...limits(line.tcp) }, { ...listenerDeps(c), protocol: lineProtocol(c, timestampOptional) });
    }
    if (line.tls) {
      const t = line.tls;
      const c = counterSet.listener(LISTENER_NAMES.lineTls, 'line');
      out.lineTls = new StreamListener({ name: LISTENER_NAMES.lineTls, host: t.host, port: t.port, tls: listenerTls(t), ...limits(t) }, { ...listenerDeps(c), protocol: lineProtocol(c, t.timestampOptional) });
    }
    if (line.udp) {
      const { host, port, timestampOptional } = line.udp;
      out.udp = new UdpListener({ host, port }, { log, protocol: lineProtocol(counterSet.listener('line-udp', 'line'), timestampOptional) });
    }
  }
  if (pickle !== undefined) {
    const pickleProtocol = (counters: IngestCounters) => {
      const pickleDeps = { ...protocolDeps(counters, pickle.validation), decoder: new PickleDecoder({ names }) };
      return (peer: string): PickleProtocol => new PickleProtocol(peer, pickle.maxFrameLength, pickleDeps);
    };
    if (pickle.tcp) {
      const c = counterSet.listener(LISTENER_NAMES.pickle, 'pickle');
      out.pickle = new StreamListener({ name: LISTENER_NAMES.pickle, host: pickle.tcp.host, port: pickle.tcp.port, ...limits(pickle.tcp) }, { ...listenerDeps(c), protocol: pickleProtocol(c) });
    }
    if (pickle.tls) {
      const t = pickle.tls;
      const c = counterSet.listener(LISTENER_NAMES.pickleTls, 'pickle');
      out.pickleTls = new StreamListener({ name: LISTENER_NAMES.pickleTls, host: t.host, port: t.port, tls: listenerTls(t), ...limits(t) }, { ...listenerDeps(c), protocol: pickleProtocol(c) });
    }
  }
  if (http !== undefined) out.http = buildHttpListener(http, config.http, { pipeline, counters: counterSet.listener('http', 'http'), responses: counterSet.httpResponses, log, limited, now });
  return out;
}

/** A TLS listener's files, read as it is built (a reload that rebinds it reads them again). */
function listenerTls(t: TlsListenConfig): ListenerTls {
  return {
    cert: fs.readFileSync(t.cert),
    key: fs.readFileSync(t.key),
    clientCa: readCaCertificates(t.clientCa, t.clientCaPath),
    requireClientCert: t.requireClientCert,
  };
}

/** The HTTP front door's app and endpoint groups for one config; `release` unregisters its ingest from flow control. */
export interface HttpFrontDoor {
  app: Express;
  groups: EndpointGroup[];
  release: () => void;
}

export function buildHttpFrontDoor(http: HttpConfig, deps: Omit<HttpIngestDeps, 'room'>): HttpFrontDoor {
  const flow = deps.pipeline.flow;
  const ingest = new HttpIngest({ ...deps, room: () => flow.admissionRoom(), names: new NameInterner() }, Math.min(http.maxItems, flow.maxAdmission()));
  const release = deps.pipeline.addSource(ingest);
  const groups = buildEndpointGroups({ ingest, http });
  return { app: createHttpApp(http, ingest, groups), groups, release };
}

/** What the HTTP front door of a relay is built with (the same across reloads). */
export function httpDeps(t: Pick<Topology, 'pipeline' | 'counters' | 'routingDeps'>): Omit<HttpIngestDeps, 'room'> {
  const { log, now } = t.routingDeps;
  return { pipeline: t.pipeline, counters: t.counters.listener('http', 'http'), responses: t.counters.httpResponses, log, limited: new RateLimitedLog(log), now };
}

function buildHttpListener(listen: NonNullable<RelayConfig['listen']['http']>, http: HttpConfig, deps: Omit<HttpIngestDeps, 'room'>): HttpListener {
  const door = buildHttpFrontDoor(http, deps);
  return new HttpListener(listen, door.app, door.groups, deps.log, door.release);
}
