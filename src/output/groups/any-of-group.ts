import { fnv1a32 } from '../../common/fnv1a';
import { fmix32 } from '../../common/mix32';
import type { Destination } from '../destination';
import { HealthGroup } from './health-group';

/** Names whose member choice is remembered; forgotten whole when the healthy set changes or this many are held. */
const MAX_REMEMBERED = 100_000;


/**
 * carbon-c-relay's any_of: names are spread over the healthy members, sticky
 * per name (rendezvous hashing: a name goes to the member with the highest
 * score for it, so while the healthy set is unchanged it always goes to the
 * same one, and when a member goes down only its names move, each to its
 * next-best member). With no member healthy, names go where they would with
 * every member healthy, and wait in that member's queue (and spool).
 */
export class AnyOfGroup extends HealthGroup {
  private readonly seeds = new Map<Destination, number>();
  private healthySet: Destination[] = [];
  private readonly chosen = new Map<string, Destination>();

  constructor(...args: ConstructorParameters<typeof HealthGroup>) {
    super(...args);
    for (const m of this.members) this.seeds.set(m, fnv1a32(m.name));
  }

  offer(name: string, timestamp: number, value: number): void {
    let d = this.chosen.get(name);
    if (d === undefined) {
      d = this.pick(name, this.healthySet.length > 0 ? this.healthySet : this.members);
      if (this.chosen.size >= MAX_REMEMBERED) this.chosen.clear();
      this.chosen.set(name, d);
    }
    d.offer(name, timestamp, value);
  }

  protected pickHealthy(name: string): Destination | undefined {
    return this.healthySet.length > 0 ? this.pick(name, this.healthySet) : undefined;
  }

  protected override onMembersChanged(): void {
    this.healthySet = this.members.filter((m) => m.healthy);
    this.chosen.clear();
  }

  private pick(name: string, among: readonly Destination[]): Destination {
    const h = fnv1a32(name);
    let best = among[0];
    let bestScore = -1;
    for (const m of among) {
      // fmix32 spreads name hash ^ member seed evenly over the members
      const score = fmix32(h ^ (this.seeds.get(m) as number));
      if (score > bestScore) {
        bestScore = score;
        best = m;
      }
    }
    return best;
  }
}
