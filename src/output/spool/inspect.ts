/**
 * What `carbon-fanout spool inspect|verify|drop` does to one destination's
 * spool directory. This module finds the directory and does the work; cli.ts
 * prints the results and picks exit codes.
 *
 * None of these commands takes over a live lock. verify and drop open the
 * Spool, which takes the lock (so a relay cannot write while they run) and
 * runs recovery, exactly as a relay start would. inspect does the same when
 * the directory is free, and reads file sizes when a relay holds it.
 * Nothing here creates a spool directory that does not exist yet.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RelayConfig } from '../../config/load';
import { spoolMode } from '../../config/schema';
import type { Logger } from '../../telemetry/logger';
import { spoolDirectory } from '../kinds/spool-queue';
import { readCursor } from './cursor';
import { decodePayload } from './record';
import { FrameReader, HEADER_BYTES, parseBadSegmentName, parseSegmentName, type FrameStatus } from './segment';
import { Spool, SpoolLockedError, type SpoolOptions } from './spool';

export interface SpoolLocation {
  destination: string;
  dir: string;
  options: SpoolOptions;
}

/** 'usage': the name is not a network destination; 'config': it is one, but the config gives it no spool. */
export type SpoolLookup = { ok: true; spool: SpoolLocation } | { ok: false; problem: 'usage' | 'config'; message: string };

export interface CommandDeps {
  log: Logger;
  /** Epoch ms: record ages are measured against it. */
  now: () => number;
}

/** The spool directory and options a relay would use for this destination, or why there is none. */
export function locateSpool(config: RelayConfig, name: string): SpoolLookup {
  const d = config.destinations.find((x) => x.name === name);
  if (d === undefined || d.type === 'file') {
    const spooled = config.destinations.flatMap((x) => (x.type !== 'file' && spoolMode(x, config.dataDir) !== 'off' ? [x.name] : []));
    const known = spooled.length > 0 ? ` (destinations with a spool: ${spooled.join(', ')})` : ' (no destination in this config has a spool)';
    const what =
      d !== undefined
        ? `destination "${name}" is a ${d.type} destination; only network (carbon, kafka) destinations have a spool`
        : config.groups.some((g) => g.name === name)
          ? `"${name}" is a group; name one of its members`
          : `unknown destination "${name}"`;
    return { ok: false, problem: 'usage', message: `${what}${known}` };
  }
  if (config.dataDir === undefined) return { ok: false, problem: 'config', message: `destination "${name}" has no spool: the config sets no dataDir` };
  if (spoolMode(d, config.dataDir) === 'off') return { ok: false, problem: 'config', message: `destination "${name}" has no spool: its spool.mode is off` };
  const s = d.spool;
  const dir = spoolDirectory(config.dataDir, name);
  return {
    ok: true,
    spool: {
      destination: name,
      dir,
      // maxAge 0: opening with the configured maxAge would delete expired segments, and inspect/verify must not delete;
      // minFreeBytes 0: these commands never append, so the free-space check would only cost a statfs
      options: { dir, segmentBytes: s.segmentBytes, maxBytes: s.maxBytes, maxAgeMs: 0, minFreeBytes: 0, whenFull: s.whenFull },
    },
  };
}

export type LockState = { held: false } | { held: true; pid: number | undefined };

export interface SpoolInspection {
  lock: LockState;
  /** Segment bytes, headers included (as the spool counts maxBytes). */
  bytes: number;
  segments: number;
  /** Quarantined `.seg.bad` files: not part of the spool, kept for an operator. */
  badSegments: number;
  /** Unknown (undefined) while a relay holds the lock: its counts are in its memory, not on disk. */
  pendingDatapoints: number | undefined;
  /** Age of the first unacknowledged record and when it was appended; undefined when nothing is pending or the lock is held. */
  oldest: { ageMs: number; appendedAtMs: number } | undefined;
}

export function inspectSpool(loc: SpoolLocation, deps: CommandDeps): SpoolInspection {
  if (!fs.existsSync(loc.dir)) return { lock: { held: false }, bytes: 0, segments: 0, badSegments: 0, pendingDatapoints: 0, oldest: undefined };
  // one reading of the clock for the whole inspection, so the printed age and append time agree to the millisecond
  const now = deps.now();
  let spool: Spool;
  try {
    spool = Spool.open(loc.options, { log: deps.log, now: () => now });
  } catch (err) {
    if (!(err instanceof SpoolLockedError)) throw err;
    // a relay is writing: file sizes are all that can be read without racing it
    const files = listDir(loc.dir);
    return {
      lock: { held: true, pid: err.ownerPid },
      bytes: files.segments.reduce((sum, s) => sum + s.size, 0),
      segments: files.segments.length,
      badSegments: files.bad,
      pendingDatapoints: undefined,
      oldest: undefined,
    };
  }
  try {
    const pending = spool.pendingDatapoints;
    const ageMs = spool.oldestAgeMs();
    return {
      lock: { held: false },
      bytes: spool.bytes,
      segments: spool.segments,
      badSegments: listDir(loc.dir).bad,
      pendingDatapoints: pending,
      oldest: pending > 0 ? { ageMs, appendedAtMs: now - ageMs } : undefined,
    };
  } finally {
    // nothing was read or acknowledged, so close() persists no new cursor
    spool.close();
  }
}

export interface SpoolVerification {
  /** Pending records examined, corrupt ones included. */
  records: number;
  /** Datapoints in the records that are intact. */
  datapoints: number;
  /** Records whose CRC or structure is wrong, plus an unframeable tail cut off by recovery at open. */
  corruptRecords: number;
  /** `.seg.bad` files in the directory (quarantined now or by an earlier start): damage an operator has not cleared. */
  badSegments: number;
}

