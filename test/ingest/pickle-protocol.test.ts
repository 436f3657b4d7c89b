import { ByteWriter } from '../../src/codec/byte-writer';
import { PickleDecoder } from '../../src/codec/pickle-decoder';
import { PickleEncoder } from '../../src/codec/pickle-encoder';
import { PickleProtocol, type PickleProtocolDeps } from '../../src/ingest/pickle-protocol';
import { DatapointQueue } from '../../src/output/queue';
import { IngestCounters } from '../../src/telemetry/counters';
import { RateLimitedLog } from '../../src/telemetry/rate-limited-log';
import { captureLog, type LogEntry } from '../helpers/capture-log';
import { expectedDatapoints, pickleFixtures, type Datapoint, type PickleFixture } from '../helpers/fixtures';
import { CopyingSink } from '../helpers/copying-sink';

const PEER = '192.0.2.20:40404';
const NOW_MS = 1_700_001_234_500;
const NOW = NOW_MS / 1000;


interface Harness {
  protocol: PickleProtocol;
  sink: CopyingSink;
  counters: IngestCounters;
  entries: LogEntry[];
}

/** A PickleProtocol with a real decoder, real counters and a real RateLimitedLog that logs every warning. */
function harness(maxFrameLength = 64 * 1024): Harness {
  const sink = new CopyingSink();
  const counters = new IngestCounters();
  const { log, entries } = captureLog();
  const deps: PickleProtocolDeps = { sink, counters, limited: new RateLimitedLog(log, 0), decoder: new PickleDecoder(), now: () => NOW_MS };
  return { protocol: new PickleProtocol(PEER, maxFrameLength, deps), sink, counters, entries };
}

/** The counters that moved, with their values: asserting on this checks every other counter stayed 0. */
function moved(c: IngestCounters): Record<string, number> {
  return Object.fromEntries((Object.entries(c) as [string, number][]).filter(([, v]) => v !== 0));
}

const dp = (name: string, value: number, timestamp: number): Datapoint => ({ name, value, timestamp });

/** A length-prefixed frame as our own destinations send it (PickleEncoder: protocol 2, BINUNICODE, BINFLOAT). */
function encoded(points: readonly Datapoint[]): Buffer {
  const q = new DatapointQueue(points.length);
  for (const p of points) q.push(p.name, p.timestamp, p.value);
  const out = new ByteWriter(256);
  expect(new PickleEncoder().encode(q, q.length, out)).toBe(points.length);
  return out.take();
}

/** A payload with carbon's 4-byte big-endian length in front. */
function framed(payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}

const fixtures = pickleFixtures();
function fixture(id: string): PickleFixture {
  const f = fixtures.find((x) => x.id === id);
  if (f === undefined) throw new Error(`no fixture ${id}`);
  return f;
}
const fixturePayload = (id: string): Buffer => Buffer.from(fixture(id).hex, 'hex');

const invalidPickle = (bytes: number, error: string): LogEntry => ({ level: 'warn', message: 'invalid pickle received, ignoring frame', peer: PEER, bytes, error });

