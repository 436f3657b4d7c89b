import fs from 'node:fs';
import path from 'node:path';
import type { DatapointView } from '../../model/datapoint-view';
import type { Logger } from '../../telemetry/logger';
import { RateLimitedLog } from '../../telemetry/rate-limited-log';
import { SpoolCounters } from './counters';
import { writeCursor, type Cursor } from './cursor';
import { errorCode, fsyncDir, unlinkIfExists } from './files';
import { FreeSpaceGate } from './free-space';
import { SpoolLock } from './lock';
import { decodePayload, RecordEncoder, SpooledRecord, type SpoolRecord } from './record';
import { recover } from './recovery';
import { encodeHeader, FrameReader, HEADER_BYTES, newSegmentMeta, segmentFileName, writeSeal, type FrameStatus, type SegmentMeta } from './segment';

export type { SpoolRecord } from './record';
export { SpoolCounters, SPOOL_COUNTERS } from './counters';
export { SpoolLockedError } from './lock';

export interface SpoolOptions {
  /** This destination's own directory (created if missing). */
  dir: string;
  /** A segment file is closed and a new one started once it reaches this size. */
  segmentBytes: number;
  /** Most bytes of segment files (headers included; `.bad` files, the cursor and the lock excluded); beyond it, whenFull applies. */
  maxBytes: number;
  /** Segments whose newest record was appended longer ago than this are deleted whole; 0 = no limit. */
  maxAgeMs: number;
  /** Refuse appends while the filesystem has less free space than this (0 = never check). */
  minFreeBytes: number;
  /** At maxBytes: delete the oldest whole segments, refuse the new record, or refuse it with 'blocked' so the caller pauses its receivers. */
  whenFull: 'drop_oldest' | 'drop_newest' | 'block';
}

export interface SpoolDeps {
  log: Logger;
  /** Epoch ms: stamped on records, compared with maxAgeMs. */
  now: () => number;
  /** Free bytes of the filesystem holding `dir`; default fs.statfsSync. For tests. */
  freeBytes?: (dir: string) => number;
}

/** 'full': refused (drop_newest, or larger than maxBytes); 'reserve': refused for disk space or a failed write; 'blocked': refused under whenFull 'block'. */
export type AppendResult = 'written' | 'full' | 'reserve' | 'blocked';

interface Position {
  seq: number;
  offset: number;
}

/** A record handed out and not yet acknowledged. */
interface InFlight {
  id: number;
  seq: number;
  start: number;
  end: number;
  count: number;
  appendedAtMs: number;
}

/**
 * A destination's durable FIFO of datapoint batches, one directory of segment
 * files (format: record.ts). Synchronous fs calls throughout: a record is one
 * writeSync at a known offset, and the owner decides when to pay for fsync
 * (sync()). Only segment metadata is kept in memory, never the backlog.
 *
 * Delivery is at-least-once: readNext hands records out, ack moves the
 * cursor, and what was acknowledged after the last sync() comes back after a
 * crash.
 */
export class Spool {
  readonly counters: SpoolCounters;
  private readonly segs: SegmentMeta[];
  private readonly reader: FrameReader;
  private readonly encoder = new RecordEncoder();
  private readonly warn: RateLimitedLog;
  private readonly freeSpace: FreeSpaceGate;
  private writer: { meta: SegmentMeta; fd: number } | undefined;
  private nextSeq: number;
  /** Where records not yet handed out begin; everything before it was handed out or skipped as corrupt. */
  private readPos: Position;
  private inflight: InFlight[] = [];
  /** Next in-flight record to hand out again after rewind(); inflight.length when not replaying. */
  private replayIdx = 0;
  private nextId = 1;
  private totalBytes = 0;
  private totalDatapoints = 0;
  private totalAcked = 0;
  private persisted: Cursor;
  private unsyncedData = false;
  private dirChanged = false;
  private ageCache = { seq: -1, offset: -1, at: NaN };
  private closed = false;

