import net from 'node:net';
import type { Relay } from '../../src/relay/relay';
import { freePorts, readWhisper, startCarbonCacheOn, type CarbonCache } from '../helpers/carbon';
import { stopRelay } from '../helpers/cleanup';
import { eventually } from '../helpers/poll';
import { startRelay, tempDirsRemovedAfterAll } from '../helpers/relay';
import { waitFor } from '../helpers/sink';

const newDir = tempDirsRemovedAfterAll();

const OUTAGE_S = 60;
const RATE = 50_000;
const NAMES = 200;
const REPLAY_RATE = 100_000;

/**
 * The durable-delivery issue's scenario at full scale: a real carbon-cache is
 * down for 60 s while the relay takes 50,000 datapoints/s; once it is up,
 * everything spooled is replayed no faster than replayRate and ends up in
 * whisper. 200 series x 60 one-second slots each receive many datapoints in
 * send order, so each slot must hold the last value sent for it.
 */
describe('spool: carbon-cache down for 60 s at 50,000 datapoints/s', () => {
  let relay: Relay | undefined;
  let cache: CarbonCache | undefined;

  afterAll(async () => {
    try {
      await stopRelay(relay);
    } finally {
      await cache?.daemon.stop();
    }
  }, 30_000);

  it('every slot holds the last value sent during the outage, and the replay kept to replayRate', async () => {
    const ports = await freePorts(3);
    relay = await startRelay({
      dataDir: newDir(),
      destinations: [{ name: 'cache', host: '127.0.0.1', port: ports[1], protocol: 'pickle', reconnect: { initialDelay: '100ms', maxDelay: '500ms' }, spool: { replayRate: REPLAY_RATE } }],
      rules: [{ default: true, destinations: ['cache'] }],
    });
    const r = relay;
    const d = r.destinations.get('cache')!;
    const T = Math.floor(Date.now() / 1000 / 10) * 10 - 600;
    const last = new Map<string, number>(); // `${name} ${ts}` -> last value sent
    const client = net.connect(r.listeners.line!.port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    let sent = 0;
    const started = Date.now();
    // paced: RATE per second, in 100 ms steps, for OUTAGE_S seconds
    for (let step = 0; step < OUTAGE_S * 10; step++) {
      let chunk = '';
      for (let k = 0; k < RATE / 10; k++) {
        const i = sent++;
        const name = `outage60.s${i % NAMES}`;
        const ts = T + (Math.floor(i / NAMES) % 60);
        last.set(`${name} ${ts}`, i);
        chunk += `${name} ${i} ${ts}\n`;
      }
      if (!client.write(chunk)) await new Promise<void>((resolve) => client.once('drain', () => resolve()));
      const due = started + (step + 1) * 100;
      if (Date.now() < due) await new Promise((res) => setTimeout(res, due - Date.now()));
    }
    await new Promise<void>((resolve) => client.end(() => resolve()));
    await waitFor(() => d.counters.attemptedRelays === sent, 'every datapoint routed while the cache was down', 30_000);
    expect(d.counters.fullQueueDrops).toBe(0);

    cache = await startCarbonCacheOn(ports, '1s:1h');
    const upAt = Date.now();
    await waitFor(() => d.counters.sent === sent, 'the backlog replayed', 120_000);
    // a full bucket allows one second's worth at once; the rest goes at most at replayRate
    expect(Date.now() - upAt).toBeGreaterThanOrEqual(((sent - REPLAY_RATE) / REPLAY_RATE) * 1000 - 200);

    const c = cache;
    const slots = [...last.entries()].map(([key, value]) => {
      const [name, ts] = key.split(' ');
      return { name, ts: Number(ts), value };
    });
    const stored = await eventually(
      () => readWhisper(slots.map((s) => ({ file: c.whisperFile(s.name), timestamp: s.ts }))),
      (values) => values.every((v, i) => v === `${slots[i].value}.0`),
      'carbon-cache to hold the last value of every slot',
      { timeoutMs: 120_000, intervalMs: 2000, diagnostics: () => c.daemon.log.slice(-2000) },
    );
    expect(stored.filter((v, i) => v !== `${slots[i].value}.0`)).toEqual([]);
    expect(sent).toBe(OUTAGE_S * RATE);
  }, 420_000);
});
