import crypto from 'node:crypto';
import type { RelayConfig } from './load';

/**
 * A fingerprint of what a config makes the relay do (its file path aside), so
 * a fleet can show every relay runs the same rules and rings: the same hash in
 * `check`, /status and config_info. Secrets only enter through the digest.
 */
export function configHash(config: RelayConfig): string {
  const { file: _file, ...rest } = config;
  const json = JSON.stringify(rest, (_key, value: unknown) => {
    if (value instanceof RegExp) return `/${value.source}/${value.flags}`;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      // stable key order
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return value;
  });
  return crypto.createHash('sha256').update(json).digest('hex').slice(0, 16);
}
