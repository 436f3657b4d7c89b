import { LineProtocol, type LineProtocolDeps } from '../../src/ingest/line-protocol';
import { IngestCounters } from '../../src/telemetry/counters';
import { RateLimitedLog } from '../../src/telemetry/rate-limited-log';
import { captureLog, type LogEntry } from '../helpers/capture-log';
import { type Datapoint } from '../helpers/fixtures';
import { CopyingSink } from '../helpers/copying-sink';

const PEER = '192.0.2.10:50123';
const NOW_MS = 1_700_000_123_456;
const NOW = NOW_MS / 1000;


interface Harness {
  protocol: LineProtocol;
  /** Another connection sharing the same sink, counters, log and clock. */
  open(peer: string): LineProtocol;
  sink: CopyingSink;
  counters: IngestCounters;
  entries: LogEntry[];
  /** Wall clock in ms, as `now` returns it. */
  clock: { ms: number };
}

/** A LineProtocol with real counters and a real RateLimitedLog (every warning logged unless logIntervalMs says otherwise). */
function harness(opts: { peer?: string; maxLineLength?: number; logIntervalMs?: number; timestampOptional?: boolean } = {}): Harness {
  const sink = new CopyingSink();
  const counters = new IngestCounters();
  const { log, entries } = captureLog();
  const clock = { ms: NOW_MS };
  const deps: LineProtocolDeps = { sink, counters, limited: new RateLimitedLog(log, opts.logIntervalMs ?? 0, () => clock.ms), now: () => clock.ms };
  const open = (peer: string): LineProtocol => new LineProtocol(peer, { maxLineLength: opts.maxLineLength ?? 1024, timestampOptional: opts.timestampOptional ?? false }, deps);
  return { protocol: open(opts.peer ?? PEER), open, sink, counters, entries, clock };
}

/** The counters that moved, with their values: asserting on this checks every other counter stayed 0. */
function moved(c: IngestCounters): Record<string, number> {
  return Object.fromEntries((Object.entries(c) as [string, number][]).filter(([, v]) => v !== 0));
}

const dp = (name: string, value: number, timestamp: number): Datapoint => ({ name, value, timestamp });
const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

const invalid = (reason: string, line: string, peer = PEER): LogEntry => ({ level: 'warn', message: 'invalid line received, ignoring', peer, reason, line });
const MALFORMED = 'expected "name value timestamp"';

