import fs from 'node:fs';
import path from 'node:path';
import { inspectSpool, type CommandDeps } from '../output/spool/inspect';
import { workerDataDir } from './worker';

/** A spool directory of a worker index the relay no longer runs, with datapoints nobody will replay. */
export interface OrphanSpool {
  worker: number;
  dir: string;
  /** undefined: another process holds its lock (a relay still running with the old worker count). */
  pendingDatapoints: number | undefined;
  bytes: number;
}

/**
 * Spools of workers at index `workers` and above (`dataDir/workers/<i>/spool/*`) that still hold datapoints:
 * after `workers` was lowered nobody replays them, so the primary says so at start instead of leaving them
 * silently on disk. Read-only: nothing is deleted or acknowledged.
 */
export function orphanSpools(dataDir: string | undefined, workers: number, deps: CommandDeps): OrphanSpool[] {
  if (dataDir === undefined) return [];
  const root = path.join(dataDir, 'workers');
  const out: OrphanSpool[] = [];
  for (const entry of readDir(root)) {
    const worker = Number(entry);
    if (!/^\d+$/.test(entry) || worker < workers) continue;
    const spoolRoot = path.join(workerDataDir(dataDir, worker), 'spool');
    for (const name of readDir(spoolRoot)) {
      const dir = path.join(spoolRoot, name);
      if (!fs.statSync(dir).isDirectory()) continue;
      // inspection reads; these sizes only matter for writing, which it never does
      const options = { dir, segmentBytes: 64 * 1024 ** 2, maxBytes: Number.MAX_SAFE_INTEGER, maxAgeMs: 0, minFreeBytes: 0, whenFull: 'drop_oldest' as const };
      const found = inspectSpool({ destination: name, dir, options }, deps);
      if (found.pendingDatapoints === 0) continue;
      out.push({ worker, dir, pendingDatapoints: found.pendingDatapoints, bytes: found.bytes });
    }
  }
  return out;
}

function readDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}
