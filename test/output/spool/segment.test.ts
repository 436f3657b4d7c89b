import fs from 'node:fs';
import path from 'node:path';
import { RecordEncoder } from '../../../src/output/spool/record';
import {
  encodeHeader,
  FrameReader,
  HEADER_BYTES,
  newSegmentMeta,
  parseBadSegmentName,
  parseSegmentName,
  readHeader,
  scanSegment,
  segmentFileName,
  writeSeal,
} from '../../../src/output/spool/segment';
import { tempDirsRemovedAfterAll } from '../../helpers/relay';
import { flipByte, items, viewOf } from './spool-helpers';

const newDir = tempDirsRemovedAfterAll();

/** A segment file holding the header and one record per batch; returns its path and the record offsets. */
function writeSegment(dir: string, seq: number, batches: number[][], appendedAt = 1000): { file: string; offsets: number[]; size: number } {
  const file = path.join(dir, segmentFileName(seq));
  const enc = new RecordEncoder();
  const parts = [encodeHeader(5)];
  const offsets: number[] = [];
  let at = HEADER_BYTES;
  for (const [from, to] of batches) {
    enc.encode(viewOf(items(from, to)), 0, to - from, appendedAt + from);
    const frame = Buffer.from(enc.bytes.subarray(0, enc.frameLength(0)));
    offsets.push(at);
    at += frame.length;
    parts.push(frame);
  }
  fs.writeFileSync(file, Buffer.concat(parts));
  return { file, offsets, size: at };
}

describe('segment names', () => {
  it('are 16-digit zero-padded sequence numbers', () => {
    expect(segmentFileName(1)).toBe('0000000000000001.seg');
    expect(segmentFileName(12345678901)).toBe('0000012345678901.seg');
    expect(parseSegmentName('0000000000000042.seg')).toBe(42);
    expect(['42.seg', '0000000000000042.seg.bad', 'cursor', '000000000000004x.seg'].map(parseSegmentName)).toEqual([undefined, undefined, undefined, undefined]);
    expect(parseBadSegmentName('0000000000000042.seg.bad')).toBe(42);
  });
});

describe('segment header and seal', () => {
  it('a new header has no seal; a written seal reads back; a torn seal reads as none', () => {
    const dir = newDir();
    const { file, size } = writeSegment(dir, 1, [[0, 3]]);
    const fd = fs.openSync(file, 'r+');
    expect(readHeader(fd)).toEqual({ ok: true, seal: undefined });
    const meta = { ...newSegmentMeta(1), bytes: size, records: 1, datapoints: 3, oldestAt: 1000, newestAt: 1000.5 };
    writeSeal(fd, meta);
    expect(readHeader(fd)).toEqual({ ok: true, seal: { records: 1, datapoints: 3, oldestAt: 1000, newestAt: 1000.5, end: size } });
    fs.closeSync(fd);
    flipByte(file, 30);
    const fd2 = fs.openSync(file, 'r');
    expect(readHeader(fd2)).toEqual({ ok: true, seal: undefined });
    fs.closeSync(fd2);
  });

  it.each([
    ['short', Buffer.alloc(10), /header is 10 of 56 bytes/],
    ['bad magic', Buffer.alloc(56), /bad magic/],
    ['future version', Buffer.concat([Buffer.from('CFSG'), Buffer.from([2, 0, 0, 0]), Buffer.alloc(48)]), /version 2/],
  ])('a %s header is unreadable', (_label, bytes, reason) => {
    const file = path.join(newDir(), 'x.seg');
    fs.writeFileSync(file, bytes);
    const fd = fs.openSync(file, 'r');
    const h = readHeader(fd);
    fs.closeSync(fd);
    expect(h.ok).toBe(false);
    if (!h.ok) expect(h.reason).toMatch(reason);
  });
});

describe('FrameReader', () => {
  it('reads records in order, then end at the limit', () => {
    const dir = newDir();
    const { offsets, size } = writeSegment(dir, 3, [
      [0, 2],
      [2, 5],
    ]);
    const r = new FrameReader(dir);
    expect(r.read(3, offsets[0], size)).toBe('ok');
    expect(r.next).toBe(offsets[1]);
    expect(r.buf.readUInt32LE(r.payloadStart + 8)).toBe(2);
    expect(r.read(3, r.next, size)).toBe('ok');
    expect(r.next).toBe(size);
    expect(r.read(3, size, size)).toBe('end');
    expect(r.peekAppendedAt(3, offsets[1], size)).toBe(1002);
    r.close();
  });

  it('tells a bad checksum (skippable) from a torn frame and an impossible length', () => {
    const dir = newDir();
    const { file, offsets, size } = writeSegment(dir, 1, [
      [0, 2],
      [2, 4],
    ]);
    const r = new FrameReader(dir);
    expect(r.read(1, offsets[0], size - 1)).toBe('ok');
    expect(r.read(1, offsets[1], size - 1)).toBe('torn');
    expect(r.read(1, offsets[1], offsets[1] + 5)).toBe('torn');
    flipByte(file, offsets[0] + 30);
    r.forget(1);
    expect(r.read(1, offsets[0], size)).toBe('crc');
    expect(r.next).toBe(offsets[1]);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([0, 0, 0, 8]), 0, 4, offsets[1]);
    fs.closeSync(fd);
    r.forget(1);
    expect(r.read(1, offsets[1], size)).toBe('implausible');
    expect(r.peekAppendedAt(1, offsets[1], size)).toBeUndefined();
    r.close();
  });

  it('reads a record larger than its read-ahead buffer, and sees records appended after a read', () => {
    const dir = newDir();
    const { file, offsets, size } = writeSegment(dir, 1, [[0, 1]]);
    const r = new FrameReader(dir);
    expect(r.read(1, offsets[0], size)).toBe('ok');
    const enc = new RecordEncoder();
    const big = Array.from({ length: 20 }, (_, i): [string, number, number] => [`big.${'y'.repeat(30_000)}.${i}`, i, i]);
    enc.encode(viewOf(big), 0, 20, 9);
    fs.appendFileSync(file, enc.bytes.subarray(0, enc.frameLength(0)));
    const end = size + enc.frameLength(0);
    expect(r.read(1, size, end)).toBe('ok');
    expect(r.payloadLength).toBeGreaterThan(600_000);
    expect(r.next).toBe(end);
    r.close();
  });
});

describe('scanSegment', () => {
  it('counts whole records and stops at a torn tail, stepping over bad checksums', () => {
    const dir = newDir();
    const { file, offsets, size } = writeSegment(dir, 1, [
      [0, 2],
      [2, 5],
      [5, 9],
    ]);
    flipByte(file, offsets[1] + 20);
    fs.truncateSync(file, size - 3);
    const r = new FrameReader(dir);
    expect(scanSegment(r, 1, size - 3)).toEqual({ end: offsets[2], stop: 'torn', records: 1, datapoints: 2, oldestAt: 1000, newestAt: 1000 });
    r.close();
  });
});
