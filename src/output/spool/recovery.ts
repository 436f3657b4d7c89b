/**
 * What open() does to a directory before the spool runs: find the segments,
 * quarantine unreadable ones, cut a torn tail, seal the segment the last run
 * was writing, and place the cursor. Closed (sealed) segments are read only
 * as far as their 56-byte header; their records are checked as they are read.
 * Damage is logged and counted, never thrown: a spool that cannot be read
 * must not keep its destination (or the relay) from starting.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../telemetry/logger';
import type { SpoolCounters } from './counters';
import { CURSOR_TMP_FILE, readCursor } from './cursor';
import { errorCode, fsyncDir, unlinkIfExists } from './files';
import {
  FrameReader,
  HEADER_BYTES,
  newSegmentMeta,
  parseBadSegmentName,
  parseSegmentName,
  readHeader,
  scanSegment,
  segmentFileName,
  writeSeal,
  type SegmentMeta,
} from './segment';

export interface Recovered {
  /** Ascending by sequence, all sealed. */
  segments: SegmentMeta[];
  /** The first unacknowledged record (segments[0] or later). */
  cursor: { seq: number; offset: number };
  nextSeq: number;
}

export function recover(dir: string, reader: FrameReader, counters: SpoolCounters, log: Logger): Recovered {
  let maxSeq = 0;
  const seqs: number[] = [];
  for (const name of fs.readdirSync(dir)) {
    const seq = parseSegmentName(name);
    if (seq !== undefined) seqs.push(seq);
    maxSeq = Math.max(maxSeq, seq ?? parseBadSegmentName(name) ?? 0);
    if (name === CURSOR_TMP_FILE) unlinkIfExists(path.join(dir, name));
  }
  seqs.sort((a, b) => a - b);

  const segments: SegmentMeta[] = [];
  for (const seq of seqs) {
    const meta = recoverSegment(dir, seq, reader, counters, log);
    if (meta !== undefined) segments.push(meta);
  }

  const read = readCursor(dir);
  if (read.kind === 'bad') log.warn('spool cursor unreadable: replaying the whole spool', { dir, reason: read.reason });
  const saved = read.kind === 'ok' ? read.cursor : { seq: 0, offset: 0, done: 0 };
  maxSeq = Math.max(maxSeq, saved.seq);

  // segments wholly before the cursor were delivered; the last run stopped before deleting them
  while (segments.length > 0) {
    const s = segments[0];
    const delivered = s.seq < saved.seq || (s.seq === saved.seq && saved.offset >= s.bytes);
    if (!delivered) break;
    deleteSegment(dir, s.seq, reader, log);
    segments.shift();
  }
  let cursor = { seq: segments.length > 0 ? segments[0].seq : saved.seq + 1, offset: HEADER_BYTES };
  const first = segments[0];
  if (first !== undefined && first.seq === saved.seq && saved.offset > HEADER_BYTES) {
    cursor = { seq: first.seq, offset: saved.offset };
    first.acked = Math.min(saved.done, first.datapoints);
  }
  return { segments, cursor, nextSeq: maxSeq + 1 };
}

function recoverSegment(dir: string, seq: number, reader: FrameReader, counters: SpoolCounters, log: Logger): SegmentMeta | undefined {
  const file = path.join(dir, segmentFileName(seq));
  let fd = -1;
  try {
    fd = fs.openSync(file, 'r+');
    const size = fs.fstatSync(fd).size;
    if (size === 0) {
      // created but the header never written: the crash came before any record
      fs.closeSync(fd);
      fd = -1;
      deleteSegment(dir, seq, reader, log);
      return undefined;
    }
    const header = readHeader(fd);
    if (!header.ok) {
      fs.closeSync(fd);
      fd = -1;
      quarantine(dir, seq, header.reason, counters, log);
      return undefined;
    }
    const meta = newSegmentMeta(seq);
    if (header.seal !== undefined && header.seal.end <= size) {
      Object.assign(meta, { bytes: size, sealed: true }, sealCounts(header.seal));
      return meta;
    }
    const scan = scanSegment(reader, seq, size);
    reader.forget(seq);
    if (scan.stop !== 'end') {
      if (scan.stop === 'implausible') counters.corruptRecords++;
      log.warn('spool segment ends in an incomplete record: truncated', { file, keptBytes: scan.end, cutBytes: size - scan.end, reason: scan.stop });
      fs.ftruncateSync(fd, scan.end);
    }
    Object.assign(meta, { bytes: scan.end, records: scan.records, datapoints: scan.datapoints, oldestAt: scan.oldestAt, newestAt: scan.newestAt });
    if (meta.records === 0) {
      fs.closeSync(fd);
      fd = -1;
      deleteSegment(dir, seq, reader, log);
      return undefined;
    }
    writeSeal(fd, meta);
    fs.fsyncSync(fd);
    meta.sealed = true;
    return meta;
  } catch (err) {
    if (fd >= 0) fs.closeSync(fd);
    fd = -1;
    reader.forget(seq);
    quarantine(dir, seq, (err as Error).message, counters, log);
    return undefined;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

function sealCounts(seal: { records: number; datapoints: number; oldestAt: number; newestAt: number }): Partial<SegmentMeta> {
  return { records: seal.records, datapoints: seal.datapoints, oldestAt: seal.oldestAt, newestAt: seal.newestAt };
}

/** Kept for an operator to inspect, out of the spool's way (and out of its byte count). */
function quarantine(dir: string, seq: number, reason: string, counters: SpoolCounters, log: Logger): void {
  counters.badSegments++;
  const file = path.join(dir, segmentFileName(seq));
  try {
    fs.renameSync(file, `${file}.bad`);
    fsyncDir(dir);
    log.warn('unreadable spool segment renamed to .bad and skipped', { file, reason });
  } catch (err) {
    log.error('unreadable spool segment could not be renamed; skipped', { file, reason, error: (err as Error).message });
  }
}

function deleteSegment(dir: string, seq: number, reader: FrameReader, log: Logger): void {
  reader.forget(seq);
  try {
    unlinkIfExists(path.join(dir, segmentFileName(seq)));
  } catch (err) {
    log.error('could not delete a spool segment', { file: segmentFileName(seq), code: errorCode(err) ?? null });
  }
}
