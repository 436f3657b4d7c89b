import type { CarbonDestinationConfig, DestinationConfig } from '../../src/config/schema';

/** The destinations of a config that must all be Carbon receivers (carbon.conf, Backstop), typed as such. */
export function carbonDestinations(list: readonly DestinationConfig[]): CarbonDestinationConfig[] {
  return list.map((d) => {
    if (d.type !== 'carbon') throw new Error(`destination ${d.name} is a ${d.type} destination, expected carbon`);
    return d;
  });
}
