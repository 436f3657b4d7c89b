import type { Relay } from '../../src/relay/relay';
import { startCarbonRelay, type CarbonRelay } from '../helpers/carbon';
import { stopRelay } from '../helpers/cleanup';
import { runPython } from '../helpers/python';
import { startRelay } from '../helpers/relay';
import { CaptureServer, sendTcp, waitFor, type Captured } from '../helpers/sink';

/**
 * The real Debian carbon-relay in front of us: it parses what clients send
 * and forwards it with its own pickle client (DESTINATION_PROTOCOL=pickle) to
 * our pickle listener; we must pass exactly those datapoints on.
 */

/** A Python protocol-2 pickle frame (carbon's client format), sent to 127.0.0.1:argv[1]. */
const SEND_PICKLE = String.raw`
import pickle, socket, struct, sys
same = 'carbon.interop.py.same_object'  # one str object twice: the pickle refers back to it (BINGET)
points = [
    ('carbon.interop.py.int', (1700000100, 1)),
    ('carbon.interop.py.float', (1700000100.5, 2.75)),
    ('carbon.interop.py.str_value', (1700000101, '4.5')),
    ('carbon.interop.py.ünï😀', (1700000102, -0.5)),
    (same, (1700000103, 10)),
    (same, (1700000104, 11)),
    ('carbon.interop.py.bigint', (1700000105, 2 ** 40)),
]
payload = pickle.dumps(points, protocol=2)
with socket.create_connection(('127.0.0.1', int(sys.argv[1]))) as s:
    s.sendall(struct.pack('!L', len(payload)) + payload)
`;

