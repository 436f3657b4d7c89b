import type { SourceConfig } from '../config/schema';
import { CatchpointSource } from './catchpoint/catchpoint-source';
import type { Source, SourceDeps } from './source';

/** One source from its validated config; the kind is chosen by `type`. */
export function buildSource(cfg: SourceConfig, deps: SourceDeps): Source {
  switch (cfg.type) {
    case 'catchpoint':
      return new CatchpointSource(cfg, deps);
  }
}

/** Every configured source, by name (names are unique: the loader checks). */
export function buildSources(configs: readonly SourceConfig[], deps: SourceDeps): Map<string, Source> {
  return new Map(configs.map((c) => [c.name, buildSource(c, deps)]));
}
