import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Relay } from '../../src/relay/relay';

/**
 * Stop a relay made by startRelay() (delivering what is queued until the
 * deadline) and remove the temp dir configFrom() wrote its YAML into.
 */
export async function stopRelay(relay: Relay | undefined, graceMs = 2000): Promise<void> {
  if (relay === undefined) return;
  try {
    await relay.stop(Date.now() + graceMs);
  } finally {
    const dir = path.dirname(relay.config.file);
    if (path.dirname(dir) === os.tmpdir() && path.basename(dir).startsWith('cf-test-')) fs.rmSync(dir, { recursive: true, force: true });
  }
}