  private constructor(
    private readonly opts: SpoolOptions,
    private readonly deps: SpoolDeps,
    private readonly lock: SpoolLock,
    counters: SpoolCounters,
    reader: FrameReader,
  ) {
    this.counters = counters;
    this.reader = reader;
    this.warn = new RateLimitedLog(deps.log, 10_000, deps.now);
    this.freeSpace = new FreeSpaceGate(opts.dir, opts.minFreeBytes, deps.now, deps.log, this.warn, deps.freeBytes);
    const r = recover(opts.dir, reader, counters, deps.log);
    this.segs = r.segments;
    this.nextSeq = r.nextSeq;
    this.readPos = { ...r.cursor };
    for (const s of this.segs) {
      this.totalBytes += s.bytes;
      this.totalDatapoints += s.datapoints;
      this.totalAcked += s.acked;
    }
    this.persisted = this.cursor();
  }

  /**
   * Opens (creating) the directory, takes its lock (lock.ts: throws
   * SpoolLockedError if another live Spool holds it) and recovers
   * (recovery.ts). Damage never throws from here; it is logged and counted.
   */
  static open(opts: SpoolOptions, deps: SpoolDeps): Spool {
    fs.mkdirSync(opts.dir, { recursive: true });
    const lock = SpoolLock.acquire(opts.dir, deps.log);
    const reader = new FrameReader(opts.dir);
    try {
      const spool = new Spool(opts, deps, lock, new SpoolCounters(), reader);
      spool.expireByAge();
      return spool;
    } catch (err) {
      reader.close();
      lock.release();
      throw err;
    }
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get segments(): number {
    return this.segs.length;
  }

  /**
   * Appended and not acknowledged, exact across restarts: closed segments
   * carry their counts in their seal, the cursor file carries how many of its
   * segment's datapoints were acknowledged. Datapoints inside a corrupt
   * record stay in this number until the cursor passes their segment (then
   * they move to counters.corruptDatapoints).
   */
  get pendingDatapoints(): number {
    return this.totalDatapoints - this.totalAcked;
  }

  /** Age of the first unacknowledged record, 0 when there is none. */
  oldestAgeMs(): number {
    if (this.pendingDatapoints === 0) return 0;
    if (this.inflight.length > 0) return Math.max(0, this.deps.now() - this.inflight[0].appendedAtMs);
    const first = this.firstUnread();
    if (first === undefined) return 0;
    const { seg, offset } = first;
    if (this.ageCache.seq !== seg.seq || this.ageCache.offset !== offset) {
      let at: number | undefined;
      try {
        at = this.reader.peekAppendedAt(seg.seq, offset, seg.bytes);
      } catch {
        at = undefined;
      }
      // damaged bytes at the cursor: the segment's oldest record is an upper bound on the age
      this.ageCache = { seq: seg.seq, offset, at: at ?? seg.oldestAt };
    }
    return Number.isFinite(this.ageCache.at) ? Math.max(0, this.deps.now() - this.ageCache.at) : 0;
  }

  /**
   * Appends datapoints [from, from + count) of the view as one record (one
   * write), or refuses them all: a refused append wrote nothing, so the
   * caller may retry the same range. Names over 65535 UTF-8 bytes are left
   * out (counters.droppedInvalid). A batch whose record would pass 64 MiB is
   * written as several records, each one write; only a write failing midway
   * through those leaves the first ones written (and says 'written').
   */
  append(view: DatapointView, from: number, count: number): AppendResult {
    this.assertOpen();
    if (count <= 0) return 'written';
    this.expireByAge();
    if (this.freeSpace.low()) {
      this.counters.droppedReserve += count;
      return 'reserve';
    }
    const now = this.deps.now();
    const enc = this.encoder;
    enc.encode(view, from, count, now);
    this.counters.droppedInvalid += enc.skipped;
    const n = count - enc.skipped;
    if (n === 0) return 'written';
    if (this.bytesNeeded() > this.opts.maxBytes) {
      this.counters.droppedFull += n;
      this.warn.warn('too-large', 'batch larger than the spool maxBytes: dropped', { dir: this.opts.dir, datapoints: n });
      return 'full';
    }
    if (this.totalBytes + this.bytesNeeded() > this.opts.maxBytes) {
      if (this.opts.whenFull === 'drop_newest') {
        this.counters.droppedFull += n;
        this.warn.warn('full', 'spool full: dropping new datapoints', { dir: this.opts.dir, maxBytes: this.opts.maxBytes });
        return 'full';
      }
      if (this.opts.whenFull === 'block') {
        this.counters.blocked += n;
        return 'blocked';
      }
      while (this.segs.length > 0 && this.totalBytes + this.bytesNeeded() > this.opts.maxBytes) {
        const s = this.segs[0];
        this.warn.warn('drop-oldest', 'spool full: deleting the oldest segment', { dir: this.opts.dir, datapoints: s.datapoints - s.acked });
        this.removeSegment(s, 'droppedFull');
      }
    }
    for (let k = 0; k < enc.frames; k++) {
      if (!this.writeFrame(k, now)) {
        let rest = 0;
        for (let j = k; j < enc.frames; j++) rest += enc.frameCounts[j];
        this.counters.droppedReserve += rest;
        return k === 0 ? 'reserve' : 'written';
      }
    }
    return 'written';
  }

  /** The next record not yet handed out (in append order), or undefined when caught up. Corrupt records are skipped and counted. */
  readNext(): SpoolRecord | undefined {
    this.assertOpen();
    this.expireByAge();
    while (this.replayIdx < this.inflight.length) {
      const e = this.inflight[this.replayIdx];
      const rec = this.decodeAt(e.seq, e.start, e.id);
      if (rec !== undefined) {
        this.replayIdx++;
        this.counters.replayed += e.count;
        return rec;
      }
      // the bytes changed under us since they were first read: nothing to hand out again
      this.counters.corruptRecords++;
      this.inflight.splice(this.replayIdx, 1);
    }
    let skipped = false;
    for (;;) {
      const seg = this.normalizeReadPos();
      if (seg === undefined) break;
      const pos = this.readPos;
      const status = this.readFrame(seg, pos.offset);
      if (status === 'ok') {
        const d = decodePayload(this.reader.buf, this.reader.payloadStart, this.reader.payloadLength);
        const end = this.reader.next;
        if (d !== undefined) {
          const e: InFlight = { id: this.nextId++, seq: seg.seq, start: pos.offset, end, count: d.names.length, appendedAtMs: d.appendedAtMs };
          this.inflight.push(e);
          this.replayIdx = this.inflight.length;
          this.readPos = { seq: seg.seq, offset: end };
          this.counters.replayed += e.count;
          return new SpooledRecord(e.id, d.appendedAtMs, d.names, d.timestamps, d.values);
        }
      }
      if (status === 'end') {
        if (seg === this.writer?.meta) break;
        this.readPos = { seq: seg.seq + 1, offset: HEADER_BYTES };
        continue;
      }
      this.counters.corruptRecords++;
      skipped = true;
      this.warn.warn('corrupt', 'corrupt spool record skipped', { dir: this.opts.dir, segment: segmentFileName(seg.seq), offset: pos.offset, status });
      // after a bad length nothing further in the segment can be framed
      this.readPos = { seq: seg.seq, offset: status === 'ok' || status === 'crc' ? this.reader.next : seg.bytes };
    }
    // with nothing in flight, the cursor may move past the skipped records (and delete what they emptied)
    if (skipped && this.inflight.length === 0) this.deleteDelivered();
    return undefined;
  }

  /** Everything up to and including this record was delivered: moves the cursor (persisted by sync()) and deletes fully delivered segments. */
  ack(id: SpoolRecord['id']): void {
    this.assertOpen();
    let k = 0;
    while (k < this.inflight.length && this.inflight[k].id <= id) {
      const e = this.inflight[k++];
      const seg = this.segment(e.seq);
      if (seg !== undefined) {
        seg.acked += e.count;
        this.totalAcked += e.count;
      }
      this.counters.acked += e.count;
    }
    if (k === 0) return;
    this.inflight.splice(0, k);
    this.replayIdx = Math.max(0, this.replayIdx - k);
    this.deleteDelivered();
  }

  /** After a failed delivery: hand out again from the first unacknowledged record. */
  rewind(): void {
    this.assertOpen();
    this.replayIdx = 0;
  }

  /**
   * fsyncs the segment being written, deletes it once everything in it is
   * delivered (so an idle spool has no segment file; done here rather than
   * at each ack, so that a caught-up spool does not create and delete a
   * file per batch), and persists the cursor atomically. I/O errors are
   * logged, not thrown: the caller runs this from a timer.
   */
  sync(): void {
    this.assertOpen();
    try {
      const w = this.writer;
      if (w !== undefined && this.unsyncedData) fs.fsyncSync(w.fd);
      this.unsyncedData = false;
      this.deleteDelivered();
      if (w !== undefined && this.writer === w && this.inflight.length === 0 && this.firstUnread() === undefined) this.removeSegment(w.meta, undefined);
      this.persistCursor();
    } catch (err) {
      this.deps.log.error('spool sync failed', { dir: this.opts.dir, error: (err as Error).message });
    }
  }

  /** sync, seal the open segment (so the next open need not scan it), close files, release the lock. */
  close(): void {
    if (this.closed) return;
    this.sync();
    try {
      if (this.writer !== undefined) this.sealWriter();
    } catch (err) {
      this.deps.log.error('spool segment could not be sealed', { dir: this.opts.dir, error: (err as Error).message });
    }
    this.closeFds();
    this.lock.release();
    this.closed = true;
  }

  /**
   * Drops the spool as a crash would: file descriptors closed without fsync,
   * seal or cursor, the lock file left on disk. Only this process's claim on
   * the directory is released, so a later open() treats the lock (our own
   * pid, no live Spool) as stale. For crash tests and for giving up after an
   * unrecoverable I/O error; otherwise call close().
   */
  abandon(): void {
    if (this.closed) return;
    this.closeFds();
    this.lock.forget();
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`spool ${this.opts.dir} is closed`);
  }

