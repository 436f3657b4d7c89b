import fs from 'node:fs';
import path from 'node:path';
import { AGGREGATION_COUNTERS } from '../../src/aggregation/counters';
import { ConfigError, ConfigErrorCode } from '../../src/config/config-error';
import { loadConfig } from '../../src/config/load';
import { Relay } from '../../src/relay/relay';
import { silentLogger } from '../../src/telemetry/logger';
import { targetOf } from '../../src/telemetry/prometheus-names';
import { stopRelay } from '../helpers/cleanup';
import { configFrom, EPHEMERAL_LISTEN, startRelay, tempDirsRemovedAfterAll } from '../helpers/relay';
import { capturesClosedAfterEach, sendTcp, waitFor, type Captured, type CaptureServer } from '../helpers/sink';

/**
 * Aggregation inside a running relay, over real sockets: what reaches the
 * destinations with keepRaw on and off, aggregates through the rules or to
 * named destinations, the last interval emitted at stop, reload, and the
 * counters in self-metrics and Prometheus. (The aggregation itself, against
 * Debian's carbon-aggregator: test/interop/carbon-aggregator.test.ts.)
 */
describe('aggregation in the relay', () => {
  const newDir = tempDirsRemovedAfterAll();
  const capture = capturesClosedAfterEach();
  let relay: Relay | undefined;

  afterEach(async () => {
    await stopRelay(relay, 2000);
    relay = undefined;
  });

  function rulesFile(text: string): string {
    const file = path.join(newDir(), 'aggregation-rules.conf');
    fs.writeFileSync(file, text);
    return file;
  }

  /** An interval start (frequency 60) a minute or two back: inside the window, already past. */
  function recentInterval(): number {
    const now = Math.floor(Date.now() / 1000);
    return now - (now % 60) - 60;
  }

  /** The last value per name@timestamp of the aggregates (names not starting with `in.` or `req.`). */
  const last = (ps: readonly Captured[]): Record<string, number> => Object.fromEntries(ps.filter((p) => !/^(in|req|other)\./.test(p.name)).map((p) => [`${p.name}@${p.timestamp}`, p.value]));

  /** The aggregator's counters as the relay reports them. */
  function aggregationCounters(r: Relay): Record<string, number> {
    const out: Record<string, number> = {};
    r.topology.lists.aggregationReporter.reportCounters((key, value) => (out[key] = value));
    return out;
  }

  const dest = (name: string, s: CaptureServer): Record<string, unknown> => ({ name, host: '127.0.0.1', port: s.port, protocol: 'line' });

  it('output: rules, keepRaw false: aggregates go through the rules, matched raw datapoints go nowhere (counted), others are routed; stop emits the open interval', async () => {
    const [raw, aggs] = [await capture(), await capture()];
    relay = await startRelay({
      destinations: [dest('raw', raw), dest('aggs', aggs)],
      rules: [{ pattern: '^sum\\.', destinations: ['aggs'] }, { default: true, destinations: ['raw'] }],
      aggregation: { rules: rulesFile('sum.<app> (60) = sum req.<app>.*\n'), keepRaw: false },
    });
    const t = recentInterval();
    await sendTcp(relay.listeners.line!.port, `req.shop.a 1 ${t}\nreq.shop.b 2 ${t + 30}\nreq.blog.a 5 ${t + 59}\nother.x 9 ${t}\n`);
    await waitFor(() => relay!.counters.metricsReceived === 4, 'received');
    const r = relay;
    relay = undefined;
    await stopRelay(r);
    expect(last(aggs.datapoints)).toEqual({ [`sum.shop@${t}`]: 3, [`sum.blog@${t}`]: 5 });
    expect(raw.datapoints).toEqual([{ name: 'other.x', value: 9, timestamp: t }]);
    expect(aggregationCounters(r)).toMatchObject({ datapointsAggregated: 3, rawConsumed: 3, aggregatesEmitted: 2, openAggregates: 0 });
  });

  it('output: named destinations, keepRaw true: aggregates go only there, whatever the rules say; raw datapoints are routed as ever', async () => {
    const [all, aggs] = [await capture(), await capture()];
    relay = await startRelay({
      destinations: [dest('all', all), dest('aggs', aggs)],
      rules: [{ default: true, destinations: ['all'] }],
      aggregation: { rules: rulesFile('max.<app> (60) = max req.<app>.*\n'), output: ['aggs'] },
    });
    const t = recentInterval();
    await sendTcp(relay.listeners.line!.port, `req.shop.a 1 ${t}\nreq.shop.b 2 ${t}\n`);
    await waitFor(() => all.datapoints.length === 2, 'raw routed');
    const r = relay;
    relay = undefined;
    await stopRelay(r);
    expect(last(aggs.datapoints)).toEqual({ [`max.shop@${t}`]: 2 });
    expect(all.datapoints.map((p) => p.name).sort()).toEqual(['req.shop.a', 'req.shop.b']);
  });

  it('reports its counters in self-metrics and Prometheus (every key mapped)', async () => {
    const sink = await capture();
    relay = await startRelay({
      destinations: [dest('sink', sink)],
      rules: [{ default: true, destinations: ['sink'] }],
      aggregation: { rules: rulesFile('sum (60) = sum in.*\n'), maxAggregates: 1 },
    });
    const keys: string[] = [];
    relay.topology.lists.aggregationReporter.reportCounters((key) => keys.push(key));
    expect(keys).toEqual(Object.keys(AGGREGATION_COUNTERS));
    expect(keys.filter((k) => targetOf('aggregator', k) === undefined)).toEqual([]);
    const t = recentInterval();
    await sendTcp(relay.listeners.line!.port, `in.a 1 ${t}\nin.b 2 ${t - 86_400}\n`);
    await waitFor(() => relay!.counters.metricsReceived === 2, 'received');
    const emitted = relay.selfMetrics.emit();
    const self = new Map(emitted.names.slice(0, emitted.length).map((n, i) => [n, emitted.values[i]]));
    const prefix = relay.config.selfMetrics.prefix ?? '';
    const at = (k: string): number | undefined => [...self].find(([n]) => n.endsWith(`.aggregator.${k}`) && (prefix === '' || n.startsWith(prefix)))?.[1];
    expect([at('datapointsAggregated'), at('lateDatapoints'), at('openAggregates')]).toEqual([1, 1, 1]);
    const body = await (await fetch(`http://127.0.0.1:${relay.topology.admin!.port}/metrics`)).text();
    expect(body).toContain('carbon_fanout_aggregation_dropped_total{reason="late"} 1');
    expect(body).toContain('carbon_fanout_aggregation_open_aggregates 1');
    expect(body).toContain('carbon_fanout_aggregation_datapoints_total 1');
  });

  it('reload: the same aggregation keeps the aggregator and what it holds; new rules emit the old intervals and start afresh', async () => {
    const sink = await capture();
    const file = rulesFile('sum (60) = sum in.*\n');
    const cfg = { destinations: [dest('sink', sink)], rules: [{ default: true, destinations: ['sink'] }], aggregation: { rules: file } };
    relay = await startRelay(cfg);
    const r = relay;
    const t = recentInterval();
    await sendTcp(r.listeners.line!.port, `in.a 1 ${t}\n`);
    await waitFor(() => r.counters.metricsReceived === 1, 'received');
    const first = r.topology.live.routing.aggregator;
    const sameAgain = configFrom({ listen: r.config.listen, admin: { port: 0 }, selfMetrics: { interval: 0 }, ...cfg, routeCacheSize: 100_000 });
    expect((await r.reload({ ...sameAgain, listen: r.config.listen })).result).toBe('unchanged');
    expect(r.topology.live.routing.aggregator).toBe(first);

    fs.writeFileSync(file, 'total (60) = sum in.*\n');
    const changed = loadConfig(r.config.file);
    const report = await r.reload({ ...changed, listen: r.config.listen });
    expect(report).toMatchObject({ result: 'applied', reconfigured: ['aggregation'] });
    expect(r.topology.live.routing.aggregator).not.toBe(first);
    await waitFor(() => sink.datapoints.some((p) => p.name === 'sum'), 'the old aggregator emitted what it held');
    expect(last(sink.datapoints)).toEqual({ [`sum@${t}`]: 1 });
    // counters carry on across the new aggregator
    expect(aggregationCounters(r)).toMatchObject({ datapointsAggregated: 1, aggregatesEmitted: 1, openAggregates: 0 });
    await sendTcp(r.listeners.line!.port, `in.a 2 ${t}\n`);
    await waitFor(() => r.counters.metricsReceived === 2, 'received');
    relay = undefined;
    await stopRelay(r);
    expect(last(sink.datapoints)).toEqual({ [`sum@${t}`]: 1, [`total@${t}`]: 2 });
    expect(aggregationCounters(r)).toMatchObject({ datapointsAggregated: 2, aggregatesEmitted: 2 });
  });

  it('refuses a config whose aggregation cannot work: unknown output, unreadable rules, a bad rule line', () => {
    const base = { listen: EPHEMERAL_LISTEN, destinations: [{ name: 'd', host: '127.0.0.1', port: 1 }], rules: [{ default: true, destinations: ['d'] }] };
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (err) {
        if (err instanceof ConfigError) return `${err.code} ${err.message}`;
        throw err;
      }
      return undefined;
    };
    expect(code(() => configFrom({ ...base, aggregation: { rules: rulesFile('a (60) = sum b\n'), output: ['nope'] } }))).toMatch(
      new RegExp(`^${ConfigErrorCode.UNKNOWN_DESTINATION} .*relay\\.yaml:\\d+: aggregation\\.output\\.0: unknown destination or group "nope"`),
    );
    expect(code(() => configFrom({ ...base, aggregation: { rules: '/no/such/aggregation-rules.conf' } }))).toMatch(new RegExp(`^${ConfigErrorCode.READ} .*aggregation\\.rules: cannot read the aggregation rules /no/such/aggregation-rules\\.conf: ENOENT`));
    expect(code(() => configFrom({ ...base, aggregation: { rules: 'x', writeBackFrequency: '1500ms' } }))).toMatch(/CF_ERR_CONFIG_SCHEMA .*aggregation\.writeBackFrequency: must be whole seconds/);
    // workers: N would split each aggregate's inputs over processes (each emitting its own partial value)
    expect(code(() => configFrom({ ...base, workers: 2, aggregation: { rules: rulesFile('a (60) = sum b\n') } }))).toMatch(/^CF_ERR_CONFIG_SCHEMA .*relay\.yaml:\d+: workers: aggregation keeps its aggregates in one process: set workers: 1/);
    expect(configFrom({ ...base, workers: 'auto', aggregation: { rules: rulesFile('a (60) = sum b\n') } }).workers).toBe(1);
    const bad = rulesFile('ok (60) = sum a.*\nbad (60) = median a.*\n');
    const config = configFrom({ ...base, aggregation: { rules: bad } });
    expect(code(() => Relay.fromConfig(config, { log: silentLogger() }))).toBe(`${ConfigErrorCode.AGGREGATION_RULES} ${bad}:2: invalid aggregation rule: unknown method "median"`);
  });
});