describe('PickleProtocol: valid frames', () => {
  const ours = [dp('servers.web01.cpu', 42.5, 1700000000), dp('m\u00e9trique.\u00fc', -3.25, 1700000010.5)];
  const python = fixture('toplevel-tuple-p2');
  const stream = Buffer.concat([encoded(ours), framed(fixturePayload('toplevel-tuple-p2'))]);
  const expected = [...ours, ...expectedDatapoints(python, NOW)];

  it('decodes the same datapoints wherever the stream is cut into two chunks', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const h = harness();
      expect(h.protocol.onData(stream.subarray(0, cut))).toBe(true);
      expect(h.protocol.onData(stream.subarray(cut))).toBe(true);
      expect({ cut, points: h.sink.points }).toEqual({ cut, points: expected });
      expect(moved(h.counters)).toEqual({});
      expect(h.entries).toEqual([]);
    }
  });

  it('decodes a stream delivered one byte per chunk, one batch per frame', () => {
    const h = harness();
    for (let i = 0; i < stream.length; i++) h.protocol.onData(stream.subarray(i, i + 1));
    expect(h.sink.copies).toEqual([
      { origin: PEER, points: ours },
      { origin: PEER, points: expectedDatapoints(python, NOW) },
    ]);
    expect(moved(h.counters)).toEqual({});
  });

  it('hands the sink one batch per frame and reuses it after accept() returns, so the sink must copy', () => {
    const h = harness();
    h.protocol.onData(Buffer.concat([encoded([dp('a.one', 1, 100), dp('a.two', 2, 200)]), encoded([dp('b.one', 3, 300)])]));
    expect(h.sink.copies).toEqual([
      { origin: PEER, points: [dp('a.one', 1, 100), dp('a.two', 2, 200)] },
      { origin: PEER, points: [dp('b.one', 3, 300)] },
    ]);
    expect(h.sink.handed).toHaveLength(2);
    expect(h.sink.handed[1]).toBe(h.sink.handed[0]);
    expect(h.sink.handed[0].length).toBe(0);
  });

  it('replaces timestamps whose int() is -1 with now, read when the frame is decoded', () => {
    const h = harness();
    h.protocol.onData(encoded([dp('now.a', 1, -1), dp('now.b', 2, -1.5), dp('kept', 3, -2)]));
    expect(h.sink.points).toEqual([dp('now.a', 1, NOW), dp('now.b', 2, NOW), dp('kept', 3, -2)]);
  });

  it('an empty list is a valid frame that delivers nothing', () => {
    const h = harness();
    h.protocol.onData(framed(fixturePayload('empty-list-p2')));
    expect(h.sink.copies).toEqual([]);
    expect(moved(h.counters)).toEqual({});
    expect(h.entries).toEqual([]);
  });
});

