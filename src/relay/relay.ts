import type { RelayConfig } from '../config/load';
import { configHash } from '../config/hash';
import type { StopReport } from '../model/component';
import type { Readiness } from '../model/readiness';
import type { Destination, DestinationStopReport } from '../output/destination';
import type { Pipeline } from '../pipeline/pipeline';
import type { Source, SourceStopReport } from '../sources/source';
import type { IngestCounters } from '../telemetry/counters';
import type { Logger } from '../telemetry/logger';
import type { SelfMetrics } from '../telemetry/self-metrics';
import { HttpListener } from '../ingest/http/server';
import { buildSource, sourceStateDir } from '../sources/build';
import { defaultSelfMetricsPrefix } from '../telemetry/self-metrics';
import { buildHttpFrontDoor, buildListeners, buildRouting, buildTopology, httpDeps, pipelineRouters, type Listeners, type RoutingPart, type Topology, type TopologyDeps } from './topology';

export type RelayDeps = TopologyDeps;

export interface RelayStopReport {
  /** Every component's report, in stop order. */
  components: StopReport[];
  sources: SourceStopReport[];
  destinations: DestinationStopReport[];
  /** Datapoints not delivered by the deadline and lost (memory-only destinations), over every destination. */
  undelivered: number;
  /** Datapoints not delivered by the deadline but written to a destination's spool for the next start. */
  spooled: number;
}

/** What a reload did. */
export interface ReloadReport {
  result: 'applied' | 'unchanged' | 'restart_required';
  /** For restart_required: the settings that differ and that a reload cannot apply. */
  needsRestart: string[];
  added: string[];
  removed: string[];
  /** Destinations kept as they were (connections, queues and spools untouched). */
  kept: string[];
  /** Other parts the reload changed: rebound receivers, `http`, `admin`, `selfMetrics`, `minTimestampResolution`, `sources.<name>`. */
  reconfigured: string[];
  /** Parts that could not be applied (`admin: listen EADDRINUSE ...`); they keep their previous settings. */
  notApplied?: string[];
  hash: string;
}

/** What a reload request led to: a report, or why the config could not be read. */
export type ReloadOutcome = ReloadReport | { result: 'failed'; error: string };

/**
 * What a reload cannot apply: a change is reported and nothing is applied.
 * The data directory holds the spools' locked segments and the sources'
 * positions, which a running relay cannot move; the admin listener carries
 * the status page and the exporter, built once with the relay.
 */