/**
 * Opens the spool (throws SpoolLockedError while a relay holds it) and reads
 * every pending record, changing nothing.
 */
export function verifySpool(loc: SpoolLocation, deps: CommandDeps): SpoolVerification {
  if (!fs.existsSync(loc.dir)) return { records: 0, datapoints: 0, corruptRecords: 0, badSegments: 0 };
  const spool = Spool.open(loc.options, deps);
  try {
    const scan = scanPending(loc.dir);
    const atOpen = spool.counters.corruptRecords;
    return { records: scan.records + atOpen, datapoints: scan.datapoints, corruptRecords: scan.corrupt + atOpen, badSegments: listDir(loc.dir).bad };
  } finally {
    // the cursor never moved (no readNext), so close() writes no cursor and deletes nothing
    spool.close();
  }
}

/**
 * Walks the pending records as Spool.readNext does (the frame's CRC, then a
 * payload that decodes; after a bad length the rest of the segment cannot be
 * framed), with its own FrameReader, from the cursor recovery placed. Not
 * readNext itself: on a damaged spool it is not read-only. With nothing in
 * flight, skipping corrupt records moves the cursor past them and deletes the
 * segments they leave fully passed, and close() persists that cursor; so
 * verify would delete a spool whose pending records are all corrupt, and a
 * second verify would report a spool clean after the first found damage.
 * Call with the spool open: recovery has sealed and trimmed the segments and
 * dropped the delivered ones, so every segment file here is pending.
 */
function scanPending(dir: string): { records: number; datapoints: number; corrupt: number } {
  const r = { records: 0, datapoints: 0, corrupt: 0 };
  const cursor = readCursor(dir);
  const reader = new FrameReader(dir);
  try {
    listDir(dir).segments.forEach((seg, i) => {
      // recovery's rule: the saved offset applies only in the first remaining segment
      let offset = i === 0 && cursor.kind === 'ok' && cursor.cursor.seq === seg.seq && cursor.cursor.offset > HEADER_BYTES ? cursor.cursor.offset : HEADER_BYTES;
      for (;;) {
        let status: FrameStatus;
        try {
          status = reader.read(seg.seq, offset, seg.size);
        } catch {
          // readNext reads an I/O error as damage too
          reader.forget(seg.seq);
          status = 'implausible';
        }
        if (status === 'end') break;
        r.records++;
        const decoded = status === 'ok' ? decodePayload(reader.buf, reader.payloadStart, reader.payloadLength) : undefined;
        if (decoded !== undefined) r.datapoints += decoded.names.length;
        else r.corrupt++;
        offset = status === 'ok' || status === 'crc' ? reader.next : seg.size;
      }
    });
  } finally {
    reader.close();
  }
  return r;
}

export interface SpoolDropResult {
  /** 'empty': no segment to drop (nothing asked); 'declined': the confirmation said no (nothing changed). */
  outcome: 'empty' | 'declined' | 'dropped';
  /** What was queued when the question was asked, all of it dropped on 'dropped'. */
  datapoints: number;
  bytes: number;
  segments: number;
  /** Segments still on disk after dropping (a delete failed; logged by the spool). */
  segmentsLeft: number;
  /** `.seg.bad` files, which drop leaves for an operator. */
  badSegments: number;
}

/**
 * Empties the spool after `confirm` agrees, holding the lock throughout so
 * what was counted is what is dropped. Done through the Spool API: every
 * record read and acknowledged, which deletes each segment once passed (one
 * record in memory at a time), then close() persists a cursor past the end,
 * the state of a spool whose backlog was delivered. Throws SpoolLockedError
 * while a relay holds the spool.
 */
export async function dropSpool(
  loc: SpoolLocation,
  deps: CommandDeps,
  confirm: (queued: { datapoints: number; bytes: number }) => Promise<boolean>,
): Promise<SpoolDropResult> {
  if (!fs.existsSync(loc.dir)) return { outcome: 'empty', datapoints: 0, bytes: 0, segments: 0, segmentsLeft: 0, badSegments: 0 };
  const spool = Spool.open(loc.options, deps);
  try {
    const queued = { datapoints: spool.pendingDatapoints, bytes: spool.bytes, segments: spool.segments, segmentsLeft: spool.segments, badSegments: listDir(loc.dir).bad };
    if (queued.segments === 0) return { outcome: 'empty', ...queued };
    if (!(await confirm({ datapoints: queued.datapoints, bytes: queued.bytes }))) return { outcome: 'declined', ...queued };
    // acknowledged one by one, so a large spool is never held in memory
    for (let rec = spool.readNext(); rec !== undefined; rec = spool.readNext()) spool.ack(rec.id);
    return { outcome: 'dropped', ...queued, segmentsLeft: spool.segments };
  } finally {
    spool.close();
  }
}

/** Segment files ascending by sequence with their sizes, and how many `.seg.bad` files sit beside them. */
/** The live segments of a spool directory (by sequence, with sizes) and its quarantined ones, from the files alone. */
export function listDir(dir: string): { segments: { seq: number; size: number }[]; bad: number } {
  const segments: { seq: number; size: number }[] = [];
  let bad = 0;
  for (const name of fs.readdirSync(dir)) {
    if (parseBadSegmentName(name) !== undefined) bad++;
    const seq = parseSegmentName(name);
    if (seq === undefined) continue;
    try {
      segments.push({ seq, size: fs.statSync(path.join(dir, name)).size });
    } catch {
      // deleted between readdir and stat (a relay acknowledged it): no longer part of the spool
    }
  }
  segments.sort((a, b) => a.seq - b.seq);
  return { segments, bad };
}