describe('LineProtocol over TCP (onData)', () => {
  const stream = bytes('servers.web01.cpu 42.5 1700000000\nm\u00e9trique.\u00fc -3.25 1700000010.5\nfoo.bar 1e3 1700000020\n');
  const expected = [dp('servers.web01.cpu', 42.5, 1700000000), dp('m\u00e9trique.\u00fc', -3.25, 1700000010.5), dp('foo.bar', 1000, 1700000020)];

  it('decodes the same datapoints wherever the stream is cut into two chunks (including inside a UTF-8 character)', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const h = harness();
      expect(h.protocol.onData(stream.subarray(0, cut))).toBe(true);
      expect(h.protocol.onData(stream.subarray(cut))).toBe(true);
      expect({ cut, points: h.sink.points }).toEqual({ cut, points: expected });
      expect(moved(h.counters)).toEqual({});
      expect(h.entries).toEqual([]);
    }
  });

  it('decodes a stream delivered one byte per chunk', () => {
    const h = harness();
    for (let i = 0; i < stream.length; i++) h.protocol.onData(stream.subarray(i, i + 1));
    expect(h.sink.points).toEqual(expected);
    expect(h.sink.copies).toHaveLength(3);
    expect(moved(h.counters)).toEqual({});
  });

  it('hands the sink one batch per chunk and reuses it after accept() returns, so the sink must copy', () => {
    const h = harness();
    h.protocol.onData(bytes('a.one 1 100\na.two 2 200\n'));
    h.protocol.onData(bytes('b.one 3 300\n'));
    expect(h.sink.copies).toEqual([
      { origin: PEER, points: [dp('a.one', 1, 100), dp('a.two', 2, 200)] },
      { origin: PEER, points: [dp('b.one', 3, 300)] },
    ]);
    // The very same batch both times, cleared after each accept(): a sink keeping the reference would hold nothing.
    expect(h.sink.handed).toHaveLength(2);
    expect(h.sink.handed[1]).toBe(h.sink.handed[0]);
    expect(h.sink.handed[0].length).toBe(0);
  });

  it('delivers nothing until a line is complete', () => {
    const h = harness();
    h.protocol.onData(bytes('partial.name 1'));
    h.protocol.onData(bytes(' 17000'));
    expect(h.sink.copies).toEqual([]);
    h.protocol.onData(bytes('00000\n'));
    expect(h.sink.copies).toEqual([{ origin: PEER, points: [dp('partial.name', 1, 1700000000)] }]);
  });

  it('replaces a timestamp whose int() is -1 with now (read when the chunk arrives); other negative timestamps are kept', () => {
    const h = harness();
    h.protocol.onData(bytes('a 1 -1\nb 2 -1.0\nc 3 -1.999\nd 4 -2\ne 5 -0.5\nf 6 1700000000.25\n'));
    expect(h.sink.points).toEqual([dp('a', 1, NOW), dp('b', 2, NOW), dp('c', 3, NOW), dp('d', 4, -2), dp('e', 5, -0.5), dp('f', 6, 1700000000.25)]);
    h.clock.ms += 2500;
    h.protocol.onData(bytes('g 7 -1\n'));
    expect(h.sink.copies[1].points).toEqual([dp('g', 7, NOW + 2.5)]);
    expect(moved(h.counters)).toEqual({});
  });

  it('drops NaN values silently (counted in nanValues, not logged); infinite values are kept', () => {
    const h = harness();
    h.protocol.onData(bytes('v.nan nan 100\nv.NaN NaN 100\nv.inf inf 100\nv.ok 1 100\n'));
    expect(h.sink.points).toEqual([dp('v.inf', Infinity, 100), dp('v.ok', 1, 100)]);
    expect(moved(h.counters)).toEqual({ nanValues: 2 });
    expect(h.entries).toEqual([]);
  });

  it('counts NaN and infinite timestamps in invalidTimestamps and logs each with its reason', () => {
    const h = harness();
    h.protocol.onData(bytes('t.nan 1 nan\nt.inf 1 inf\nt.ninf 1 -Infinity\nt.ok 1 100\n'));
    expect(h.sink.points).toEqual([dp('t.ok', 1, 100)]);
    expect(moved(h.counters)).toEqual({ invalidTimestamps: 3 });
    const reason = 'timestamp is NaN or infinite';
    expect(h.entries).toEqual([invalid(reason, 't.nan 1 nan'), invalid(reason, 't.inf 1 inf'), invalid(reason, 't.ninf 1 -Infinity')]);
  });

  it('counts, logs and skips invalid lines, and keeps decoding the connection', () => {
    const h = harness();
    expect(h.protocol.onData(bytes('only.two 1\nname notanumber 1\nfour fields 1 2\n\n   \nm\x01 x 2\ngood 1 100\n'))).toBe(true);
    expect(h.sink.points).toEqual([dp('good', 1, 100)]);
    expect(moved(h.counters)).toEqual({ invalidLines: 6 });
    expect(h.entries).toEqual([
      invalid(MALFORMED, 'only.two 1'),
      invalid(MALFORMED, 'name notanumber 1'),
      invalid(MALFORMED, 'four fields 1 2'),
      invalid('empty line', ''),
      invalid('empty line', '   '),
      invalid(MALFORMED, 'm\\u0001 x 2'),
    ]);
    h.protocol.onData(bytes('after 2 200\n'));
    expect(h.sink.copies[1].points).toEqual([dp('after', 2, 200)]);
  });

  it('with timestampOptional, stamps "name value" lines with the clock in whole seconds and counts them (not logged)', () => {
    const h = harness({ timestampOptional: true });
    h.protocol.onData(bytes('KEY.foo 1.2\nKEY.bar 3 1700000000\nKEY.baz 4\n'));
    h.clock.ms += 2500;
    h.protocol.onData(bytes('KEY.later 5\n'));
    expect(h.sink.points).toEqual([dp('KEY.foo', 1.2, Math.floor(NOW)), dp('KEY.bar', 3, 1700000000), dp('KEY.baz', 4, Math.floor(NOW)), dp('KEY.later', 5, Math.floor(NOW + 2.5))]);
    expect(moved(h.counters)).toEqual({ timestampsAssigned: 3 });
    expect(h.entries).toEqual([]);
    // what is still invalid is told the timestamp is optional
    h.protocol.onData(bytes('only.name\n'));
    expect(moved(h.counters)).toEqual({ timestampsAssigned: 3, invalidLines: 1 });
    expect(h.entries).toEqual([invalid('expected "name value [timestamp]"', 'only.name')]);
  });

  it('logs an invalid line cut to 400 characters', () => {
    const h = harness({ maxLineLength: 4096 });
    h.protocol.onData(bytes(`${'x'.repeat(1000)}\n`));
    expect(moved(h.counters)).toEqual({ invalidLines: 1 });
    expect(h.entries).toEqual([invalid(MALFORMED, `${'x'.repeat(400)}...`)]);
  });

  it('logs invalid lines once per host and interval, whatever the port; later entries carry the suppressed count', () => {
    const h = harness({ logIntervalMs: 10_000, peer: '192.0.2.10:1111' });
    const sameHost = h.open('192.0.2.10:2222');
    h.protocol.onData(bytes('bad.a\n'));
    sameHost.onData(bytes('bad.b\nbad.c\n'));
    expect(moved(h.counters)).toEqual({ invalidLines: 3 });
    expect(h.entries).toEqual([invalid(MALFORMED, 'bad.a', '192.0.2.10:1111')]);
    h.clock.ms += 10_000;
    sameHost.onData(bytes('bad.d\n'));
    expect(h.entries).toEqual([invalid(MALFORMED, 'bad.a', '192.0.2.10:1111'), { ...invalid(MALFORMED, 'bad.d', '192.0.2.10:2222'), suppressedSinceLast: 2 }]);
  });

  it('skips a line over maxLineLength up to its newline, counted once, whether it arrives whole or in pieces', () => {
    const max = 64;
    const long = `${'y'.repeat(300)} 1 100\n`;
    const atLimit = `${'z'.repeat(max - 4)} 1 2\n`;
    const expectedLog: LogEntry = { level: 'warn', message: 'line exceeds maxLineLength, ignoring', peer: PEER, line: `${'y'.repeat(100)}...` };

    const whole = harness({ maxLineLength: max });
    whole.protocol.onData(bytes(`${long}${atLimit}ok 1 100\n`));
    expect(whole.sink.points).toEqual([dp('z'.repeat(max - 4), 1, 2), dp('ok', 1, 100)]);
    expect(moved(whole.counters)).toEqual({ lineTooLong: 1 });
    expect(whole.entries).toEqual([expectedLog]);

    const pieces = harness({ maxLineLength: max });
    const all = bytes(`ok.before 1 100\n${long}ok.after 2 200\n`);
    for (let i = 0; i < all.length; i += 7) pieces.protocol.onData(all.subarray(i, i + 7));
    expect(pieces.sink.points).toEqual([dp('ok.before', 1, 100), dp('ok.after', 2, 200)]);
    expect(moved(pieces.counters)).toEqual({ lineTooLong: 1 });
    // In pieces, the excerpt is what was buffered when the limit was crossed: a shorter head of the same line.
    expect(pieces.entries).toEqual([{ ...expectedLog, line: expect.stringMatching(/^y{1,64}$/) }]);
  });

  it('a line one byte over maxLineLength is skipped', () => {
    const h = harness({ maxLineLength: 16 });
    h.protocol.onData(bytes('abcdefghijkl 1 2\nabcdefghijklm 1 2\n'));
    expect(h.sink.points).toEqual([dp('abcdefghijkl', 1, 2)]);
    expect(moved(h.counters)).toEqual({ lineTooLong: 1 });
  });
});

