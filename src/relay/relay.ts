import { createHttpApp } from '../ingest/http/app';
import { buildEndpointGroups } from '../ingest/http/groups';
import { HttpIngest, type HttpIngestDeps } from '../ingest/http/http-ingest';
import { HttpListener } from '../ingest/http/server';
import { httpSchema } from '../config/schema';
import fs from 'node:fs';
import type { RelayConfig } from '../config/load';
import type { DestinationConfig } from '../config/schema';
import { LineEncoder } from '../codec/line-encoder';
import { PickleDecoder } from '../codec/pickle-decoder';
import { PickleEncoder } from '../codec/pickle-encoder';
import { LineProtocol } from '../ingest/line-protocol';
import { PickleProtocol } from '../ingest/pickle-protocol';
import { StreamListener } from '../ingest/stream-listener';
import { UdpListener } from '../ingest/udp-listener';
import { Destination, type DestinationStopReport } from '../output/destination';
import { FileTransport } from '../output/transport/file';
import { SocketTransport } from '../output/transport/socket';
import type { Transport } from '../output/transport/transport';
import { Pipeline } from '../pipeline/pipeline';
import { buildRouters } from '../routing/build';
import { CARBON_RELOAD_INTERVAL_MS, Reloader } from '../routing/reloader';
import { IngestCounters } from '../telemetry/counters';
import type { Logger } from '../telemetry/logger';
import { RateLimitedLog } from '../telemetry/rate-limited-log';
import { defaultSelfMetricsPrefix, SelfMetrics } from '../telemetry/self-metrics';
import { buildSources } from '../sources/build';
import { realTimers, type Source, type SourceStopReport, type SourceTimers } from '../sources/source';

export interface RelayDeps {
  log: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** Timers the pull sources schedule polls and retries with; injectable for tests (fake clock). */
  timers?: SourceTimers;
}

export interface RelayStopReport {
  sources: SourceStopReport[];
  destinations: DestinationStopReport[];
  undelivered: number;
}

/**
 * Builds every component from a validated config and owns their order:
 * destinations start first (they queue while connecting), receivers last; stop
 * runs in reverse and drains queues until the deadline.
 */
export class Relay {
  readonly counters = new IngestCounters();
  readonly destinations: ReadonlyMap<string, Destination>;
  readonly pipeline: Pipeline;
  readonly selfMetrics: SelfMetrics;
  /** Pull sources (Catchpoint pollers) by name. */
  readonly sources: ReadonlyMap<string, Source>;
  private readonly reloader: Reloader;
  readonly listeners: { line?: StreamListener; lineTls?: StreamListener; pickle?: StreamListener; udp?: UdpListener; http?: HttpListener } = {};

  constructor(
    readonly config: RelayConfig,
    deps: RelayDeps,
  ) {
    const log = deps.log;
    const now = deps.now ?? Date.now;
    const destinations = new Map<string, Destination>();
    const pressure = { onPressure: (d: Destination, high: boolean) => this.pipeline.onPressure(d, high) };
    for (const d of config.destinations) {
      destinations.set(d.name, buildDestination(d, log, pressure));
    }
    this.destinations = destinations;
    const routers = buildRouters(config, (d) => destinations.get(d.name) as Destination, log);
    this.reloader = new Reloader(routers.reloadables, CARBON_RELOAD_INTERVAL_MS, () => {
      routers.received.invalidate();
      routers.internal.invalidate();
    });
    this.pipeline = new Pipeline(routers, this.counters, log, config.minTimestampResolution);
    this.sources = buildSources(config.sources, { sink: this.pipeline, log, now, timers: deps.timers ?? realTimers });
    for (const s of this.sources.values()) this.pipeline.addSource(s);

    this.selfMetrics = new SelfMetrics(
      { intervalMs: config.selfMetrics.intervalMs, prefix: config.selfMetrics.prefix ?? defaultSelfMetricsPrefix(), http: config.listen.http !== undefined },
      { pipeline: this.pipeline, counters: this.counters, destinations, now, sources: this.sources },
    );

    const limited = new RateLimitedLog(log);
    const lineDeps = { sink: this.pipeline, counters: this.counters, limited, now };
    const line = config.listen.line;
    const maxLine = line?.maxLineLength ?? 16_384;
    const lineProtocol = (peer: string): LineProtocol => new LineProtocol(peer, maxLine, lineDeps);
    const listenerDeps = { pipeline: this.pipeline, counters: this.counters, log };
    const maxConnections = config.listen.maxConnections;
    if (line?.tcp) this.listeners.line = new StreamListener({ name: 'line', ...line.tcp, maxConnections }, { ...listenerDeps, protocol: lineProtocol });
    if (line?.tls) {
      const t = line.tls;
      this.listeners.lineTls = new StreamListener(
        { name: 'line-tls', host: t.host, port: t.port, tls: { cert: fs.readFileSync(t.cert), key: fs.readFileSync(t.key) }, maxConnections },
        { ...listenerDeps, protocol: lineProtocol },
      );
    }
    if (line?.udp) this.listeners.udp = new UdpListener(line.udp, { log, protocol: lineProtocol });
    const pickle = config.listen.pickle;
    if (pickle?.tcp) {
      const pickleDeps = { ...lineDeps, decoder: new PickleDecoder() };
      const maxFrame = pickle.maxFrameLength;
      this.listeners.pickle = new StreamListener(
        { name: 'pickle', ...pickle.tcp, maxConnections },
        { ...listenerDeps, protocol: (peer) => new PickleProtocol(peer, maxFrame, pickleDeps) },
      );
    }
    if (config.listen.http !== undefined) this.listeners.http = this.buildHttp(config.listen.http, { pipeline: this.pipeline, counters: this.counters, log, limited, now });
  }

