import type { Relay } from '../../src/relay/relay';
import { stopRelay } from '../helpers/cleanup';
import { fromPyRepr, runPythonJson } from '../helpers/python';
import { startRelay } from '../helpers/relay';
import { CaptureServer, waitFor, type Captured } from '../helpers/sink';

/**
 * CPython as a pickle client of our relay: frames of every protocol it writes,
 * a Python-2 carbon client's frame (py2 str names: SHORT_BINSTRING/BINSTRING)
 * and the protocol-0 frame Etsy statsd's graphite backend writes (string
 * values). Python also reports how it reads each frame itself (pickle.loads,
 * then float() as carbon does), and we must forward exactly that.
 */

const SEND_FRAMES = String.raw`
import json, pickle, pickletools, socket, struct, sys

def points(p):
    same = 'py.p%d.same_object' % p  # one str object twice: the pickle refers back to it (GET/BINGET)
    return [
        ('py.p%d.int' % p, (1700000000, 42)),
        ('py.p%d.float' % p, (1700000000.5, -2.5)),
        ('py.p%d.ünï😀' % p, (1700000001, 1e300)),
        ('py.p%d.long' % p, (1700000002, 2 ** 40)),
        ('py.p%d.neg_long' % p, (1700000003, -(2 ** 33))),
        ('py.p%d.neg_int' % p, (1700000004, -7)),
        ('py.p%d.str_value' % p, (1700000005, '4.5')),
        ('py.p%d.bool' % p, (1700000006, True)),
        ('py.p%d.list_pair' % p, [1700000007, 0.25]),
        (same, (1700000008, 1)),
        (same, (1700000009, 2)),
    ]

frames = [pickle.dumps(points(p), protocol=p) for p in (0, 1, 2, 3, 4, 5)]

# A Python 2 carbon client: pickle.dumps(protocol=2) of py2 str names, int timestamps, float values.
def py2_frame(items):
    out, memo = [b'\x80\x02]q\x00('], 1
    for name, ts, value in items:
        raw = name.encode('utf-8')
        out.append(b'U' + bytes([len(raw)]) + raw if len(raw) < 256 else b'T' + struct.pack('<i', len(raw)) + raw)
        out.append(b'q' + bytes([memo]) + b'J' + struct.pack('<i', ts) + b'G' + struct.pack('>d', value))
        out.append(b'\x86q' + bytes([memo + 1]) + b'\x86q' + bytes([memo + 2]))
        memo += 3
    out.append(b'e.')
    return b''.join(out)

frames.append(py2_frame([
    ('py2.short_binstring', 1700000100, 1.5),
    ('py2.utf8.métrique', 1700000101, -2.5),
    ('py2.binstring.' + 'x' * 300, 1700000102, 3.25),
]))

# Etsy statsd (backends/graphite.js, graphiteProtocol 'pickle'): protocol 0, S'...' names and values, L...L timestamps.
def statsd_metric(key, value, ts):
    return "(S'%s'\n(L%dL\nS'%s'\ntta" % (key, ts, value)

frames.append(('(l' + statsd_metric('stats.counters.requests.count', '10', 1700000200)
               + statsd_metric('stats.gauges.load', '0.5', 1700000200)
               + statsd_metric('stats.timers.api.mean', '-3.75', 1700000201) + '.').encode('ascii'))

# How Python (and so carbon) reads them: SafeUnpickler decodes py2 str as UTF-8, then float() both numbers.
expected = []
for f in frames:
    for name, (ts, value) in pickle.loads(f, encoding='utf-8'):
        expected.append([name, repr(float(ts)), repr(float(value))])

with socket.create_connection(('127.0.0.1', int(sys.argv[1]))) as s:
    s.sendall(b''.join(struct.pack('!L', len(f)) + f for f in frames))
print(json.dumps({'frames': len(frames), 'protocols': [f[1] if f[0] == 0x80 else max(op.proto for op, a, pos in pickletools.genops(f)) for f in frames], 'expected': expected}))
`;

interface Sent {
  frames: number;
  protocols: number[];
  expected: [string, string, string][];
}

/** The datapoints of `points(p)` in the script, as carbon reads them. */
function pythonPoints(p: number): Captured[] {
  return [
    { name: `py.p${p}.int`, timestamp: 1700000000, value: 42 },
    { name: `py.p${p}.float`, timestamp: 1700000000.5, value: -2.5 },
    { name: `py.p${p}.ünï😀`, timestamp: 1700000001, value: 1e300 },
    { name: `py.p${p}.long`, timestamp: 1700000002, value: 2 ** 40 },
    { name: `py.p${p}.neg_long`, timestamp: 1700000003, value: -(2 ** 33) },
    { name: `py.p${p}.neg_int`, timestamp: 1700000004, value: -7 },
    { name: `py.p${p}.str_value`, timestamp: 1700000005, value: 4.5 },
    { name: `py.p${p}.bool`, timestamp: 1700000006, value: 1 },
    { name: `py.p${p}.list_pair`, timestamp: 1700000007, value: 0.25 },
    { name: `py.p${p}.same_object`, timestamp: 1700000008, value: 1 },
    { name: `py.p${p}.same_object`, timestamp: 1700000009, value: 2 },
  ];
}

describe('CPython pickle senders straight into our pickle listener', () => {
  const out = new CaptureServer('pickle');
  let relay: Relay | undefined;

  beforeAll(async () => {
    await out.listen();
    relay = await startRelay({
      destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'pickle' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
  });

  afterAll(async () => {
    await stopRelay(relay);
    await out.close();
  });

  it('decodes protocols 0-5, a Python-2 client frame and a statsd frame exactly as Python does', async () => {
    if (!relay) throw new Error('setup failed');
    const sent = await runPythonJson<Sent>(SEND_FRAMES, { args: [String(relay.listeners.pickle!.port)] });
    expect(sent.frames).toBe(8);
    expect(sent.protocols).toEqual([0, 1, 2, 3, 4, 5, 2, 0]);

    const expected: Captured[] = [
      ...[0, 1, 2, 3, 4, 5].flatMap(pythonPoints),
      { name: 'py2.short_binstring', timestamp: 1700000100, value: 1.5 },
      { name: 'py2.utf8.métrique', timestamp: 1700000101, value: -2.5 },
      { name: `py2.binstring.${'x'.repeat(300)}`, timestamp: 1700000102, value: 3.25 },
      { name: 'stats.counters.requests.count', timestamp: 1700000200, value: 10 },
      { name: 'stats.gauges.load', timestamp: 1700000200, value: 0.5 },
      { name: 'stats.timers.api.mean', timestamp: 1700000201, value: -3.75 },
    ];
    // Our literal expectations are what Python itself reads from those frames...
    expect(sent.expected.map(([name, ts, v]) => ({ name, timestamp: fromPyRepr(ts), value: fromPyRepr(v) }))).toEqual(expected);

    // ...and exactly what our relay forwarded, in order.
    await waitFor(() => out.datapoints.length >= expected.length, `${expected.length} datapoints at the destination (have ${out.datapoints.length})`, 30_000);
    expect(out.datapoints).toEqual(expected);
    expect(relay.counters.metricsReceived).toBe(expected.length);
    expect(relay.counters.invalidPickles).toBe(0);
    expect(relay.counters.invalidPickleItems).toBe(0);
  }, 60_000);
});
