import type { RelayConfig } from '../config/load';
import type { Readiness } from '../model/readiness';
import type { StopReport } from '../model/component';
import type { Destination, DestinationStopReport } from '../output/destination';
import type { Pipeline } from '../pipeline/pipeline';
import type { Source, SourceStopReport } from '../sources/source';
import type { IngestCounters } from '../telemetry/counters';
import type { SelfMetrics } from '../telemetry/self-metrics';
import { buildTopology, type Listeners, type Topology, type TopologyDeps } from './topology';

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

/**
 * Producers (receivers, pollers) get at most this share of the stop budget to
 * finish what they are doing; the rest is the destinations' to deliver it.
 */
const PRODUCER_SHARE = 0.5;

/**
 * Runs a topology: starts its components in order (destinations first, so
 * they queue while connecting; producers; background work) and stops them in
 * reverse within one deadline.
 */
export class Relay {
  constructor(readonly topology: Topology) {}

  /** Build a topology from a validated config and wrap it (not started). */
  static fromConfig(config: RelayConfig, deps: RelayDeps): Relay {
    return new Relay(buildTopology(config, deps));
  }

  get config(): RelayConfig {
    return this.topology.config;
  }
  get counters(): IngestCounters {
    return this.topology.counters;
  }
  get pipeline(): Pipeline {
    return this.topology.pipeline;
  }
  get destinations(): ReadonlyMap<string, Destination> {
    return this.topology.destinations;
  }
  get sources(): ReadonlyMap<string, Source> {
    return this.topology.sources;
  }
  get listeners(): Listeners {
    return this.topology.listeners;
  }
  get selfMetrics(): SelfMetrics {
    return this.topology.selfMetrics;
  }

  get readiness(): Readiness {
    return this.topology.readiness;
  }

  async start(): Promise<void> {
    const t = this.topology;
    await t.admin?.start();
    for (const d of t.destinations.values()) await d.start();
    for (const c of t.producers) await c.start();
    for (const c of t.background) await c.start();
    t.readiness.started();
  }

  /** Stop receiving, then deliver what is queued until `deadline` (epoch ms). */
  async stop(deadline: number): Promise<RelayStopReport> {
    const t = this.topology;
    t.readiness.draining();
    const producerDeadline = Date.now() + Math.max(0, deadline - Date.now()) * PRODUCER_SHARE;
    // Producers stop first, so what they already handed over is delivered below.
    const produced = await Promise.all(t.producers.map((c) => c.stop(producerDeadline)));
    const background: StopReport[] = [];
    for (const c of t.background) background.push(await c.stop(deadline));
    const destinations = await Promise.all([...t.destinations.values()].map((d) => d.stop(deadline)));
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
