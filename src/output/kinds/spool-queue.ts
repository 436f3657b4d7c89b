import crypto from 'node:crypto';
import path from 'node:path';
import { spoolMode, type NetworkDestinationConfig } from '../../config/schema';
import type { DestinationQueue } from '../queue';
import { Spool } from '../spool/spool';
import { SpooledQueue } from '../spool/spooled-queue';
import { waterMarks, type DestinationKindDeps } from './options';

/** Datapoints per spool record: one write syscall carries this many. */
const RECORD_SIZE = 500;

/**
 * A destination's spool directory: its name made filesystem-safe, plus a hash
 * of the exact name, so two destinations can never share one (`a:b` and `a_b`).
 */
export function spoolDirectory(dataDir: string, name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');
  const hash = crypto.createHash('sha256').update(name).digest('hex').slice(0, 12);
  return path.join(dataDir, 'spool', `${safe}-${hash}`);
}

/** The queue a network destination gets: memory only, or memory in front of a disk spool. */
export function destinationQueue(d: NetworkDestinationConfig, deps: DestinationKindDeps): DestinationQueue | undefined {
  const mode = spoolMode(d, deps.dataDir);
  if (mode === 'off' || deps.dataDir === undefined) return undefined;
  const s = d.spool;
  const dir = spoolDirectory(deps.dataDir, d.name);
  const now = deps.now ?? Date.now;
  const { high, low } = waterMarks(d);
  return new SpooledQueue(
    {
      mode,
      maxQueueSize: d.maxQueueSize,
      highWaterMark: high,
      lowWaterMark: low,
      spillWhenSlow: (d.whenSlow ?? 'spool') === 'spool',
      replayRate: s.replayRate,
      syncIntervalMs: s.syncInterval,
      recordSize: Math.min(RECORD_SIZE, Math.max(1, low)),
    },
    {
      openSpool: () =>
        Spool.open({ dir, segmentBytes: s.segmentBytes, maxBytes: s.maxBytes, maxAgeMs: s.maxAge, minFreeBytes: s.minFreeBytes, whenFull: s.whenFull }, { log: deps.log, now }),
      log: deps.log,
      now,
    },
  );
}
