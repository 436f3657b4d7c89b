/**
 * The delivery cursor: where the first unacknowledged record is. It is
 * replaced atomically (tmp file, fsync, rename, fsync of the directory), so a
 * crash leaves either the old or the new cursor, never a mix; after a crash
 * the spool resumes from the last persisted one and hands out again what was
 * acknowledged since (at-least-once).
 *
 *   0  4   magic "CFSC"
 *   4  u32 version (1)
 *   8  f64 segment sequence
 *   16 f64 byte offset in that segment
 *   24 f64 datapoints of that segment before the offset (already acknowledged)
 *   32 u32 crc32(bytes 0..32)
 *
 * A cursor naming a segment that no longer exists means "the start of the
 * first segment after it": everything before was delivered or dropped.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { errorCode, fsyncDir } from './files';

export const CURSOR_FILE = 'cursor';
export const CURSOR_TMP_FILE = 'cursor.tmp';
const MAGIC = Buffer.from('CFSC', 'latin1');
const VERSION = 1;
const BYTES = 36;

export interface Cursor {
  readonly seq: number;
  readonly offset: number;
  readonly done: number;
}

export type CursorRead = { kind: 'ok'; cursor: Cursor } | { kind: 'missing' } | { kind: 'bad'; reason: string };

export function readCursor(dir: string): CursorRead {
  let b: Buffer;
  try {
    b = fs.readFileSync(path.join(dir, CURSOR_FILE));
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { kind: 'missing' };
    return { kind: 'bad', reason: (err as Error).message };
  }
  if (b.length !== BYTES || !b.subarray(0, 4).equals(MAGIC)) return { kind: 'bad', reason: 'not a cursor file' };
  if (b.readUInt32LE(4) !== VERSION) return { kind: 'bad', reason: `unknown cursor version ${b.readUInt32LE(4)}` };
  if (b.readUInt32LE(32) !== zlib.crc32(b.subarray(0, 32))) return { kind: 'bad', reason: 'checksum mismatch' };
  const cursor = { seq: b.readDoubleLE(8), offset: b.readDoubleLE(16), done: b.readDoubleLE(24) };
  if (![cursor.seq, cursor.offset, cursor.done].every((n) => Number.isSafeInteger(n) && n >= 0)) return { kind: 'bad', reason: 'out-of-range fields' };
  return { kind: 'ok', cursor };
}

export function writeCursor(dir: string, cursor: Cursor): void {
  const b = Buffer.alloc(BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(VERSION, 4);
  b.writeDoubleLE(cursor.seq, 8);
  b.writeDoubleLE(cursor.offset, 16);
  b.writeDoubleLE(cursor.done, 24);
  b.writeUInt32LE(zlib.crc32(b.subarray(0, 32)), 32);
  const tmp = path.join(dir, CURSOR_TMP_FILE);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, b, 0, BYTES, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path.join(dir, CURSOR_FILE));
  fsyncDir(dir);
}
