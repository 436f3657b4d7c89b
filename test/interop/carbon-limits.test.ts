import type { Relay } from '../../src/relay/relay';
import { freePorts, readWhisper, startCarbonCacheOn, type CarbonCache } from '../helpers/carbon';
import { stopRelay } from '../helpers/cleanup';
import { eventually } from '../helpers/poll';
import { startRelay } from '../helpers/relay';
import { sendTcp, waitFor } from '../helpers/sink';

/**
 * The real Debian carbon-cache's input limits (issue 15 item 2): its line
 * receiver hangs up on a line over 16,384 bytes and its pickle receiver on a
 * frame over 2^20 bytes, losing what was in flight. The relay must never send
 * either: names over listen.maxNameLength are refused at the door, and pickle
 * frames are split by bytes (maxFrameBytes), so carbon keeps every connection
 * and stores every valid datapoint.
 *
 * Each test queues all its datapoints while carbon-cache is still down and
 * then starts it, so the backlog goes out in full messages
 * (maxDatapointsPerMessage, 500): the worst case for carbon's limits.
 */
describe('carbon-cache input limits behind our relay', () => {
  let cache: CarbonCache | undefined;
  let relay: Relay | undefined;

  afterEach(async () => {
    try {
      await stopRelay(relay);
    } finally {
      await cache?.daemon.stop();
      relay = undefined;
      cache = undefined;
    }
  }, 30_000);

  const host = '127.0.0.1';

  /** A relay whose one destination is carbon-cache's line or pickle port among `ports` (carbon not started yet). */
  async function relayTo(ports: number[], protocol: 'line' | 'pickle'): Promise<Relay> {
    return startRelay({
      listen: { line: { tcp: { host, port: 0 }, maxLineLength: 65_536 }, pickle: { tcp: { host, port: 0 } } },
      destinations: [{ name: 'cache', host, port: protocol === 'line' ? ports[0] : ports[1], protocol, reconnect: { initialDelay: '50ms', maxDelay: '200ms' } }],
      rules: [{ default: true, destinations: ['cache'] }],
    });
  }

  /** A recent, aligned timestamp well inside the 10-minute retention (1s:10m keeps whisper files at 7.2 kB). */
  const recent = (): number => Math.floor(Date.now() / 1000 / 10) * 10 - 60;
  const RETENTIONS = '1s:10m';

  it('line destination: 20,000-byte names are refused, carbon keeps the connection and stores every valid datapoint', async () => {
    const ports = await freePorts(3);
    relay = await relayTo(ports, 'line');
    const d = relay.destinations.get('cache')!;
    const T = recent();

    const valid: [string, number, number][] = [];
    for (let i = 0; i < 200; i++) valid.push([`interop.valid.${i}`, T + (i % 7), i * 10 + 0.5]);
    // Without the name check each of these would reach carbon intact, over its 16,384-byte line limit.
    const poisonName = (k: number): string => `interop.poison.${k}.` + 'p'.repeat(20_000 - `interop.poison.${k}.`.length);
    const POISON = 5;
    const lines: string[] = [];
    for (let i = 0; i < valid.length; i++) {
      if (i % 40 === 20) lines.push(`${poisonName(lines.length)} 1 ${T}`);
      const [n, t, v] = valid[i];
      lines.push(`${n} ${v} ${t}`);
    }
    expect(lines.length - valid.length).toBe(POISON);
    expect(Buffer.byteLength(poisonName(0))).toBe(20_000);
    await sendTcp(relay.listeners.line!.port, lines.join('\n') + '\n');
    await waitFor(() => relay!.counters.nameTooLong === POISON && d.counters.attemptedRelays === valid.length, 'valid lines queued, poison lines refused', 30_000);

    cache = await startCarbonCacheOn(ports, RETENTIONS);
    const c = cache;
    await waitFor(() => d.counters.sent === valid.length, 'all valid lines sent to carbon-cache', 30_000);
    const stored = await eventually(
      () => readWhisper(valid.map(([n, t]) => ({ file: c.whisperFile(n), timestamp: t }))),
      (values) => values.every((v) => v !== null && !v.startsWith('error')),
      'carbon-cache to store every valid datapoint',
      { timeoutMs: 60_000, intervalMs: 250, diagnostics: () => c.daemon.log },
    );
    expect(stored).toEqual(valid.map(([, , v]) => String(v)));
    expect(relay.counters.nameTooLong).toBe(POISON);
    expect(d.counters.closedByPeer).toBe(0);
    expect(d.counters.lostInFlight).toBe(0);
    expect(d.counters.oversizedDrops).toBe(0);
    expect(c.storedMetrics().filter((m) => m.startsWith('interop.poison.'))).toEqual([]);
  }, 120_000);

  it('pickle destination: 1,000 names of 2,200 bytes go out in frames carbon accepts, and all are stored', async () => {
    const ports = await freePorts(3);
    relay = await relayTo(ports, 'pickle');
    const d = relay.destinations.get('cache')!;
    const T = recent();

    // 100 dot-separated components of about 21 chars (each a short directory name), the last one distinct.
    const stem = ['interop', 'wide'];
    for (let k = stem.length; k < 99; k++) stem.push(`c${String(k).padStart(2, '0')}`.padEnd(21, 'w'));
    const points: [string, number, number][] = [];
    for (let i = 0; i < 1000; i++) points.push([[...stem, `m${String(i).padStart(4, '0')}`.padEnd(21, 'z')].join('.'), T + (i % 11), i + 0.25]);
    const nameBytes = Buffer.byteLength(points[0][0]);
    expect(nameBytes).toBeGreaterThan(2_000);
    expect(nameBytes).toBeLessThan(4096);
    // Before the fix a full message of 500 of these (over 2^20 bytes) went out as one frame and carbon hung up.
    expect(500 * nameBytes).toBeGreaterThan(2 ** 20);

    await sendTcp(relay.listeners.line!.port, points.map(([n, t, v]) => `${n} ${v} ${t}\n`).join(''));
    await waitFor(() => d.counters.attemptedRelays === points.length, 'all queued while carbon-cache is down', 30_000);

    cache = await startCarbonCacheOn(ports, RETENTIONS);
    const c = cache;
    await waitFor(() => d.counters.sent === points.length, 'all sent to carbon-cache pickle', 30_000);
    const stored = await eventually(
      () => readWhisper(points.map(([n, t]) => ({ file: c.whisperFile(n), timestamp: t }))),
      (values) => values.every((v) => v !== null && !v.startsWith('error')),
      'carbon-cache to store every wide datapoint',
      { timeoutMs: 90_000, intervalMs: 500, diagnostics: () => c.daemon.log },
    );
    expect(stored).toEqual(points.map(([, , v]) => String(v)));
    // ~2.2 MB in frames of at most 1,000,000 bytes: at least three.
    expect(d.counters.batchesSent).toBeGreaterThanOrEqual(3);
    expect(d.counters.closedByPeer).toBe(0);
    expect(d.counters.lostInFlight).toBe(0);
    expect(d.counters.oversizedDrops).toBe(0);
    expect(relay.counters.nameTooLong).toBe(0);
  }, 150_000);
});
