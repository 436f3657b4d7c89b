import type { GroupConfig } from '../config/schema';
import type { Logger } from '../telemetry/logger';
import type { GroupMember } from './build';
import type { Target } from './router';

/** Builds the rule target for a hash group (carbon's consistent-hashing routers). */
export function createGroup<D>(group: GroupConfig, _members: GroupMember<D>[], _log: Logger): Target<D> {
  throw new Error(`hash group "${group.name}": not implemented yet`);
}
