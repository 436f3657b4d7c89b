import fs from 'node:fs';
import path from 'node:path';
import type { Relay } from '../../src/relay/relay';
import { startCarbonAggregator, type CarbonAggregator } from '../helpers/carbon';
import { stopRelay } from '../helpers/cleanup';
import { eventually } from '../helpers/poll';
import { startRelay, tempDirsRemovedAfterAll } from '../helpers/relay';
import { CaptureServer, sendTcp, type Captured } from '../helpers/sink';

/**
 * Debian's carbon-aggregator and carbon-fanout on the same aggregation-rules.conf
 * and the same input (plaintext lines, timestamps in fixed intervals a little in
 * the past), each relaying to its own capture server. The aggregates must agree
 * in names, values (bit for bit) and timestamps, and so must the raw datapoints
 * both forward (FORWARD_ALL / keepRaw). Then a late datapoint for an interval
 * both have already emitted: both re-emit that interval over all its values.
 *
 * What is compared is the last value each side emitted per (name, interval):
 * when each computes differs (carbon: every frequency seconds from the
 * aggregate's first datapoint; carbon-fanout: on wall-clock multiples of the
 * frequency), so a side may emit a partial value of an interval first.
 */

const RULES = [
  // <field>: one path segment, with text around it
  'agg.<host>.cpu.sum (5) = sum servers.<host>.cpu.*',
  'agg.<host>.cpu.avg (5) = avg servers.<host>.cpu.*',
  'agg.all.cpu.max (5) = max servers.*.cpu.*',
  'agg.all.cpu.min (10) = min servers.*.cpu.*',
  'agg.cpu-<kind>.count (10) = count servers.*.cpu.<kind>',
  // <<field>>: spans dots
  'agg.<path>.p90 (5) = p90 lat.<<path>>.ms',
  'agg.<path>.p50 (10) = p50 lat.<<path>>.ms',
  'agg.lat.p999 (5) = p999 lat.<<path>>.ms',
  'agg.lat.p75 (5) = p75 lat.<<path>>.ms',
  // named like its own input: the raw datapoint is not forwarded (carbon's FORWARD_ALL rule)
  'self.<x> (5) = sum self.<x>',
].join('\n');

const MAX_INTERVALS = 20;

type LastValues = Map<string, number>;