  private closeFds(): void {
    this.reader.close();
    if (this.writer !== undefined) {
      try {
        fs.closeSync(this.writer.fd);
      } catch {
        // closing is all that is left to do with it
      }
      this.writer = undefined;
    }
  }

  /** The first unacknowledged record's position (and its segment's acknowledged datapoints). */
  private cursor(): Cursor {
    const p = this.inflight.length > 0 ? { seq: this.inflight[0].seq, offset: this.inflight[0].start } : this.readPos;
    return { seq: p.seq, offset: p.offset, done: this.segment(p.seq)?.acked ?? 0 };
  }

  private persistCursor(): void {
    const c = this.cursor();
    const p = this.persisted;
    if (c.seq !== p.seq || c.offset !== p.offset || c.done !== p.done) {
      writeCursor(this.opts.dir, c);
      this.persisted = c;
    } else if (this.dirChanged) {
      fsyncDir(this.opts.dir);
    }
    this.dirChanged = false;
  }

  private segment(seq: number): SegmentMeta | undefined {
    for (const s of this.segs) if (s.seq === seq) return s;
    return undefined;
  }

  /** Moves readPos to the first existing segment at or after it; that segment, or undefined when there is none. */
  private normalizeReadPos(): SegmentMeta | undefined {
    for (const s of this.segs) {
      if (s.seq < this.readPos.seq) continue;
      if (s.seq > this.readPos.seq) this.readPos = { seq: s.seq, offset: HEADER_BYTES };
      return s;
    }
    return undefined;
  }

