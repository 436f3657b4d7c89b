import fs from 'node:fs';
import type { RelayConfig } from '../config/load';
import type { HttpConfig } from '../config/schema';
import { AdminListener } from '../admin/admin-listener';
import { StatusBuilder } from '../admin/status';
import { configHash } from '../config/hash';
import { PickleDecoder } from '../codec/pickle-decoder';
import { Readiness } from '../model/readiness';
import type { Component } from '../model/component';
import { createHttpApp } from '../ingest/http/app';
import { buildEndpointGroups } from '../ingest/http/groups';
import { HttpIngest } from '../ingest/http/http-ingest';
import { HttpListener } from '../ingest/http/server';
import { LineProtocol } from '../ingest/line-protocol';
import { PickleProtocol } from '../ingest/pickle-protocol';
import { StreamListener } from '../ingest/stream-listener';
import { UdpListener } from '../ingest/udp-listener';
import type { Destination } from '../output/destination';
import { AnyOfGroup } from '../output/groups/any-of-group';
import { FailoverGroup } from '../output/groups/failover-group';
import type { HealthGroup } from '../output/groups/health-group';
import { buildDestination } from '../output/kinds';
import type { DatapointTarget } from '../model/datapoint-target';
import { Pipeline } from '../pipeline/pipeline';
import { buildRouters } from '../routing/build';
import { CARBON_RELOAD_INTERVAL_MS, Reloader } from '../routing/reloader';
import { buildSources } from '../sources/build';
import { realTimers, type Source, type SourceTimers } from '../sources/source';
import { IngestCounters, ingestCounterReporter, type CounterReporter } from '../telemetry/counters';
import type { Logger } from '../telemetry/logger';
import { prometheusMetrics } from '../telemetry/prometheus';
import { RateLimitedLog } from '../telemetry/rate-limited-log';
import { defaultSelfMetricsPrefix, SelfMetrics } from '../telemetry/self-metrics';

export interface TopologyDeps {
  log: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** Timers the pull sources schedule polls and retries with; injectable for tests (fake clock). */
  timers?: SourceTimers;
}

/** The receivers a config asks for, by role (tests and the CLI look them up; the relay only iterates). */
export interface Listeners {
  readonly line?: StreamListener;
  readonly lineTls?: StreamListener;
  readonly udp?: UdpListener;
  readonly pickle?: StreamListener;
  readonly http?: HttpListener;
}

/**
 * Every component of one relay, built and wired but not running: no socket is
 * open and no timer set until the Relay starts it. The lists say the order:
 * destinations first (they queue while connecting), then producers, then
 * background work; stopping goes the other way.
 */
export interface Topology {
  readonly config: RelayConfig;
  readonly counters: IngestCounters;
  readonly pipeline: Pipeline;
  readonly destinations: ReadonlyMap<string, Destination>;
  /** Pull sources (Catchpoint pollers) by name. */
  readonly sources: ReadonlyMap<string, Source>;
  readonly listeners: Listeners;
  readonly selfMetrics: SelfMetrics;
  /** /ready: set by the relay as it starts and as it begins to stop. */
  readonly readiness: Readiness;
  /** The operator's listener (/health, /ready, /status, /metrics), unless the config turns it off: started first, stopped last. */
  readonly admin: AdminListener | undefined;
  readonly configHash: string;
  /** Receivers and pull sources: stopped first, so what they handed over is still delivered. */
  readonly producers: readonly Component[];
  /** File reloaders and self-metrics: stopped after the producers (self-metrics sends a last interval). */
  readonly background: readonly Component[];
  /** Whose counters self-metrics reports. */
  readonly reporters: readonly CounterReporter[];
}

