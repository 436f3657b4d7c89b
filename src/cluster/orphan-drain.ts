import type { RelayConfig } from '../config/load';
import { Relay } from '../relay/relay';
import type { Logger } from '../telemetry/logger';
import type { Component, StopReport } from '../model/component';
import { orphanSpools } from './orphan-spools';
import { workerDataDir } from './worker';

/** How often a draining relay checks whether its spools are empty. */
const POLL_MS = 1000;

/**
 * Delivers the spools of worker indexes the relay no longer runs (after `workers` was lowered), in the
 * background of the process that starts the relay: for each such index, a relay with that worker's data
 * directory, the same destinations and rules, and no receivers, sources, admin listener or self-metrics.
 * Its destinations replay their spools as at any start; once every queue and spool is empty and nothing written is
 * still in the process, it stops, and the spools hold no records. A destination that is down keeps it waiting (the spool stays on disk, retried),
 * and stop() drains it with the relay's deadline, so what is not delivered stays spooled for the next start.
 */
export class OrphanDrain implements Component {
  private readonly relays = new Map<number, Relay>();
  /** Drain relays check() found empty and is stopping: stop() waits for them too. */
  private readonly stoppingNow = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private finished: () => void = () => undefined;
  /** Resolves once every orphaned spool is delivered (or at stop()). */
  readonly done: Promise<void>;

  constructor(
    private readonly config: RelayConfig,
    /** Worker indexes below this are the running relay's own. */
    private readonly workers: number,
    private readonly log: Logger,
    private readonly pollMs = POLL_MS,
  ) {
    this.done = new Promise((resolve) => (this.finished = resolve));
  }

  get name(): string {
    return 'orphan-spools';
  }

  async start(): Promise<void> {
    const dataDir = this.config.dataDir;
    const orphans = orphanSpools(dataDir, this.workers);
    for (const o of orphans) {
      this.log.warn('a spool of a worker this relay no longer runs holds undelivered datapoints: delivering it in the background', {
        worker: o.worker,
        dir: o.dir,
        pendingBytes: o.pendingBytes,
      });
    }
    const indexes = [...new Set(orphans.map((o) => o.worker))];
    if (dataDir === undefined || indexes.length === 0) {
      this.finished();
      return;
    }
    for (const index of indexes) {
      // never fails the relay's start: the relay already runs, and the spool stays for the next start
      let relay: Relay | undefined;
      try {
        relay = Relay.fromConfig(drainView(this.config, dataDir, index), { log: this.log });
        await relay.start();
      } catch (err) {
        // a spool another process holds, a certificate file that changed: the warning above names the spool
        this.log.warn('could not start delivering the spool of a worker this relay no longer runs', { worker: index, error: (err as Error).message });
        await relay?.stop(Date.now()).catch(() => undefined);
        continue;
      }
      this.relays.set(index, relay);
      this.log.info('delivering the spool of a worker this relay no longer runs', { worker: index, dataDir: workerDataDir(dataDir, index) });
    }
    this.schedule();
  }

  async stop(deadline: number): Promise<StopReport> {
    this.stopping = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    // what the destinations cannot deliver by the deadline goes back to the spools (it is only lost for memory-only ones)
    const reports = await Promise.all([...this.relays.values()].map((r) => r.stop(deadline)));
    this.relays.clear();
    await Promise.all(this.stoppingNow);
    this.finished();
    return { name: this.name, undelivered: reports.reduce((n, r) => n + r.undelivered, 0), abandoned: [] };
  }

  private schedule(): void {
    if (this.stopping) return;
    if (this.relays.size === 0) {
      this.finished();
      return;
    }
    this.timer = setTimeout(() => {
      this.check().catch((err: unknown) => {
        this.log.error('delivering the spools of workers this relay no longer runs failed', { error: (err as Error).message });
      });
    }, this.pollMs);
    this.timer.unref();
  }

  /** A drain relay stopped: its spools delivered, or what is left and why. */
  private report(index: number): void {
    // what is left belongs to destinations the config no longer has (or no longer spools): nothing here can send it
    const left = orphanSpools(this.config.dataDir, this.workers).filter((o) => o.worker === index);
    if (left.length === 0) this.log.info('delivered the spool of a worker this relay no longer runs', { worker: index });
    else this.log.warn('spools of a worker this relay no longer runs remain: their destinations are not in the config, or have no spool now', { worker: index, dirs: left.map((o) => o.dir) });
  }

  private async check(): Promise<void> {
    this.timer = null;
    for (const [index, relay] of [...this.relays]) {
      if (this.stopping || !isEmpty(relay)) continue;
      this.relays.delete(index);
      // the report is part of the stop, so stop() waits for it too (the logger may be closed after)
      const stopped = relay.stop(Date.now() + this.config.shutdownTimeoutMs).then(() => this.report(index));
      this.stoppingNow.add(stopped);
      try {
        await stopped;
      } finally {
        this.stoppingNow.delete(stopped);
      }
    }
    this.schedule();
  }
}

/** Every destination's queue and spool empty, and nothing written that has not left the process. */
function isEmpty(relay: Relay): boolean {
  for (const d of relay.destinations.values()) {
    // a spool record is acknowledged once encoded: written but unsent bytes count too, or a slow peer would be cut off
    if (d.queue.length > 0 || d.inFlight > 0 || d.currentState === 'blocked') return false;
    let pending = 0;
    d.reportCounters((key, value) => {
      if (key === 'spool.pending') pending = value;
    });
    if (pending > 0) return false;
  }
  return true;
}

/** Worker `index`'s destinations and rules on its own data directory, with nothing that takes input or listens. */
function drainView(config: RelayConfig, dataDir: string, index: number): RelayConfig {
  const listen = config.listen;
  return {
    ...config,
    admin: false,
    dataDir: workerDataDir(dataDir, index),
    sources: [],
    aggregation: undefined,
    listen: {
      ...listen,
      line: listen.line === undefined ? undefined : { ...listen.line, tcp: undefined, udp: undefined, tls: undefined },
      pickle: listen.pickle === undefined ? undefined : { ...listen.pickle, tcp: undefined, tls: undefined },
      http: undefined,
    },
    selfMetrics: { ...config.selfMetrics, intervalMs: 0 },
  };
}
