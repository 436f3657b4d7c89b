import fs from 'node:fs';
import path from 'node:path';
import { readCursor } from '../output/spool/cursor';
import { HEADER_BYTES } from '../output/spool/segment';
import { listDir } from '../output/spool/inspect';
import { workerDataDir } from './worker';

/** A spool directory of a worker index the relay no longer runs, with records nobody will replay. */
export interface OrphanSpool {
  worker: number;
  dir: string;
  /** Record bytes after the delivery cursor (segment headers not counted). */
  pendingBytes: number;
}

/**
 * Spools of workers at index `workers` and above (`dataDir/workers/<i>/spool/*`) that still hold records past
 * their delivery cursor: after `workers` was lowered nobody replays them, so the start says so instead of
 * leaving them silently on disk. Read-only: it lists, stats and reads the cursor file, and never opens a spool
 * (opening one recovers it: takes its lock, seals, truncates, deletes), since a relay may still be using it.
 */
export function orphanSpools(dataDir: string | undefined, workers: number): OrphanSpool[] {
  if (dataDir === undefined) return [];
  const out: OrphanSpool[] = [];
  for (const entry of readDir(path.join(dataDir, 'workers'))) {
    const worker = Number(entry);
    if (!/^\d+$/.test(entry) || worker < workers) continue;
    const spoolRoot = path.join(workerDataDir(dataDir, worker), 'spool');
    for (const name of readDir(spoolRoot)) {
      const dir = path.join(spoolRoot, name);
      const pending = pendingBytes(dir);
      if (pending > 0) out.push({ worker, dir, pendingBytes: pending });
    }
  }
  return out;
}

/** Bytes of records past the cursor: all of every segment when the cursor is missing or unreadable. 0 for anything else. */
function pendingBytes(dir: string): number {
  let segments: { seq: number; size: number }[];
  try {
    segments = listDir(dir).segments;
  } catch {
    return 0; // not a directory, or gone meanwhile
  }
  if (segments.length === 0) return 0;
  const read = readCursor(dir);
  const cursor = read.kind === 'ok' ? read.cursor : undefined;
  let total = 0;
  for (const s of segments) {
    if (cursor !== undefined && s.seq < cursor.seq) continue;
    const from = cursor !== undefined && s.seq === cursor.seq ? Math.max(cursor.offset, HEADER_BYTES) : HEADER_BYTES;
    total += Math.max(0, s.size - from);
  }
  return total;
}

function readDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}