/** Turns a validated config into a topology. Builds only: opens nothing, starts nothing. */
export function buildTopology(config: RelayConfig, deps: TopologyDeps): Topology {
  const log = deps.log;
  const now = deps.now ?? Date.now;
  const counters = new IngestCounters();
  // the pipeline exists only once the routers do, which need the destinations: pressure is forwarded late
  let pipeline: Pipeline | undefined;
  const pressure = { onPressure: (d: Destination, high: boolean) => pipeline?.onPressure(d, high) };
  const destinations = new Map<string, Destination>();
  for (const d of config.destinations) destinations.set(d.name, buildDestination(d, { log, pressure, dataDir: config.dataDir, now }));
  const healthGroups: HealthGroup[] = [];
  const routers = buildRouters<DatapointTarget>(config, (d) => destinations.get(d.name) as Destination, log, (g) => {
    const members = g.members.map((m) => destinations.get(m) as Destination);
    const group = g.type === 'failover' ? new FailoverGroup(g.name, members, log) : new AnyOfGroup(g.name, members, log);
    healthGroups.push(group);
    return group;
  });
  pipeline = new Pipeline(routers, counters, log, config.minTimestampResolution);
  pipeline.flow.watch([...destinations.values()]);
  const reloader = new Reloader(routers.reloadables, CARBON_RELOAD_INTERVAL_MS, () => {
    routers.received.invalidate();
    routers.internal.invalidate();
  });

  const sources = buildSources(config.sources, { sink: pipeline, log, now, timers: deps.timers ?? realTimers }, config.dataDir);
  for (const s of sources.values()) pipeline.addSource(s);
  const listeners = buildListeners(config, pipeline, counters, log, now);

  const reporters: CounterReporter[] = [ingestCounterReporter(counters, config.listen.http !== undefined), ...destinations.values(), ...healthGroups, ...sources.values()];
  const p = pipeline;
  const selfMetrics = new SelfMetrics(
    { intervalMs: config.selfMetrics.intervalMs, prefix: config.selfMetrics.prefix ?? defaultSelfMetricsPrefix() },
    { reporters: () => reporters, emit: (b) => p.acceptInternal(b), now },
  );
  const { line, lineTls, udp, pickle, http } = listeners;
  const hash = configHash(config);
  const readiness = new Readiness();
  const status = new StatusBuilder({
    configFile: config.file,
    configHash: hash,
    readiness,
    counters,
    listeners: [line, lineTls, udp, pickle, http].filter((l) => l !== undefined),
    destinations: [...destinations.values()],
    groups: healthGroups,
    sources: [...sources.values()],
    now,
  });
  const admin =
    config.admin === false
      ? undefined
      : new AdminListener(config.admin, {
          status,
          readiness,
          log,
          metrics: prometheusMetrics({ reporters, destinations: [...destinations.values()], groups: healthGroups, sources: [...sources.values()], version: status.version, configHash: hash }),
        });
  return {
    config,
    readiness,
    admin,
    configHash: hash,
    counters,
    pipeline,
    destinations,
    sources,
    listeners,
    selfMetrics,
    producers: [...[line, lineTls, udp, pickle, http].filter((l) => l !== undefined), ...sources.values()],
    background: [reloader, ...healthGroups, selfMetrics],
    reporters,
  };
}

function buildListeners(config: RelayConfig, pipeline: Pipeline, counters: IngestCounters, log: Logger, now: () => number): Listeners {
  const limited = new RateLimitedLog(log);
  const protocolDeps = { sink: pipeline, counters, limited, now };
  const listenerDeps = { pipeline, counters, log };
  const { maxConnections, line, pickle, http } = config.listen;
  const out: { -readonly [K in keyof Listeners]: Listeners[K] } = {};
  if (line !== undefined) {
    const lineProtocol = (peer: string): LineProtocol => new LineProtocol(peer, line.maxLineLength, protocolDeps);
    if (line.tcp) out.line = new StreamListener({ name: 'line', ...line.tcp, maxConnections }, { ...listenerDeps, protocol: lineProtocol });
    if (line.tls) {
      const t = line.tls;
      out.lineTls = new StreamListener(
        { name: 'line-tls', host: t.host, port: t.port, tls: { cert: fs.readFileSync(t.cert), key: fs.readFileSync(t.key) }, maxConnections },
        { ...listenerDeps, protocol: lineProtocol },
      );
    }
    if (line.udp) out.udp = new UdpListener(line.udp, { log, protocol: lineProtocol });
  }
  if (pickle?.tcp) {
    const pickleDeps = { ...protocolDeps, decoder: new PickleDecoder() };
    out.pickle = new StreamListener(
      { name: 'pickle', ...pickle.tcp, maxConnections },
      { ...listenerDeps, protocol: (peer) => new PickleProtocol(peer, pickle.maxFrameLength, pickleDeps) },
    );
  }
  if (http !== undefined) out.http = buildHttpListener(http, config.http, { pipeline, counters, log, limited, now });
  return out;
}

function buildHttpListener(
  listen: NonNullable<RelayConfig['listen']['http']>,
  http: HttpConfig,
  deps: { pipeline: Pipeline; counters: IngestCounters; log: Logger; limited: RateLimitedLog; now: () => number },
): HttpListener {
  const flow = deps.pipeline.flow;
  const ingest = new HttpIngest({ ...deps, room: () => flow.admissionRoom() }, Math.min(http.maxItems, flow.maxAdmission()));
  deps.pipeline.addSource(ingest);
  const groups = buildEndpointGroups({ ingest, http });
  return new HttpListener(listen, createHttpApp(http, ingest, groups), groups, deps.log);
}