  /** Where the first record not yet handed out may be, without moving readPos. */
  private firstUnread(): { seg: SegmentMeta; offset: number } | undefined {
    const { seq, offset } = this.readPos;
    for (const s of this.segs) {
      if (s.seq < seq) continue;
      const at = s.seq === seq ? offset : HEADER_BYTES;
      if (at < s.bytes) return { seg: s, offset: at };
    }
    return undefined;
  }

  /** I/O errors read as damage: the reader skips what it cannot read instead of failing the destination. */
  private readFrame(seg: SegmentMeta, offset: number): FrameStatus {
    try {
      return this.reader.read(seg.seq, offset, seg.bytes);
    } catch (err) {
      this.reader.forget(seg.seq);
      this.deps.log.error('spool segment unreadable', { dir: this.opts.dir, segment: segmentFileName(seg.seq), error: (err as Error).message });
      return 'implausible';
    }
  }

  private decodeAt(seq: number, offset: number, id: number): SpooledRecord | undefined {
    const seg = this.segment(seq);
    if (seg === undefined || this.readFrame(seg, offset) !== 'ok') return undefined;
    const d = decodePayload(this.reader.buf, this.reader.payloadStart, this.reader.payloadLength);
    return d === undefined ? undefined : new SpooledRecord(id, d.appendedAtMs, d.names, d.timestamps, d.values);
  }