describe('Debian carbon-relay feeding our relay', () => {
  const pickleOut = new CaptureServer('pickle');
  const lineOut = new CaptureServer('line');
  let relay: Relay | undefined;
  let carbon: CarbonRelay | undefined;

  beforeAll(async () => {
    await pickleOut.listen();
    await lineOut.listen();
    relay = await startRelay({
      destinations: [
        { name: 'pickle-out', host: '127.0.0.1', port: pickleOut.port, protocol: 'pickle' },
        { name: 'line-out', host: '127.0.0.1', port: lineOut.port, protocol: 'line' },
      ],
      rules: [{ default: true, destinations: ['pickle-out', 'line-out'] }],
    });
    carbon = await startCarbonRelay([`127.0.0.1:${relay.listeners.pickle!.port}`]);
  }, 90_000);

  afterAll(async () => {
    try {
      await carbon?.daemon.stop();
    } finally {
      await stopRelay(relay);
      await pickleOut.close();
      await lineOut.close();
    }
  }, 30_000);

  const diagnostics = (): string => `\n--- carbon-relay log ---\n${carbon?.daemon.log ?? ''}`;

  it('forwards plaintext lines sent to carbon-relay exactly, via its pickle output and our relay', async () => {
    if (!carbon || !relay) throw new Error('setup failed');
    const lines = [
      'carbon.interop.gauge 42.5 1700000000',
      'carbon.interop.negative -3.25 1700000001.5',
      'carbon.interop.ünïcödé 7 1700000002',
      'carbon.interop.int 12345 1700000003',
      'carbon.interop.inf inf 1700000004',
      'carbon.interop.neg_zero -0 1700000005',
      'carbon.interop.tiny 1e-300 1700000006',
      'carbon.interop.nan nan 1700000007', // carbon-relay drops NaN values itself
      'carbon.interop.huge 1e300 1700000008',
      'carbon.interop.fraction 0.1 1700000009.25',
    ];
    await sendTcp(carbon.linePort, lines.join('\n') + '\n');

    const expected: Captured[] = [
      { name: 'carbon.interop.gauge', timestamp: 1700000000, value: 42.5 },
      { name: 'carbon.interop.negative', timestamp: 1700000001.5, value: -3.25 },
      { name: 'carbon.interop.ünïcödé', timestamp: 1700000002, value: 7 },
      { name: 'carbon.interop.int', timestamp: 1700000003, value: 12345 },
      { name: 'carbon.interop.inf', timestamp: 1700000004, value: Infinity },
      { name: 'carbon.interop.neg_zero', timestamp: 1700000005, value: -0 },
      { name: 'carbon.interop.tiny', timestamp: 1700000006, value: 1e-300 },
      { name: 'carbon.interop.huge', timestamp: 1700000008, value: 1e300 },
      { name: 'carbon.interop.fraction', timestamp: 1700000009.25, value: 0.1 },
    ];
    await waitFor(() => pickleOut.datapoints.length >= expected.length, `${expected.length} datapoints at the pickle destination${diagnostics()}`, 30_000);
    expect(pickleOut.datapoints).toEqual(expected); // toEqual tells -0 from 0

    const expectedText = [
      'carbon.interop.gauge 42.5 1700000000',
      'carbon.interop.negative -3.25 1700000001',
      'carbon.interop.ünïcödé 7 1700000002',
      'carbon.interop.int 12345 1700000003',
      'carbon.interop.inf inf 1700000004',
      'carbon.interop.neg_zero -0 1700000005',
      'carbon.interop.tiny 0 1700000006', // carbon's "%.10f" value format
      `carbon.interop.huge ${BigInt(1e300).toString()} 1700000008`,
      'carbon.interop.fraction 0.1 1700000009',
    ]
      .map((l) => l + '\n')
      .join('');
    await waitFor(() => lineOut.raw.length >= Buffer.byteLength(expectedText), `the line destination${diagnostics()}`, 30_000);
    expect(lineOut.raw.toString('utf8')).toBe(expectedText);

    expect(relay.counters.metricsReceived).toBe(expected.length);
    expect(relay.counters.invalidPickles).toBe(0);
    expect(relay.counters.invalidPickleItems).toBe(0);
  }, 60_000);

  it('forwards a Python protocol-2 pickle sent to carbon-relay\'s pickle port, every number as a float', async () => {
    if (!carbon || !relay) throw new Error('setup failed');
    const pickleBefore = pickleOut.datapoints.length;
    const lineBefore = lineOut.raw.length;
    const receivedBefore = relay.counters.metricsReceived;
    await runPython(SEND_PICKLE, { args: [String(carbon.picklePort)] });

    const expected: Captured[] = [
      { name: 'carbon.interop.py.int', timestamp: 1700000100, value: 1 },
      { name: 'carbon.interop.py.float', timestamp: 1700000100.5, value: 2.75 },
      { name: 'carbon.interop.py.str_value', timestamp: 1700000101, value: 4.5 },
      { name: 'carbon.interop.py.ünï😀', timestamp: 1700000102, value: -0.5 },
      { name: 'carbon.interop.py.same_object', timestamp: 1700000103, value: 10 },
      { name: 'carbon.interop.py.same_object', timestamp: 1700000104, value: 11 },
      { name: 'carbon.interop.py.bigint', timestamp: 1700000105, value: 2 ** 40 },
    ];
    await waitFor(() => pickleOut.datapoints.length - pickleBefore >= expected.length, `${expected.length} more datapoints${diagnostics()}`, 30_000);
    expect(pickleOut.datapoints.slice(pickleBefore)).toEqual(expected);

    const expectedText =
      'carbon.interop.py.int 1 1700000100\n' +
      'carbon.interop.py.float 2.75 1700000100\n' +
      'carbon.interop.py.str_value 4.5 1700000101\n' +
      'carbon.interop.py.ünï😀 -0.5 1700000102\n' +
      'carbon.interop.py.same_object 10 1700000103\n' +
      'carbon.interop.py.same_object 11 1700000104\n' +
      'carbon.interop.py.bigint 1099511627776 1700000105\n';
    await waitFor(() => lineOut.raw.length - lineBefore >= Buffer.byteLength(expectedText), `the line destination${diagnostics()}`, 30_000);
    expect(lineOut.raw.subarray(lineBefore).toString('utf8')).toBe(expectedText);

    expect(relay.counters.metricsReceived - receivedBefore).toBe(expected.length);
    expect(relay.counters.invalidPickles).toBe(0);
    expect(relay.counters.invalidPickleItems).toBe(0);
  }, 60_000);
});