describe('PickleProtocol: bad frames cost the frame, never the connection', () => {
  const after = encoded([dp('still.decoded', 7, 1700000000)]);

  it('skips a frame over maxFrameLength (pickleTooLong) even when it arrives in pieces, and decodes the next one', () => {
    const big = encoded(Array.from({ length: 20 }, (_, i) => dp(`big.frame.metric.${i}`, i, 1700000000 + i)));
    const bigLength = big.length - 4;
    const max = 256;
    expect(bigLength).toBeGreaterThan(max);
    const h = harness(max);
    const stream = Buffer.concat([big, after]);
    for (let i = 0; i < stream.length; i += 50) expect(h.protocol.onData(stream.subarray(i, i + 50))).toBe(true);
    expect(h.sink.points).toEqual([dp('still.decoded', 7, 1700000000)]);
    expect(moved(h.counters)).toEqual({ pickleTooLong: 1 });
    expect(h.entries).toEqual([{ level: 'warn', message: 'pickle frame exceeds maxFrameLength, skipping it', peer: PEER, length: bigLength }]);
  });

  it('a frame of exactly maxFrameLength is decoded', () => {
    const frame = encoded([dp('exact', 1, 2)]);
    const h = harness(frame.length - 4);
    h.protocol.onData(frame);
    expect(h.sink.points).toEqual([dp('exact', 1, 2)]);
    expect(moved(h.counters)).toEqual({});
  });

  it('a length prefix beyond 64 frames of maxFrameLength is not pickle framing: counted as an invalid pickle, onData asks to close the connection', () => {
    const h = harness(256);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(256 * 64 + 1);
    expect(h.protocol.onData(Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\n')]))).toBe(false);
    expect(h.sink.copies).toEqual([]);
    expect(moved(h.counters)).toEqual({ invalidPickles: 1 });
  });

  it('drops an invalid pickle whole (invalidPickles), logs it, and decodes the next frame', () => {
    const good = encoded([dp('lost.with.its.frame', 1, 100)]).subarray(4);
    const noStop = good.subarray(0, good.length - 1);
    const h = harness();
    expect(h.protocol.onData(Buffer.concat([framed(noStop), after]))).toBe(true);
    expect(h.sink.points).toEqual([dp('still.decoded', 7, 1700000000)]);
    expect(moved(h.counters)).toEqual({ invalidPickles: 1 });
    expect(h.entries).toEqual([invalidPickle(noStop.length, 'no STOP opcode')]);
  });

  it.each<[string, Buffer, string]>([
    ['the classic GLOBAL + REDUCE exploit (os.system)', fixturePayload('classic-os-system'), 'forbidden opcode GLOBAL (0x63) at offset 0'],
    ['REDUCE without GLOBAL', Buffer.from('80025d29522e', 'hex'), 'forbidden opcode REDUCE (0x52) at offset 4'],
  ])('refuses %s: invalidPickles, nothing delivered, the connection goes on', (_what, payload, error) => {
    const h = harness();
    expect(h.protocol.onData(Buffer.concat([framed(payload), after]))).toBe(true);
    expect(h.sink.points).toEqual([dp('still.decoded', 7, 1700000000)]);
    expect(moved(h.counters)).toEqual({ invalidPickles: 1 });
    expect(h.entries).toEqual([invalidPickle(payload.length, error)]);
  });

  it('delivers the good items of a frame with bad ones, counting each kind and logging one summary', () => {
    const f = fixture('skipped-p2');
    const h = harness();
    h.protocol.onData(framed(fixturePayload('skipped-p2')));
    expect(h.sink.copies).toEqual([{ origin: PEER, points: expectedDatapoints(f, NOW) }]);
    // skipped-p2, as gen-pickle-frames.py tallied it with CPython: 9 bad shapes + 4 non-string names + 4 non-numbers, 4 bad timestamps, 2 NaN values.
    expect(moved(h.counters)).toEqual({ invalidPickleItems: 17, invalidTimestamps: 4, nanValues: 2 });
    expect(h.entries).toEqual([
      {
        level: 'warn',
        message: 'skipped invalid datapoints in pickle frame',
        peer: PEER,
        notNameTimestampValue: 9,
        nameNotString: 4,
        notANumber: 4,
        badTimestamp: 4,
      },
    ]);
  });
});

describe('PickleProtocol at connection end (onEnd)', () => {
  const frame = encoded([dp('never.complete', 1, 100)]);

  it('counts a frame cut inside its length header as an invalid pickle and logs the peer and byte count', () => {
    const h = harness();
    h.protocol.onData(frame.subarray(0, 2));
    h.protocol.onEnd();
    expect(h.sink.copies).toEqual([]);
    expect(moved(h.counters)).toEqual({ invalidPickles: 1 });
    expect(h.entries).toEqual([{ level: 'warn', message: 'connection closed in the middle of a pickle frame, discarding it', peer: PEER, bytes: 2 }]);
  });

  it('counts a frame cut inside its payload as an invalid pickle, after delivering the complete frames before it', () => {
    const h = harness();
    h.protocol.onData(Buffer.concat([encoded([dp('complete', 2, 200)]), frame.subarray(0, 10)]));
    h.protocol.onEnd();
    expect(h.sink.points).toEqual([dp('complete', 2, 200)]);
    expect(moved(h.counters)).toEqual({ invalidPickles: 1 });
    expect(h.entries).toEqual([expect.objectContaining({ level: 'warn', message: 'connection closed in the middle of a pickle frame, discarding it', peer: PEER })]);
  });

  it('counts a connection closed right after a complete length header (no payload byte yet) as an incomplete frame', () => {
    const h = harness();
    h.protocol.onData(frame.subarray(0, 4));
    h.protocol.onEnd();
    expect(moved(h.counters)).toEqual({ invalidPickles: 1 });
  });

  it('counts nothing when the stream ended on a frame boundary', () => {
    const h = harness();
    h.protocol.onData(frame);
    h.protocol.onEnd();
    expect(moved(h.counters)).toEqual({});
    expect(h.entries).toEqual([]);
  });

  it('does not count a frame being skipped for its size a second time', () => {
    const h = harness(8);
    h.protocol.onData(frame.subarray(0, 12));
    h.protocol.onEnd();
    expect(moved(h.counters)).toEqual({ pickleTooLong: 1 });
  });
});

describe('PickleProtocol progress (completed), which the idle timeout runs from', () => {
  it('counts whole frames, good, bad and oversized, never a partial one', () => {
    const h = harness(64);
    const good = encoded([dp('whole', 1, 100)]);
    h.protocol.onData(Buffer.concat([good, framed(Buffer.from('garbage!'))]));
    expect(h.protocol.completed).toBe(2);
    h.protocol.onData(good.subarray(0, 6));
    h.protocol.onData(good.subarray(6, 9));
    expect(h.protocol.completed).toBe(2);
    h.protocol.onData(good.subarray(9));
    expect(h.protocol.completed).toBe(3);
    const oversized = Buffer.alloc(4);
    oversized.writeUInt32BE(1000);
    h.protocol.onData(oversized);
    expect(h.protocol.completed).toBe(4); // counted once, when its header says it will be skipped
  });
});
