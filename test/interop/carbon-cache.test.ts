import fs from 'node:fs';
import type { Relay } from '../../src/relay/relay';
import { startCarbonCache, readWhisper, type CarbonCache } from '../helpers/carbon';
import { eventually } from '../helpers/poll';
import { runPython } from '../helpers/python';
import { stopRelay } from '../helpers/cleanup';
import { startRelay } from '../helpers/relay';
import { sendTcp } from '../helpers/sink';

/**
 * The real Debian carbon-cache as our destination: what we send (pickle, line,
 * and pickle with an API-key prefix) must end up in its whisper files, read
 * back with python3-whisper.
 */

const API_KEY = 'k3y-1234';

/** Build a protocol-2 pickle frame in Python (carbon's client format) and send it to 127.0.0.1:port. */
const SEND_PICKLE = String.raw`
import json, pickle, socket, struct, sys
points = [(name, (ts, value)) for name, ts, value in json.loads(sys.argv[2])]
payload = pickle.dumps(points, protocol=2)
with socket.create_connection(('127.0.0.1', int(sys.argv[1]))) as s:
    s.sendall(struct.pack('!L', len(payload)) + payload)
`;

describe('carbon-cache (Debian graphite-carbon) behind our relay', () => {
  let cache: CarbonCache | undefined;
  let relay: Relay | undefined;

  beforeAll(async () => {
    cache = await startCarbonCache('1s:1h');
    const host = '127.0.0.1';
    const reconnect = { initialDelay: '50ms', maxDelay: '500ms' };
    relay = await startRelay({
      destinations: [
        { name: 'cache-pickle', host, port: cache.picklePort, protocol: 'pickle', reconnect },
        { name: 'cache-line', host, port: cache.linePort, protocol: 'line', reconnect },
        { name: 'hosted', host, port: cache.picklePort, protocol: 'pickle', apiKey: API_KEY, reconnect },
      ],
      rules: [
        { pattern: '^interop\\.hosted\\.', destinations: ['hosted'] },
        { pattern: '^interop\\.line\\.', destinations: ['cache-line'] },
        { default: true, destinations: ['cache-pickle'] },
      ],
    });
  }, 90_000);

  afterAll(async () => {
    try {
      await stopRelay(relay);
    } finally {
      await cache?.daemon.stop();
    }
  }, 30_000);

  it('stores exactly the datapoints we relay, at their timestamps, under the right names', async () => {
    if (!cache || !relay) throw new Error('setup failed');
    const c = cache;
    // Recent (inside the 1h retention) and aligned, so every timestamp below is its own 1 s slot.
    const T = Math.floor(Date.now() / 1000 / 10) * 10 - 120;

    const lines = [
      `interop.pickle.gauge 42.5 ${T}`,
      `interop.pickle.gauge 43.25 ${T + 1}`,
      `interop.pickle.negative -3.25 ${T}`,
      `interop.pickle.huge 1e300 ${T}`,
      `interop.pickle.tiny 1e-300 ${T}`,
      `interop.pickle.int 123456789 ${T}`,
      `interop.pickle.fraction 0.1 ${T + 5.75}`,
      `interop.pickle.ünïcödé 7 ${T}`,
      `interop.line.value 1.5 ${T}`,
      `interop.line.fraction 0.1 ${T + 3.9}`,
      `interop.line.negative -2048.125 ${T + 2}`,
      `interop.hosted.requests 99 ${T}`,
      `interop.hosted.requests 100 ${T + 1}`,
    ];
    await sendTcp(relay.listeners.line!.port, lines.join('\n') + '\n');
    // Pickle in, too: Python's own protocol-2 frame, int and float numbers mixed.
    await runPython(SEND_PICKLE, {
      args: [
        String(relay.listeners.pickle!.port),
        JSON.stringify([
          ['interop.pickle.from_python', T + 2.5, 8.5],
          ['interop.pickle.from_python', T + 3, -1],
          ['interop.hosted.from_python', T, 0.25],
        ]),
      ],
    });

    /** [metric as stored, timestamp, Python repr() of the value whisper must hold] */
    const expected: [string, number, string][] = [
      ['interop.pickle.gauge', T, '42.5'],
      ['interop.pickle.gauge', T + 1, '43.25'],
      ['interop.pickle.negative', T, '-3.25'],
      ['interop.pickle.huge', T, '1e+300'],
      ['interop.pickle.tiny', T, '1e-300'],
      ['interop.pickle.int', T, '123456789.0'],
      ['interop.pickle.fraction', T + 5, '0.1'], // whisper floors a fractional timestamp to its slot
      ['interop.pickle.ünïcödé', T, '7.0'],
      ['interop.pickle.from_python', T + 2, '8.5'],
      ['interop.pickle.from_python', T + 3, '-1.0'],
      ['interop.line.value', T, '1.5'],
      ['interop.line.fraction', T + 3, '0.1'],
      ['interop.line.negative', T + 2, '-2048.125'],
      [`${API_KEY}.interop.hosted.requests`, T, '99.0'],
      [`${API_KEY}.interop.hosted.requests`, T + 1, '100.0'],
      [`${API_KEY}.interop.hosted.from_python`, T, '0.25'],
    ];
    const points = expected.map(([metric, timestamp]) => ({ file: c.whisperFile(metric), timestamp }));
    const stored = await eventually(
      () => readWhisper(points),
      (values) => values.every((v) => v !== null && !v.startsWith('error')),
      'carbon-cache to write every datapoint to whisper',
      { timeoutMs: 60_000, intervalMs: 200, diagnostics: () => `stored metrics: ${c.storedMetrics().join(', ')}\n${c.daemon.log}` },
    );
    expect(expected.map(([metric, ts], i) => [metric, ts, stored[i]])).toEqual(expected);

    // Nothing else was created: no unprefixed copy of the hosted series, no prefixed copy of the others.
    expect(c.storedMetrics()).toEqual(
      [
        `${API_KEY}.interop.hosted.from_python`,
        `${API_KEY}.interop.hosted.requests`,
        'interop.line.fraction',
        'interop.line.negative',
        'interop.line.value',
        'interop.pickle.fraction',
        'interop.pickle.from_python',
        'interop.pickle.gauge',
        'interop.pickle.huge',
        'interop.pickle.int',
        'interop.pickle.negative',
        'interop.pickle.tiny',
        'interop.pickle.ünïcödé',
      ].sort(),
    );
    expect(fs.existsSync(c.whisperFile('interop.hosted.requests'))).toBe(false);

    // Neighbouring slots stay empty: each datapoint landed at exactly its own timestamp.
    const around = await readWhisper([
      { file: c.whisperFile('interop.pickle.gauge'), timestamp: T - 1 },
      { file: c.whisperFile('interop.pickle.gauge'), timestamp: T + 2 },
      { file: c.whisperFile('interop.line.fraction'), timestamp: T + 4 },
      { file: c.whisperFile(`${API_KEY}.interop.hosted.requests`), timestamp: T + 2 },
    ]);
    expect(around).toEqual([null, null, null, null]);

    const counters = [...relay.destinations.values()].map((d) => [d.name, d.counters.sent]);
    expect(counters).toEqual([
      ['cache-pickle', 10],
      ['cache-line', 3],
      ['hosted', 3],
    ]);
  }, 90_000);
});
