import { cleanStop, type Component, type StopReport } from '../../model/component';
import type { DatapointTarget } from '../../model/datapoint-target';
import type { Destination } from '../destination';
import { visitCounters, type CounterReporter, type CounterTable, type CounterVisitor } from '../../telemetry/counters';
import type { Logger } from '../../telemetry/logger';

/** Datapoints moved off a down member per turn of the event loop: large backlogs move without stalling receivers. */
const MOVE_SLICE = 10_000;

export class HealthGroupCounters {
  /** Times the set of healthy members changed. */
  memberChanges = 0;
  /** Datapoints moved from a down member to a healthy one (its memory queue and spool). */
  moved = 0;
}

const HEALTH_GROUP_COUNTERS = { memberChanges: 'counter', moved: 'counter' } as const satisfies CounterTable<HealthGroupCounters>;

/**
 * What failover and any_of groups share: they watch their members' health,
 * and move what a member that went down still holds (memory, then spool) to
 * the healthy members, a slice per turn of the event loop, so it is delivered
 * there instead of waiting for the member to come back.
 */
export abstract class HealthGroup implements DatapointTarget, CounterReporter, Component {
  readonly counters = new HealthGroupCounters();
  readonly counterPath: string;
  private moving: NodeJS.Immediate | null = null;
  private readonly unsubscribe: (() => void)[] = [];
  /** Where moved datapoints go: the group itself, but only to healthy members. */
  private readonly toHealthy: DatapointTarget = { offer: (n, t, v) => this.pickHealthy(n)?.offer(n, t, v) };

  constructor(
    readonly name: string,
    protected readonly members: readonly Destination[],
    protected readonly log: Logger,
  ) {
    this.counterPath = `groups.${name}`;
    for (const m of members) this.unsubscribe.push(m.onHealthChange(() => this.membersChanged()));
  }

  abstract offer(name: string, timestamp: number, value: number): void;

  /** The healthy member `name` goes to now, or undefined when none is healthy. */
  protected abstract pickHealthy(name: string): Destination | undefined;

  /** The healthy set changed (called synchronously from the member's transition). */
  protected onMembersChanged(): void {}

  /** Each member's name and health, in configured order. */
  memberHealth(): { name: string; healthy: boolean }[] {
    return this.members.map((m) => ({ name: m.name, healthy: m.healthy }));
  }

  reportCounters(visit: CounterVisitor): void {
    visitCounters(this.counters, HEALTH_GROUP_COUNTERS, visit);
    visit('healthyMembers', this.members.filter((m) => m.healthy).length, 'gauge');
  }

  async start(): Promise<void> {}

  /** Stop moving data (the relay is stopping: each member keeps or spools what it holds). */
  async stop(_deadline: number): Promise<StopReport> {
    if (this.moving !== null) clearImmediate(this.moving);
    this.moving = null;
    // a reload may keep the members: they must stop telling this group about their health
    for (const u of this.unsubscribe.splice(0)) u();
    return cleanStop(this.name);
  }

  private membersChanged(): void {
    this.counters.memberChanges++;
    this.onMembersChanged();
    this.log.warn('group members changed', { group: this.name, healthy: this.members.filter((m) => m.healthy).map((m) => m.name) });
    this.scheduleMove();
  }

  private scheduleMove(): void {
    if (this.moving === null) this.moving = setImmediate(() => this.moveSlice());
  }

  private moveSlice(): void {
    this.moving = null;
    if (!this.members.some((m) => m.healthy)) return;
    let moved = 0;
    for (const m of this.members) {
      if (m.healthy) continue;
      moved += m.handOver(this.toHealthy, MOVE_SLICE - moved);
      if (moved >= MOVE_SLICE) break;
    }
    this.counters.moved += moved;
    if (moved > 0) this.scheduleMove();
  }
}