describe('LineProtocol at connection end (onEnd)', () => {
  it('discards an unterminated last line: counted in incompleteLines and logged with the peer and its size', () => {
    const h = harness();
    h.protocol.onData(bytes('done 1 100\nhalf.line 2 2'));
    h.protocol.onEnd();
    expect(h.sink.points).toEqual([dp('done', 1, 100)]);
    expect(moved(h.counters)).toEqual({ incompleteLines: 1 });
    expect(h.entries).toEqual([{ level: 'warn', message: 'connection closed in the middle of a line, discarding it', peer: PEER, bytes: 13 }]);
  });

  it('counts nothing when the stream ended on a newline', () => {
    const h = harness();
    h.protocol.onData(bytes('done 1 100\n'));
    h.protocol.onEnd();
    expect(moved(h.counters)).toEqual({});
    expect(h.entries).toEqual([]);
  });

  it('does not count an oversized line being skipped a second time', () => {
    const h = harness({ maxLineLength: 16 });
    h.protocol.onData(bytes('this.line.is.far.too.long 1'));
    h.protocol.onEnd();
    expect(moved(h.counters)).toEqual({ lineTooLong: 1 });
  });
});

describe('LineProtocol over UDP (onDatagram)', () => {
  it('decodes each datagram on its own, with or without a final newline, as coming from the datagram peer', () => {
    const h = harness({ peer: 'udp' });
    h.protocol.onDatagram(bytes('u.a 1 100\nu.b 2 -1'), '198.51.100.7:40000');
    h.protocol.onDatagram(bytes('u.c 3 300\n'), '198.51.100.8:40001');
    expect(h.sink.copies).toEqual([
      { origin: '198.51.100.7:40000', points: [dp('u.a', 1, 100), dp('u.b', 2, NOW)] },
      { origin: '198.51.100.8:40001', points: [dp('u.c', 3, 300)] },
    ]);
    expect(h.sink.handed[1]).toBe(h.sink.handed[0]);
    expect(moved(h.counters)).toEqual({});
  });

  it('never joins a line across datagrams: both halves are invalid lines, logged with their own peer', () => {
    const h = harness({ peer: 'udp' });
    h.protocol.onDatagram(bytes('split.name 4'), '198.51.100.7:40000');
    h.protocol.onDatagram(bytes(' 400\n'), '198.51.100.9:40002');
    expect(h.sink.copies).toEqual([]);
    expect(moved(h.counters)).toEqual({ invalidLines: 2 });
    expect(h.entries).toEqual([invalid(MALFORMED, 'split.name 4', '198.51.100.7:40000'), invalid(MALFORMED, ' 400', '198.51.100.9:40002')]);
  });
});

describe('LineProtocol progress (completed), which the idle timeout runs from', () => {
  it('counts whole lines, good, bad and oversized, never a partial one', () => {
    const h = harness({ maxLineLength: 16 });
    h.protocol.onData(bytes('a.b 1 1700000000\nnot a line at all\n'));
    expect(h.protocol.completed).toBe(2);
    h.protocol.onData(bytes('slow.lor'));
    h.protocol.onData(bytes('is'));
    expect(h.protocol.completed).toBe(2);
    h.protocol.onData(bytes('x'.repeat(40)));
    expect(h.protocol.completed).toBe(3); // the oversized line, once, when it passes the limit
    h.protocol.onData(bytes('y'.repeat(40)));
    expect(h.protocol.completed).toBe(3);
  });
});