/** The last value per `name@timestamp` among what a capture server received, for names in `names` (or all). */
function lastValues(points: readonly Captured[], keep: (name: string) => boolean): LastValues {
  const out: LastValues = new Map();
  for (const p of points) if (keep(p.name)) out.set(`${p.name}@${p.timestamp}`, p.value);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

const isAggregate = (name: string): boolean => name.startsWith('agg.') || name.startsWith('self.');

describe('carbon-aggregator and carbon-fanout on the same aggregation-rules.conf', () => {
  const newDir = tempDirsRemovedAfterAll();
  let carbon: CarbonAggregator | undefined;
  let relay: Relay | undefined;
  const sinks: CaptureServer[] = [];

  afterAll(async () => {
    if (relay !== undefined) await stopRelay(relay, 2000);
    await carbon?.daemon.stop();
    for (const s of sinks) await s.close();
  });

  it('emit the same aggregates (names, values, timestamps), forward the same raw datapoints, and re-emit an interval that gets a late value', async () => {
    const [carbonSink, ourSink] = [new CaptureServer('pickle'), new CaptureServer('pickle')];
    sinks.push(carbonSink, ourSink);
    await carbonSink.listen();
    await ourSink.listen();
    carbon = await startCarbonAggregator([`127.0.0.1:${carbonSink.port}`], `${RULES}\n`, { MAX_AGGREGATION_INTERVALS: MAX_INTERVALS });
    const dir = newDir();
    fs.writeFileSync(path.join(dir, 'aggregation-rules.conf'), `${RULES}\n`);
    relay = await startRelay({
      destinations: [{ name: 'sink', host: '127.0.0.1', port: ourSink.port }],
      rules: [{ default: true, destinations: ['sink'] }],
      aggregation: { rules: path.join(dir, 'aggregation-rules.conf'), maxIntervals: MAX_INTERVALS },
    });

    // intervals 20 to 40 s in the past: inside both sides' window (20 intervals of 5 s)
    const now = Math.floor(Date.now() / 1000);
    const base = now - (now % 10) - 40;
    const lines: string[] = [];
    const values = [0.1, 0.2, 0.7, 1e-3, 12.5, 3.3333333333333335, 100, 0.30000000000000004, 7, 2.5];
    let k = 0;
    for (const offset of [0, 3, 5, 9, 12, 17]) {
      for (const host of ['web1', 'web2', 'db.1']) {
        for (const kind of ['user', 'system']) lines.push(`servers.${host}.cpu.${kind} ${values[k++ % values.length]} ${base + offset}`);
      }
      for (const p of ['api.get', 'api.post.slow', 'edge']) lines.push(`lat.${p}.ms ${values[k++ % values.length] * 10} ${base + offset}`);
      lines.push(`self.x ${offset} ${base + offset}`);
      lines.push(`unmatched.${offset} 1 ${base + offset}`);
    }
    const input = `${lines.join('\n')}\n`;
    await sendTcp(carbon.linePort, input);
    await sendTcp(relay.listeners.line!.port, input);

    // every (aggregate, interval) the input opens: 10 rules' outputs over the intervals of their frequency
    const expectedKeys = new Set<string>();
    for (const line of lines) {
      const [name, , ts] = line.split(' ');
      const t = Number(ts);
      const f5 = t - (t % 5);
      const f10 = t - (t % 10);
      const cpu = /^servers\.([^.]+)\.cpu\.(\w+)$/.exec(name);
      if (cpu !== null) {
        expectedKeys.add(`agg.${cpu[1]}.cpu.sum@${f5}`).add(`agg.${cpu[1]}.cpu.avg@${f5}`).add(`agg.all.cpu.max@${f5}`);
        expectedKeys.add(`agg.all.cpu.min@${f10}`).add(`agg.cpu-${cpu[2]}.count@${f10}`);
      }
      const lat = /^lat\.(.+)\.ms$/.exec(name);
      if (lat !== null) expectedKeys.add(`agg.${lat[1]}.p90@${f5}`).add(`agg.${lat[1]}.p50@${f10}`).add(`agg.lat.p999@${f5}`).add(`agg.lat.p75@${f5}`);
      if (name === 'self.x') expectedKeys.add(`self.x@${f5}`);
    }
    // `db.1` is two segments: neither <host> nor `*` matches it, so servers.db.1.cpu.* feeds no rule
    const expected = [...expectedKeys];
    // cpu: 2 hosts x (sum, avg) x 4 intervals of 5 s + max x 4 + min x 2 + count x 2 kinds x 2; lat: p90 3 x 4 + p50 3 x 2 + p999 4 + p75 4; self 4
    expect(expected.length).toBe(16 + 4 + 2 + 4 + 12 + 6 + 4 + 4 + 4);
    expect(expected.some((key) => key.includes('db'))).toBe(false);

    const settled = async (sink: CaptureServer, who: string): Promise<LastValues> =>
      eventually(
        async () => lastValues(sink.datapoints, isAggregate),
        (v) => expected.every((key) => v.has(key)),
        `${who}: every aggregate emitted`,
        { timeoutMs: 40_000, diagnostics: () => carbon?.daemon.log.slice(-3000) ?? '' },
      );
    await settled(ourSink, 'carbon-fanout');
    await settled(carbonSink, 'carbon-aggregator');
    // both settled on the same keys; values may still be partial on one side: wait until they agree
    const agreed = await eventually(
      async () => [lastValues(ourSink.datapoints, isAggregate), lastValues(carbonSink.datapoints, isAggregate)] as const,
      ([a, b]) => JSON.stringify([...a]) === JSON.stringify([...b]),
      'the same last values on both sides',
      { timeoutMs: 30_000 },
    );
    expect([...agreed[0]]).toEqual([...agreed[1]]);
    expect([...agreed[0].keys()].sort()).toEqual([...expected].sort());

    // spot checks computed by hand, so the comparison is not of two equal mistakes
    const v = agreed[0];
    expect(v.get(`self.x@${base}`)).toBe(0 + 3);
    // web1 and web2 (db.1 matches no rule) at offsets 0, 3, 5 and 9
    expect(v.get(`agg.cpu-user.count@${base}`)).toBe(8);
    // raw datapoints: forwarded alike (self.x not at all, as carbon: it is named like its own aggregate)
    const raw = (sink: CaptureServer): string[] => sink.datapoints.filter((p) => !isAggregate(p.name)).map((p) => `${p.name} ${p.value} ${p.timestamp}`).sort();
    expect(raw(ourSink)).toEqual(raw(carbonSink));
    expect(raw(ourSink).length).toBe(lines.length - 6);

    // a late value for an interval both emitted: both re-emit it over all its values
    const late = `servers.web1.cpu.user 1000 ${base + 1}\n`;
    const before = { ours: ourSink.datapoints.length, theirs: carbonSink.datapoints.length };
    await sendTcp(carbon.linePort, late);
    await sendTcp(relay.listeners.line!.port, late);
    const reemitted = (sink: CaptureServer, from: number): Promise<Captured[]> =>
      eventually(
        async () => sink.datapoints.slice(from).filter((p) => p.name === 'agg.web1.cpu.sum'),
        (ps) => ps.length > 0,
        're-emission of agg.web1.cpu.sum',
        { timeoutMs: 30_000 },
      );
    const [a, b] = [await reemitted(ourSink, before.ours), await reemitted(carbonSink, before.theirs)];
    expect(a).toEqual(b);
    expect(a).toEqual([{ name: 'agg.web1.cpu.sum', timestamp: base, value: v.get(`agg.web1.cpu.sum@${base}`)! + 1000 }]);
  }, 120_000);
});
