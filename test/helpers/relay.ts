import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/load';
import { Relay } from '../../src/relay/relay';
import { silentLogger, type Logger } from '../../src/telemetry/logger';

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix = 'cf-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** `newDir()` makes temp dirs that are removed after the test file (call at the top level of a test file). */
export function tempDirsRemovedAfterAll(): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = tempDir();
    dirs.push(d);
    return d;
  };
}

/** Write a config object as YAML into a temp dir and load it through the real loader. */
export function configFrom(obj: unknown, env: NodeJS.ProcessEnv = {}, dir = tempDir()): ReturnType<typeof loadConfig> {
  const file = path.join(dir, 'relay.yaml');
  fs.writeFileSync(file, YAML.stringify(obj));
  return loadConfig(file, env);
}

/** Listeners on ephemeral ports, for tests. */
export const EPHEMERAL_LISTEN = {
  line: { tcp: { host: '127.0.0.1', port: 0 }, udp: { host: '127.0.0.1', port: 0 } },
  pickle: { tcp: { host: '127.0.0.1', port: 0 } },
};

/**
 * Build and start a relay from a config object; stop it with `relay.stop(Date.now() + ms)`.
 * Self-metrics are off unless the test configures them, so captures hold only what the test sent.
 */
export async function startRelay(obj: Record<string, unknown>, log: Logger = silentLogger()): Promise<Relay> {
  const relay = Relay.fromConfig(configFrom({ listen: EPHEMERAL_LISTEN, admin: { port: 0 }, selfMetrics: { interval: 0 }, ...obj }), { log });
  await relay.start();
  return relay;
}
