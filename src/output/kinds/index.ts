import type { DestinationConfig, DestinationKind } from '../../config/schema';
import type { Destination } from '../destination';
import { buildCarbonDestination } from './carbon';
import { buildFileDestination } from './file';
import { buildKafkaDestination } from './kafka';
import type { DestinationKindDeps } from './options';

export type { DestinationKindDeps } from './options';

type Factory<K extends DestinationKind> = (cfg: Extract<DestinationConfig, { type: K }>, deps: DestinationKindDeps) => Destination;

/** Every destination kind by its `type`: a new kind is its schema slice (config/destinations.ts), its file here, and one line below. */
const KINDS: { readonly [K in DestinationKind]: Factory<K> } = {
  carbon: buildCarbonDestination,
  file: buildFileDestination,
  kafka: buildKafkaDestination,
};

/** One destination from its validated config; the kind is chosen by `type`. */
export function buildDestination(cfg: DestinationConfig, deps: DestinationKindDeps): Destination {
  return (KINDS[cfg.type] as Factory<DestinationKind>)(cfg as never, deps);
}
