import path from 'node:path';
import type { SourceConfig } from '../config/schema';
import { CatchpointSource } from './catchpoint/catchpoint-source';
import { KafkaSource } from './kafka/kafka-source';
import type { Source, SourceDeps } from './source';

/** One source from its validated config; the kind is chosen by `type`. */
export function buildSource(cfg: SourceConfig, deps: SourceDeps): Source {
  switch (cfg.type) {
    case 'catchpoint':
      return new CatchpointSource(cfg, deps);
    case 'kafka':
      return new KafkaSource(cfg, deps);
  }
}

/**
 * Every configured source, by name (names are unique: the loader checks).
 * With a data directory each keeps its position in `<dataDir>/sources/<name>`.
 */
export function buildSources(configs: readonly SourceConfig[], deps: Omit<SourceDeps, 'stateDir'>, dataDir?: string): Map<string, Source> {
  return new Map(configs.map((c) => [c.name, buildSource(c, { ...deps, stateDir: sourceStateDir(dataDir, c.name) })]));
}

/** Where a source keeps its position: `<dataDir>/sources/<name>` (none without a data directory). */
export function sourceStateDir(dataDir: string | undefined, name: string): string | undefined {
  return dataDir === undefined ? undefined : path.join(dataDir, 'sources', name);
}