function restartOnly(prev: RelayConfig, next: RelayConfig): string[] {
  const out: string[] = [];
  if (!same(prev.dataDir, next.dataDir)) out.push('dataDir');
  // the logger is built once, before the relay
  if (!same(prev.logFile, next.logFile)) out.push('logFile');
  if ((prev.admin === false) !== (next.admin === false)) out.push('admin (turning the admin listener on or off)');
  return out;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The TCP/UDP receivers a reload can rebind, each with the part of the config it is built from. */
function connectionLimits(c: RelayConfig): unknown[] {
  return [c.listen.maxConnections, c.listen.maxConnectionsPerClient, c.listen.idleTimeout, c.listen.proxyProtocol, c.listen.maxConnectionAge];
}

const REBINDABLE = {
  line: (c: RelayConfig) => [c.listen.line?.tcp, c.listen.line?.maxLineLength, c.listen.line?.validation, ...connectionLimits(c)],
  lineTls: (c: RelayConfig) => [c.listen.line?.tls, c.listen.line?.maxLineLength, c.listen.line?.validation, ...connectionLimits(c)],
  udp: (c: RelayConfig) => [c.listen.line?.udp, c.listen.line?.maxLineLength, c.listen.line?.validation],
  pickle: (c: RelayConfig) => [c.listen.pickle?.tcp, c.listen.pickle?.maxFrameLength, c.listen.pickle?.validation, ...connectionLimits(c)],
  // nothing when there is none, so configs without one never report it rebound
  pickleTls: (c: RelayConfig) => (c.listen.pickle?.tls === undefined ? [] : [c.listen.pickle.tls, c.listen.pickle.maxFrameLength, c.listen.pickle.validation, ...connectionLimits(c)]),
} as const;
type Rebindable = keyof typeof REBINDABLE;

/**
 * Producers (receivers, pollers) get at most this share of the stop budget to
 * finish what they are doing; the rest is the destinations' to deliver it.
 */
const PRODUCER_SHARE = 0.5;

/**
 * Runs a topology: starts its components in order (destinations first, so
 * they queue while connecting; producers; background work) and stops them in
 * reverse within one deadline. A reload swaps the routing part in between.
 */
export class Relay {
  /** Destinations a reload removed, still delivering (or spooling) what they hold. */
  private readonly retiring = new Set<Promise<DestinationStopReport>>();

  constructor(
    readonly topology: Topology,
    private readonly log?: Logger,
  ) {}

  /** Build a topology from a validated config and wrap it (not started). */
  static fromConfig(config: RelayConfig, deps: RelayDeps): Relay {
    return new Relay(buildTopology(config, deps), deps.log);
  }

  get config(): RelayConfig {
    return this.topology.live.config;
  }
  /** A snapshot of the relay-wide ingest counters (every listener's plus the relay's own). */
  get counters(): IngestCounters {
    return this.topology.counters.total();
  }
  get pipeline(): Pipeline {
    return this.topology.pipeline;
  }
  get destinations(): ReadonlyMap<string, Destination> {
    return this.topology.live.routing.destinations;
  }
  get sources(): ReadonlyMap<string, Source> {
    return this.topology.sources;
  }
  get listeners(): Listeners {
    return this.topology.listeners;
  }
  /** Count a reload refused before it reached reload() (the new config could not be read or validated), or one that threw. */
  reloadFailed(): void {
    this.topology.counters.relay.reloadsFailed++;
  }
  get selfMetrics(): SelfMetrics {
    return this.topology.selfMetrics;
  }
  get readiness(): Readiness {
    return this.topology.readiness;
  }
  get configHash(): string {
    return this.topology.live.hash;
  }

  async start(): Promise<void> {
    const t = this.topology;
    await t.admin?.start();
    await startRouting(t.live.routing);
    for (const c of t.producers) await c.start();
    for (const c of t.background) await c.start();
    t.readiness.started();
  }

  /**
   * Apply a new, validated config without a restart. Rules, groups, filters and
   * hash rings swap as one unit between two datapoints; destinations whose
   * settings did not change keep their connections, queues and spools; new ones
   * start before the swap (they queue while connecting); removed ones deliver
   * or spool what they hold within shutdownTimeout. A change to a setting only
   * a restart can apply changes nothing and says which.
   */
  async reload(next: RelayConfig): Promise<ReloadReport> {
    const t = this.topology;
    const live = t.live;
    const hash = configHash(next);
    const base = { added: [] as string[], removed: [] as string[], kept: [] as string[], reconfigured: [] as string[], hash };
    if (hash === live.hash) return { result: 'unchanged', needsRestart: [], ...base };
    const prev = live.config;
    const needsRestart = restartOnly(prev, next);
    if (needsRestart.length > 0) {
      t.counters.relay.reloadsRestartRequired++;
      return { result: 'restart_required', needsRestart, ...base };
    }
    const rebind = (Object.keys(REBINDABLE) as Rebindable[]).filter((k) => JSON.stringify(REBINDABLE[k](live.config)) !== JSON.stringify(REBINDABLE[k](next)));
    const old = live.routing;
    const routing = buildRouting(next, t.routingDeps, { config: live.config, routing: old });
    const kept = [...routing.destinations.values()].filter((d) => old.destinations.get(d.name) === d);
    const added = [...routing.destinations.values()].filter((d) => !kept.includes(d));
    const removed = [...old.destinations.values()].filter((d) => routing.destinations.get(d.name) !== d);
    for (const d of added) await d.start();
    // the swap: nothing else runs between these lines, so every datapoint is routed wholly by the old or the new
    await old.reloader.stop(Date.now());
    for (const g of old.healthGroups) await g.stop(Date.now());
    t.pipeline.flow.watch([...routing.destinations.values()]);
    t.pipeline.replaceRouters(pipelineRouters(routing));
    replaceContents(t.lists.destinations, [...routing.destinations.values()]);
    replaceContents(t.lists.healthGroups, routing.healthGroups);
    replaceContents(t.lists.reporters, [t.lists.ingestReporter, t.lists.aggregationReporter, ...routing.destinations.values(), ...routing.healthGroups, ...t.sources.values()]);
    live.config = next;
    live.hash = hash;
    live.routing = routing;
    await routing.reloader.start();
    for (const g of routing.healthGroups) await g.start();
    const reconfigured: string[] = [];
    if (old.aggregator !== routing.aggregator) {
      // the old one emits what it holds (through the new routing); the new one starts empty, as carbon clears its buffers on new rules
      await old.aggregator?.stop(Date.now());
      await routing.aggregator?.start();
      reconfigured.push('aggregation');
    }
    if (rebind.length > 0) {
      await this.rebindListeners(next, rebind);
      reconfigured.push(...rebind.map((k) => this.topology.listeners[k]?.name ?? k));
    }
    const parts = await this.reconfigure(prev, next);
    reconfigured.push(...parts.done);
    if (parts.notApplied.length > 0) {
      // what is running is the new config but for the parts that failed: say so in the hash, so the same reload can be retried
      live.config = parts.running;
      live.hash = configHash(parts.running);
      this.log?.error('reload applied except for some parts, which keep their previous settings', { notApplied: parts.notApplied });
    }
    for (const d of removed) {
      // no longer routed to: deliver or spool what it holds, then close; its counters leave self-metrics now
      const stopping = d.stop(Date.now() + next.shutdownTimeoutMs);
      this.retiring.add(stopping);
      void stopping.then(() => this.retiring.delete(stopping));
    }
    t.counters.relay.reloadsApplied++;
    this.log?.info('configuration reloaded', { hash, added: added.map((d) => d.name), removed: removed.map((d) => d.name), kept: kept.length, reconfigured });
    return {
      result: 'applied',
      needsRestart: [],
      added: added.map((d) => d.name),
      removed: removed.map((d) => d.name),
      kept: kept.map((d) => d.name),
      reconfigured,
      notApplied: parts.notApplied,
      hash: live.hash,
    };
  }

  /**
   * The parts outside the routing unit and the TCP/UDP receivers. A part that
   * fails (its new address is taken) keeps its previous settings; `running`
   * is the config actually in force afterwards.
   */
  private async reconfigure(prev: RelayConfig, next: RelayConfig): Promise<{ done: string[]; notApplied: string[]; running: RelayConfig }> {
    const t = this.topology;
    const done: string[] = [];
    const notApplied: string[] = [];
    let running = next;
    const attempt = async (part: string, apply: () => Promise<void>, keepPrevious: (c: RelayConfig) => RelayConfig): Promise<void> => {
      try {
        await apply();
        done.push(part);
      } catch (err) {
        notApplied.push(`${part}: ${(err as Error).message}`);
        running = keepPrevious(running);
      }
    };
    if (prev.minTimestampResolution !== next.minTimestampResolution) {
      t.pipeline.setTimestampResolution(next.minTimestampResolution);
      done.push('minTimestampResolution');
    }
    if (!same(prev.selfMetrics, next.selfMetrics)) {
      t.selfMetrics.reconfigure({ intervalMs: next.selfMetrics.intervalMs, prefix: next.selfMetrics.prefix ?? defaultSelfMetricsPrefix() });
      done.push('selfMetrics');
    }
    const admin = t.admin;
    if (next.admin !== false && admin !== undefined && !same(prev.admin, next.admin)) {
      const nextAdmin = next.admin;
      await attempt('admin', () => admin.reconfigure(nextAdmin), (c) => ({ ...c, admin: prev.admin }));
    }
    if (!same(prev.http, next.http) || !same(prev.listen.http, next.listen.http)) {
      await attempt('http', () => this.reloadHttp(prev, next), (c) => ({ ...c, http: prev.http, listen: { ...c.listen, http: prev.listen.http } }));
    }
    done.push(...(await this.reloadSources(prev, next)));
    return { done, notApplied, running };
  }

  /**
   * The HTTP front door: new endpoints, auth and limits on the same address
   * swap on the running server (clients keep their connections); a new
   * address closes the old server and binds the new one. Impulse counters
   * carry over either way.
   */
  private async reloadHttp(prev: RelayConfig, next: RelayConfig): Promise<void> {
    const t = this.topology;
    const listeners = t.listeners as { -readonly [K in keyof Listeners]: Listeners[K] };
    const old = listeners.http;
    const deadline = Date.now() + next.shutdownTimeoutMs / 2;
    if (next.listen.http === undefined) {
      if (old !== undefined) {
        await old.stop(deadline);
        removeFrom(t.producers, old);
      }
      listeners.http = undefined;
      return;
    }
    const door = buildHttpFrontDoor(next.http, httpDeps(t));
    if (old !== undefined && same(prev.listen.http, next.listen.http)) {
      old.replace(door.app, door.groups, door.release);
      return;
    }
    const fresh = new HttpListener(next.listen.http, door.app, door.groups, t.routingDeps.log, door.release);
    const sameAddress = old !== undefined && old.opts.host === next.listen.http.host && old.opts.port === next.listen.http.port;
    // a new address binds first, so a taken port leaves the old front door as it was; the same one (a new certificate) must be freed first
    if (!sameAddress) await startOrRelease(fresh, door.release);
    if (old !== undefined) {
      old.handOverTo(door.groups);
      await old.stop(deadline);
      removeFrom(t.producers, old);
    }
    if (sameAddress) await fresh.start();
    t.producers.unshift(fresh);
    listeners.http = fresh;
  }

  /**
   * Sources whose settings changed stop (saving their position) and start
   * again from it with the new ones; removed ones stop; new ones start.
   */
  private async reloadSources(prev: RelayConfig, next: RelayConfig): Promise<string[]> {
    const t = this.topology;
    const settings = (c: RelayConfig, name: string): string | undefined => {
      const s = c.sources.find((x) => x.name === name);
      return s === undefined ? undefined : JSON.stringify([s, c.listen.maxNameLength]);
    };
    const changed: string[] = [];
    const deadline = Date.now() + next.shutdownTimeoutMs / 2;
    for (const [name, source] of [...t.sources]) {
      if (settings(prev, name) === settings(next, name)) continue;
      await source.stop(deadline);
      t.sourceRelease.get(source)?.();
      t.sourceRelease.delete(source);
      removeFrom(t.producers, source);
      t.sources.delete(name);
      changed.push(`sources.${name}`);
    }
    for (const cfg of next.sources) {
      if (t.sources.has(cfg.name)) continue;
      const source = buildSource(cfg, { ...t.sourceDeps, maxNameLength: next.listen.maxNameLength, stateDir: sourceStateDir(next.dataDir, cfg.name) });
      t.sourceRelease.set(source, t.pipeline.addSource(source));
      t.sources.set(cfg.name, source);
      await source.start();
      t.producers.push(source);
      if (!changed.includes(`sources.${cfg.name}`)) changed.push(`sources.${cfg.name}`);
    }
    if (changed.length > 0) {
      replaceContents(t.lists.sources, [...t.sources.values()]);
      replaceContents(t.lists.reporters, [t.lists.ingestReporter, t.lists.aggregationReporter, ...t.lists.destinations, ...t.lists.healthGroups, ...t.sources.values()]);
    }
    return changed;
  }

  /**
   * Receivers whose address or limits changed: the old one stops (its
   * connections close; senders reconnect), the new one binds. The others keep
   * their connections. The HTTP listener is not rebound (restart_required).
   */
  private async rebindListeners(next: RelayConfig, slots: readonly Rebindable[]): Promise<void> {
    const t = this.topology;
    const { log, now } = t.routingDeps;
    const fresh = buildListeners({ ...next, listen: { ...next.listen, http: undefined } }, t.pipeline, t.counters, log, now, t.feed);
    const listeners = t.listeners as { -readonly [K in keyof Listeners]: Listeners[K] };
    for (const slot of slots) {
      const old = listeners[slot];
      const replacement = fresh[slot];
      // fed by the primary (workers: N), the new receiver takes over the name first, so no connection
      // handed over meanwhile finds none; listening itself, the old one must free the address first
      const fedFirst = t.feed !== undefined && slot !== 'udp';
      if (fedFirst && replacement !== undefined) await replacement.start();
      if (old !== undefined) {
        await old.stop(Date.now() + next.shutdownTimeoutMs / 2);
        removeFrom(t.producers, old);
      }
      if (replacement !== undefined) {
        if (!fedFirst) await replacement.start();
        t.producers.unshift(replacement);
      }
      listeners[slot] = replacement as never;
    }
    log.info('listeners rebound', { listeners: slots });
  }

  /** Stop receiving, then deliver what is queued until `deadline` (epoch ms). */
  async stop(deadline: number): Promise<RelayStopReport> {
    const t = this.topology;
    t.readiness.draining();
    const producerDeadline = Date.now() + Math.max(0, deadline - Date.now()) * PRODUCER_SHARE;
    // Producers stop first, so what they already handed over is delivered below.
    const produced = await Promise.all(t.producers.map((c) => c.stop(producerDeadline)));
    const routing = t.live.routing;
    const background: StopReport[] = [];
    // before the destinations stop: the aggregates it emits at stop are delivered with the rest
    if (routing.aggregator !== undefined) background.push(await routing.aggregator.stop(deadline));
    background.push(await routing.reloader.stop(deadline));
    for (const g of routing.healthGroups) background.push(await g.stop(deadline));
    for (const c of t.background) background.push(await c.stop(deadline));
    const destinations = await Promise.all([...routing.destinations.values()].map((d) => d.stop(deadline)));
    destinations.push(...(await Promise.all(this.retiring)));
    const admin = t.admin === undefined ? [] : [await t.admin.stop(deadline)];
    const sourceSet = new Set<unknown>(t.sources.values());
    const sources = t.producers.flatMap((c, i) => (sourceSet.has(c) ? [produced[i] as SourceStopReport] : []));
    return {
      components: [...produced, ...background, ...destinations, ...admin],
      sources,
      destinations,
      undelivered: destinations.reduce((n, r) => n + r.undelivered, 0),
      spooled: destinations.reduce((n, r) => n + r.spooled, 0),
    };
  }
}

async function startRouting(routing: RoutingPart): Promise<void> {
  for (const d of routing.destinations.values()) await d.start();
  await routing.aggregator?.start();
  await routing.reloader.start();
  for (const g of routing.healthGroups) await g.start();
}

async function startOrRelease(listener: HttpListener, release: () => void): Promise<void> {
  try {
    await listener.start();
  } catch (err) {
    release();
    throw err;
  }
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

function replaceContents<T>(list: T[], items: readonly T[]): void {
  list.splice(0, list.length, ...items);
}