  /** Deletes leading segments the cursor has passed; the segment being written waits for sync(). */
  private deleteDelivered(): void {
    while (this.segs.length > 0) {
      const s = this.segs[0];
      const c = this.cursor();
      const delivered = s.seq < c.seq || (s.seq === c.seq && c.offset >= s.bytes);
      if (!delivered || s === this.writer?.meta) return;
      this.removeSegment(s, undefined);
    }
  }

  /**
   * Deletes a segment. Its unacknowledged datapoints are counted under
   * `reason`; without one (a delivered segment) any left over were inside
   * corrupt records.
   */
  private removeSegment(s: SegmentMeta, reason: 'droppedFull' | 'droppedAge' | undefined): void {
    const rest = s.datapoints - s.acked;
    if (reason !== undefined) this.counters[reason] += rest;
    else this.counters.corruptDatapoints += rest;
    if (this.writer?.meta === s) {
      fs.closeSync(this.writer.fd);
      this.writer = undefined;
      this.unsyncedData = false;
    }
    this.reader.forget(s.seq);
    try {
      unlinkIfExists(path.join(this.opts.dir, segmentFileName(s.seq)));
    } catch (err) {
      this.deps.log.error('could not delete a spool segment', { dir: this.opts.dir, segment: segmentFileName(s.seq), code: errorCode(err) ?? null });
    }
    this.segs.splice(this.segs.indexOf(s), 1);
    this.totalBytes -= s.bytes;
    this.totalDatapoints -= s.datapoints;
    this.totalAcked -= s.acked;
    let before = 0;
    for (let i = 0; i < this.replayIdx; i++) if (this.inflight[i].seq === s.seq) before++;
    this.inflight = this.inflight.filter((e) => e.seq !== s.seq);
    this.replayIdx -= before;
    if (this.readPos.seq <= s.seq) this.readPos = { seq: s.seq + 1, offset: HEADER_BYTES };
    this.dirChanged = true;
  }

  private expireByAge(): void {
    if (this.opts.maxAgeMs <= 0) return;
    const now = this.deps.now();
    while (this.segs.length > 0) {
      const s = this.segs[0];
      if (!(now - s.newestAt > this.opts.maxAgeMs)) return;
      this.warn.warn('age', 'spool segment older than maxAge deleted', { dir: this.opts.dir, datapoints: s.datapoints - s.acked });
      this.removeSegment(s, 'droppedAge');
    }
  }

