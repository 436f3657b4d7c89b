import type { Destination } from '../destination';
import { HealthGroup } from './health-group';

/**
 * carbon-c-relay's failover: every datapoint goes to the first healthy member
 * in the configured order. When it goes down the next healthy one takes over
 * (and what the down one still holds moves there); when an earlier member is
 * healthy again, traffic moves back to it. With no member healthy, traffic
 * stays with the current one, whose queue (and spool) holds it.
 */
export class FailoverGroup extends HealthGroup {
  private active: Destination;

  constructor(...args: ConstructorParameters<typeof HealthGroup>) {
    super(...args);
    this.active = this.members[0];
  }

  /** The member traffic goes to now. */
  get current(): Destination {
    return this.active;
  }

  offer(name: string, timestamp: number, value: number): void {
    this.active.offer(name, timestamp, value);
  }

  protected pickHealthy(_name: string): Destination | undefined {
    return this.active.healthy ? this.active : undefined;
  }

  protected override onMembersChanged(): void {
    const next = this.members.find((m) => m.healthy);
    if (next !== undefined) this.active = next;
  }
}
