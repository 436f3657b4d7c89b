import type { RelayConfig } from '../config/load';
import type { DestinationConfig, GroupConfig } from '../config/schema';
import type { Logger } from '../telemetry/logger';
import { NameFilter } from './name-filter';
import { DirectTarget, Router, type Target } from './router';

/** How a group member is keyed on carbon's ring: the DESTINATIONS host string and instance. */
export interface GroupMember<D> {
  server: string;
  instance: string | null;
  value: D;
}

export type GroupFactory = <D>(group: GroupConfig, members: GroupMember<D>[], log: Logger) => Target<D>;

export interface BuiltRouters<D> {
  received: Router<D>;
  internal: Router<D>;
  filter: NameFilter | undefined;
}

/**
 * Builds the routers for a config over any destination representation: live
 * Destinations for the relay, names for `carbon-fanout route`. The same rules,
 * groups and filters either way, so the dry run cannot disagree with the relay.
 */
export function buildRouters<D>(
  config: RelayConfig,
  destinationFor: (d: DestinationConfig) => D,
  groupFactory: GroupFactory,
  log: Logger,
): BuiltRouters<D> {
  const targets = new Map<string, Target<D>>();
  const values = new Map<string, D>();
  for (const d of config.destinations) {
    const v = destinationFor(d);
    values.set(d.name, v);
    targets.set(d.name, new DirectTarget(v));
  }
  const byName = new Map(config.destinations.map((d) => [d.name, d]));
  for (const g of config.groups) {
    const members = g.members.map((m) => {
      const d = byName.get(m) as DestinationConfig;
      return { server: d.host as string, instance: d.instance ?? null, value: values.get(m) as D };
    });
    targets.set(g.name, groupFactory(g, members, log));
  }
  const rules = config.rules.map((name) => targets.get(name) as Target<D>);
  const f = config.filters;
  const filter = f === undefined ? undefined : new NameFilter({ ...f, reloadIntervalMs: 10_000 }, log);
  return {
    received: new Router(rules, { filter, normalizeTags: config.normalizeTags, cacheSize: config.routeCacheSize }),
    internal: new Router(rules, { normalizeTags: config.normalizeTags, cacheSize: 10_000 }),
    filter,
  };
}