  /** Segment bytes the encoded frames will add, headers of the segments they open included. */
  private bytesNeeded(): number {
    let size = this.writer?.meta.bytes ?? -1;
    let need = 0;
    for (let k = 0; k < this.encoder.frames; k++) {
      if (size < 0) {
        size = HEADER_BYTES;
        need += HEADER_BYTES;
      }
      const len = this.encoder.frameLength(k);
      need += len;
      size += len;
      if (size >= this.opts.segmentBytes) size = -1;
    }
    return need;
  }

  /** Writes encoded frame k with one write; false (nothing left behind) when the disk refuses. */
  private writeFrame(k: number, appendedAtMs: number): boolean {
    try {
      if (this.writer === undefined) this.openWriter();
    } catch (err) {
      this.writeFailed(err);
      return false;
    }
    const w = this.writer as { meta: SegmentMeta; fd: number };
    const len = this.encoder.frameLength(k);
    const at = w.meta.bytes;
    try {
      const n = fs.writeSync(w.fd, this.encoder.bytes, this.encoder.frameStarts[k], len, at);
      if (n !== len) throw Object.assign(new Error(`short write: ${n} of ${len} bytes`), { code: 'ENOSPC' });
    } catch (err) {
      // a partial record would hide every later one from the reader
      try {
        fs.ftruncateSync(w.fd, at);
      } catch {
        // the reader treats what is left as a torn record
      }
      this.writeFailed(err);
      return false;
    }
    const m = w.meta;
    const count = this.encoder.frameCounts[k];
    m.bytes += len;
    m.records++;
    m.datapoints += count;
    if (!(m.oldestAt <= appendedAtMs)) m.oldestAt = appendedAtMs;
    if (!(m.newestAt >= appendedAtMs)) m.newestAt = appendedAtMs;
    this.totalBytes += len;
    this.totalDatapoints += count;
    this.counters.written += count;
    this.freeSpace.wrote(len);
    this.unsyncedData = true;
    if (m.bytes >= this.opts.segmentBytes) this.roll();
    return true;
  }

  private writeFailed(err: unknown): void {
    this.freeSpace.recheck();
    this.warn.warn('write', 'spool write failed: datapoints dropped', { dir: this.opts.dir, code: errorCode(err) ?? null, error: (err as Error).message });
  }

  private openWriter(): void {
    const seq = this.nextSeq++;
    const file = path.join(this.opts.dir, segmentFileName(seq));
    const fd = fs.openSync(file, 'wx');
    try {
      fs.writeSync(fd, encodeHeader(this.deps.now()), 0, HEADER_BYTES, 0);
    } catch (err) {
      fs.closeSync(fd);
      unlinkIfExists(file);
      throw err;
    }
    const meta = newSegmentMeta(seq);
    this.segs.push(meta);
    this.totalBytes += HEADER_BYTES;
    this.writer = { meta, fd };
    this.dirChanged = true;
  }

  /** Seal, fsync and close the segment being written; the next append starts a new one. */
  private sealWriter(): void {
    const w = this.writer;
    if (w === undefined) return;
    writeSeal(w.fd, w.meta);
    fs.fsyncSync(w.fd);
    fs.closeSync(w.fd);
    w.meta.sealed = true;
    this.writer = undefined;
    this.unsyncedData = false;
  }

  private roll(): void {
    try {
      this.sealWriter();
      this.persistCursor();
    } catch (err) {
      this.deps.log.error('spool segment roll failed', { dir: this.opts.dir, error: (err as Error).message });
      if (this.writer !== undefined) {
        fs.closeSync(this.writer.fd);
        this.writer = undefined;
      }
    }
    // a segment read and acknowledged while it was being written is delivered now that it is closed
    this.deleteDelivered();
  }
}