  private buildHttp(listen: NonNullable<RelayConfig['listen']['http']>, deps: HttpIngestDeps): HttpListener {
    const http = this.config.http ?? httpSchema.parse({});
    const queues = [...this.destinations.values()];
    // a request larger than the smallest queue could never be admitted whole: it is refused as too large instead
    const maxItems = Math.min(http.maxItems, ...queues.map((d) => d.queue.limit));
    const room = (): number => queues.reduce((min, d) => Math.min(min, d.admissionRoom), Infinity);
    const ingest = new HttpIngest({ ...deps, room }, maxItems);
    this.pipeline.addSource(ingest);
    const groups = buildEndpointGroups({ ingest, http });
    return new HttpListener(listen, createHttpApp(http, ingest, groups), groups, deps.log);
  }

  async start(): Promise<void> {
    for (const d of this.destinations.values()) d.start();
    const { line, lineTls, udp, pickle, http } = this.listeners;
    for (const l of [line, lineTls, udp, pickle, http]) if (l) await l.start();
    for (const s of this.sources.values()) await s.start();
    this.reloader.start();
    this.selfMetrics.start();
  }

  /** Stop receiving, then deliver what is queued until `deadline` (epoch ms). */
  async stop(deadline: number): Promise<RelayStopReport> {
    const { line, lineTls, udp, pickle, http } = this.listeners;
    // Sources and receivers stop first, so what they already handed over is delivered below.
    const sourcesStopped = Promise.all([...this.sources.values()].map((s) => s.stop(deadline)));
    await Promise.all([line, lineTls, udp, pickle, http].map((l) => l?.stop()));
    const sources = await sourcesStopped;
    this.selfMetrics.stop();
    this.reloader.stop();
    // A last interval's counters, so drops just before shutdown are not lost from view.
    if (this.config.selfMetrics.intervalMs > 0) this.selfMetrics.emit();
    const reports = await Promise.all([...this.destinations.values()].map((d) => d.stop(deadline)));
    return { sources, destinations: reports, undelivered: reports.reduce((n, r) => n + r.undelivered, 0) };
  }
}

function buildDestination(d: DestinationConfig, log: Logger, pressure: { onPressure(d: Destination, high: boolean): void }): Destination {
  const prefix = d.apiKey === undefined ? '' : d.apiKey.endsWith('.') ? d.apiKey : d.apiKey + '.';
  let transport: Transport;
  if (d.file !== undefined) {
    transport = new FileTransport(d.file);
  } else {
    const tlsOpts = d.tls === false ? undefined : d.tls === true ? { rejectUnauthorized: true } : d.tls;
    if (tlsOpts && !tlsOpts.rejectUnauthorized) {
      log.warn('TLS certificate verification is OFF for this destination; anyone on the path can read and alter the data', { destination: d.name });
    }
    transport = new SocketTransport({ host: d.host as string, port: d.port as number, connectTimeoutMs: d.connectTimeout, tls: tlsOpts });
  }
  const protocol = d.file !== undefined ? 'line' : (d.protocol ?? 'pickle');
  return new Destination(
    {
      name: d.name,
      metricName: d.metricName ?? d.name.replace(/\./g, '_'),
      maxQueueSize: d.maxQueueSize,
      maxDatapointsPerMessage: d.maxDatapointsPerMessage,
      highWaterMark: Math.max(1, Math.floor(d.maxQueueSize * d.highWaterMark)),
      lowWaterMark: Math.floor(d.maxQueueSize * d.lowWaterMark),
      stallTimeoutMs: d.stallTimeout,
      backoff: { initialMs: d.reconnect.initialDelay, maxMs: d.reconnect.maxDelay, factor: 2, jitter: 0.2 },
    },
    { transport, encoder: protocol === 'pickle' ? new PickleEncoder(prefix) : new LineEncoder(prefix), log, pressure },
  );
}
