import fs from 'node:fs';
import path from 'node:path';
import type { Readiness } from '../model/readiness';
import type { Destination } from '../output/destination';
import type { HealthGroup } from '../output/groups/health-group';
import type { Source } from '../sources/source';
import type { IngestCounters } from '../telemetry/counters';

/** What the status snapshot is built from (the running topology). */
export interface StatusInputs {
  readonly configFile: string;
  readonly configHash: string;
  readonly readiness: Readiness;
  readonly counters: IngestCounters;
  readonly listeners: readonly { readonly name: string; readonly port: number }[];
  readonly destinations: readonly Destination[];
  readonly groups: readonly HealthGroup[];
  readonly sources: readonly Source[];
  readonly now: () => number;
}

interface Sample {
  at: number;
  received: number;
  dest: Map<string, { sent: number; dropped: number }>;
}

/** The package version, read once (dist/ and src/ both sit two levels below the package root). */
export function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const dropped = (d: Destination): number => d.counters.fullQueueDrops;

/**
 * GET /status: one JSON snapshot of the running relay. Rates are per second
 * over the time since the previous sample (tick() every second), so two
 * readers see the same figures.
 */
export class StatusBuilder {
  readonly version = packageVersion();
  private readonly startedAt: number;
  private previous: Sample;
  private rates = { received: 0, dest: new Map<string, { sent: number; dropped: number }>() };

  constructor(private readonly inputs: StatusInputs) {
    this.startedAt = inputs.now();
    this.previous = this.sample();
  }

  /** Take a sample and update the rates (called every second). */
  tick(): void {
    const s = this.sample();
    const dt = Math.max(0.001, (s.at - this.previous.at) / 1000);
    const dest = new Map<string, { sent: number; dropped: number }>();
    for (const [name, v] of s.dest) {
      const p = this.previous.dest.get(name) ?? v;
      dest.set(name, { sent: (v.sent - p.sent) / dt, dropped: (v.dropped - p.dropped) / dt });
    }
    this.rates = { received: (s.received - this.previous.received) / dt, dest };
    this.previous = s;
  }

  snapshot(): Record<string, unknown> {
    const i = this.inputs;
    const now = i.now();
    return {
      version: this.version,
      uptimeSeconds: Math.round((now - this.startedAt) / 1000),
      config: { file: i.configFile, hash: i.configHash },
      ready: i.readiness.ready,
      state: i.readiness.reason,
      received: { total: i.counters.metricsReceived, perSecond: round(this.rates.received), activeConnections: i.counters.activeConnections },
      listeners: i.listeners.map((l) => ({ name: l.name, port: l.port })),
      destinations: i.destinations.map((d) => {
        const spool: Record<string, number> = {};
        d.reportCounters((key, value) => {
          if (key.startsWith('spool.')) spool[key.slice(6)] = value;
        });
        const r = this.rates.dest.get(d.name);
        return {
          name: d.name,
          peer: d.description,
          state: d.currentState,
          pressure: d.pressureState,
          healthy: d.healthy,
          queue: { length: d.queue.length, capacity: d.queue.limit },
          ...(d.maxRate !== undefined && { maxRate: d.maxRate }),
          sent: { total: d.counters.sent, perSecond: round(r?.sent ?? 0) },
          dropped: { total: dropped(d), perSecond: round(r?.dropped ?? 0) },
          ...(Object.keys(spool).length > 0 && { spool }),
          lastError: d.lastError === undefined ? null : { reason: d.lastError.reason, at: new Date(d.lastError.at).toISOString() },
        };
      }),
      groups: i.groups.map((g) => ({ name: g.name, members: g.memberHealth() })),
      sources: i.sources.map((s) => {
        const c: Record<string, number> = {};
        s.reportCounters((key, value) => (c[key] = value));
        return { name: s.name, type: s.type, counters: c };
      }),
    };
  }

  private sample(): Sample {
    const dest = new Map<string, { sent: number; dropped: number }>();
    for (const d of this.inputs.destinations) dest.set(d.name, { sent: d.counters.sent, dropped: dropped(d) });
    return { at: this.inputs.now(), received: this.inputs.counters.metricsReceived, dest };
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
