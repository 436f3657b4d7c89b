import zlib from 'node:zlib';
import { decodePayload, FRAME_HEADER_BYTES, MAX_PAYLOAD_BYTES, plausiblePayloadLength, RecordEncoder } from '../../../src/output/spool/record';
import { items, viewOf, type Item } from './spool-helpers';

/** Every frame of the encoder's last output, checked and decoded. */
function frames(enc: RecordEncoder): { appendedAtMs: number; items: Item[] }[] {
  const out: { appendedAtMs: number; items: Item[] }[] = [];
  for (let k = 0; k < enc.frames; k++) {
    const start = enc.frameStarts[k];
    const len = enc.bytes.readUInt32LE(start);
    expect(FRAME_HEADER_BYTES + len).toBe(enc.frameLength(k));
    const payload = enc.bytes.subarray(start + FRAME_HEADER_BYTES, start + FRAME_HEADER_BYTES + len);
    expect(enc.bytes.readUInt32LE(start + 4)).toBe(zlib.crc32(payload));
    const d = decodePayload(enc.bytes, start + FRAME_HEADER_BYTES, len);
    if (d === undefined) throw new Error(`frame ${k} does not decode`);
    expect(d.names.length).toBe(enc.frameCounts[k]);
    out.push({ appendedAtMs: d.appendedAtMs, items: d.names.map((n, i): Item => [n, d.timestamps[i], d.values[i]]) });
  }
  return out;
}

describe('RecordEncoder and decodePayload', () => {
  it('lays a record out as documented: length, crc32, appendedAt, count, (u16 name length, name, ts, value)*', () => {
    const enc = new RecordEncoder();
    enc.encode(viewOf([['é', 1.5, -2]]), 0, 1, 1234.5);
    const b = enc.bytes.subarray(0, enc.frameLength(0));
    const expected = Buffer.alloc(8 + 12 + 2 + 2 + 16);
    expected.writeUInt32LE(12 + 2 + 2 + 16, 0);
    expected.writeDoubleLE(1234.5, 8);
    expected.writeUInt32LE(1, 16);
    expected.writeUInt16LE(2, 20);
    expected.write('é', 22, 'utf8');
    expected.writeDoubleLE(1.5, 24);
    expected.writeDoubleLE(-2, 32);
    expected.writeUInt32LE(zlib.crc32(expected.subarray(8)), 4);
    expect(b).toEqual(expected);
  });

  it('splits a batch into frames of at most the payload bound, in order', () => {
    const enc = new RecordEncoder(500);
    enc.encode(viewOf(items(0, 100)), 0, 100, 7);
    expect(enc.frames).toBeGreaterThan(5);
    for (let k = 0; k < enc.frames; k++) expect(enc.frameLength(k) - FRAME_HEADER_BYTES).toBeLessThanOrEqual(500);
    const got = frames(enc);
    expect(got.flatMap((f) => f.items)).toEqual(items(0, 100));
    expect(got.every((f) => f.appendedAtMs === 7)).toBe(true);
  });

  it('reuses its buffer across encodes and lets go of one grown by a huge batch', () => {
    const enc = new RecordEncoder();
    const big = viewOf(Array.from({ length: 40 }, (_, i): Item => ['w'.repeat(60_000), i, i]));
    enc.encode(big, 0, 40, 1);
    expect(enc.bytes.length).toBeGreaterThan(2 * 1024 ** 2);
    enc.encode(viewOf(items(0, 3)), 1, 2, 2);
    expect(enc.bytes.length).toBeLessThanOrEqual(1024 ** 2);
    expect(frames(enc)).toEqual([{ appendedAtMs: 2, items: items(1, 3) }]);
  });

  it('writes no frame when every name is too long', () => {
    const enc = new RecordEncoder();
    enc.encode(viewOf([['x'.repeat(70_000), 1, 1]]), 0, 1, 1);
    expect([enc.frames, enc.skipped]).toEqual([0, 1]);
  });

  it('rejects payloads whose structure does not add up, even with a good CRC', () => {
    const enc = new RecordEncoder();
    enc.encode(viewOf(items(0, 3)), 0, 3, 1);
    const len = enc.bytes.readUInt32LE(0);
    const payload = Buffer.from(enc.bytes.subarray(8, 8 + len));
    expect(decodePayload(payload, 0, len)).toBeDefined();
    expect(decodePayload(payload, 0, len - 1)).toBeUndefined();
    const extra = Buffer.concat([payload, Buffer.alloc(5)]);
    expect(decodePayload(extra, 0, len + 5)).toBeUndefined();
    const moreCount = Buffer.from(payload);
    moreCount.writeUInt32LE(4, 8);
    expect(decodePayload(moreCount, 0, len)).toBeUndefined();
    const hugeCount = Buffer.from(payload);
    hugeCount.writeUInt32LE(0xffffffff, 8);
    expect(decodePayload(hugeCount, 0, len)).toBeUndefined();
    const longName = Buffer.from(payload);
    longName.writeUInt16LE(0xffff, 12);
    expect(decodePayload(longName, 0, len)).toBeUndefined();
    expect(decodePayload(payload, 0, 4)).toBeUndefined();
  });

  it('bounds plausible lengths', () => {
    expect([11, 12, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES + 1, 0xffffffff].map(plausiblePayloadLength)).toEqual([false, true, true, false, false]);
  });
});
