import type { Relay } from '../../src/relay/relay';
import { packageVersion } from '../../src/admin/status';
import { CatchpointCounters } from '../../src/sources/catchpoint/counters';
import { FAMILIES, PROMETHEUS_PREFIX, targetOf, type Scope } from '../../src/telemetry/prometheus-names';
import { PrometheusExporter } from '../../src/telemetry/prometheus';
import { IngestCounters, type CounterReporter } from '../../src/telemetry/counters';
import { stopRelay } from '../helpers/cleanup';
import { EPHEMERAL_LISTEN, startRelay, tempDirsRemovedAfterAll } from '../helpers/relay';
import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';

/** One sample line of the text exposition format. */
interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  samples: ParsedSample[];
  /** `# TYPE` per family. */
  types: Map<string, string>;
}

/** A small parser for the text format (label values may hold escaped quotes), independent of prom-client. */
function parse(body: string): Exposition {
  const samples: ParsedSample[] = [];
  const types = new Map<string, string>();
  for (const line of body.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1], type[2]);
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

/** The value of the one sample named `name` whose labels include `labels`. */
function value(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${hits.length} samples match ${name} ${JSON.stringify(labels)}`);
  return hits[0]?.value;
}

async function scrape(relay: Relay): Promise<{ type: string; body: string; e: Exposition }> {
  const res = await fetch(`http://127.0.0.1:${relay.topology.admin!.port}/metrics`);
  expect(res.status).toBe(200);
  const body = await res.text();
  return { type: res.headers.get('content-type') ?? '', body, e: parse(body) };
}

const P = PROMETHEUS_PREFIX;
const OWN_FAMILIES = new Set(Object.keys(FAMILIES).map((f) => P + f));
const BOUNDED_LABELS = new Set(['listener', 'protocol', 'endpoint_group', 'status', 'destination', 'group', 'source', 'reason', 'kind', 'version', 'hash']);

describe('Prometheus /metrics on the admin listener', () => {
  const relays: Relay[] = [];
  const servers: CaptureServer[] = [];
  const newDir = tempDirsRemovedAfterAll();

  afterEach(async () => {
    for (const r of relays.splice(0)) await stopRelay(r, 500);
    for (const s of servers.splice(0)) await s.close();
  });

  async function capture(): Promise<CaptureServer> {
    const s = new CaptureServer('pickle');
    await s.listen();
    servers.push(s);
    return s;
  }

  /** `cache` is up; `down` points at a closed port and holds at most 3 datapoints. */
  async function relayWithTwoDestinations(cache: CaptureServer): Promise<Relay> {
    const relay = await startRelay({
      destinations: [
        { name: 'cache', host: '127.0.0.1', port: cache.port, protocol: 'pickle' },
        { name: 'down', host: '127.0.0.1', port: 1, protocol: 'line', maxQueueSize: 3, reconnect: { initialDelay: '10s', maxDelay: '10s' } },
      ],
      rules: [{ default: true, destinations: ['cache', 'down'] }],
    });
    relays.push(relay);
    return relay;
  }

  const names = (n: number, from = 0): string => Array.from({ length: n }, (_, i) => `prom.test.m${from + i} ${i} 1700000000\n`).join('');

  it('reports received, per-destination sent/dropped, queue length/capacity, up, build and config info with exact values', async () => {
    const cache = await capture();
    const relay = await relayWithTwoDestinations(cache);
    await waitFor(() => relay.destinations.get('cache')!.healthy, 'cache connected');
    await sendTcp(relay.listeners.line!.port, `${names(5)}not a valid line at all\n`);
    await waitFor(() => cache.datapoints.length === 5, 'cache has all 5');
    // a frame that is not a pickle, to the pickle listener: counted there, not on the line listener
    const junk = Buffer.from('not a pickle');
    const head = Buffer.alloc(4);
    head.writeUInt32BE(junk.length);
    await sendTcp(relay.listeners.pickle!.port, Buffer.concat([head, junk]));
    await waitFor(() => relay.counters.invalidPickles === 1, 'junk frame counted');

    const { type, body, e } = await scrape(relay);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    const line = { listener: 'line', protocol: 'line' };
    const pickle = { listener: 'pickle', protocol: 'pickle' };
    expect(value(e, `${P}datapoints_received_total`, line)).toBe(5);
    expect(value(e, `${P}datapoints_received_total`, pickle)).toBe(0);
    expect(value(e, `${P}datapoints_received_total`, { listener: 'line-udp', protocol: 'line' })).toBe(0);
    expect(value(e, `${P}invalid_input_total`, { ...line, reason: 'invalid_line' })).toBe(1);
    expect(value(e, `${P}invalid_input_total`, { ...line, reason: 'nan_value' })).toBe(0);
    expect(value(e, `${P}invalid_input_total`, { ...line, reason: 'invalid_pickle' })).toBe(0);
    expect(value(e, `${P}invalid_input_total`, { ...pickle, reason: 'invalid_pickle' })).toBe(1);
    expect(value(e, `${P}invalid_input_total`, { ...pickle, reason: 'invalid_line' })).toBe(0);
    expect(value(e, `${P}active_connections`, line)).toBe(0);
    // the 5 datapoints left the process in one write or a few (as TCP delivered them to the receiver)
    const flush = `${P}destination_flush_duration_seconds`;
    expect(e.types.get(flush)).toBe('histogram');
    const writes = value(e, `${flush}_count`, { destination: 'cache' }) ?? 0;
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThanOrEqual(value(e, `${P}destination_batches_sent_total`, { destination: 'cache' }) ?? 0);
    expect(value(e, `${flush}_bucket`, { destination: 'cache', le: '+Inf' })).toBe(writes);
    expect(value(e, `${flush}_sum`, { destination: 'cache' })).toBeGreaterThanOrEqual(0);
    const buckets = e.samples.filter((s) => s.name === `${flush}_bucket` && s.labels.destination === 'cache').map((s) => s.value);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b)); // cumulative
    expect(value(e, `${flush}_count`, { destination: 'down' })).toBe(0);
    // relay-wide families sum over listeners: one series, no listener label
    expect(value(e, `${P}blackholed_total`)).toBe(0);
    expect(value(e, `${P}destination_routed_total`, { destination: 'cache' })).toBe(5);
    expect(value(e, `${P}destination_sent_total`, { destination: 'cache' })).toBe(5);
    expect(value(e, `${P}destination_dropped_total`, { destination: 'cache', reason: 'queue_full' })).toBe(0);
    expect(value(e, `${P}destination_queue_length`, { destination: 'cache' })).toBe(0);
    expect(value(e, `${P}destination_queue_capacity`, { destination: 'cache' })).toBe(100_000);
    expect(value(e, `${P}destination_up`, { destination: 'cache' })).toBe(1);
    expect(value(e, `${P}destination_connects_total`, { destination: 'cache' })).toBe(1);

    expect(value(e, `${P}destination_routed_total`, { destination: 'down' })).toBe(5);
    expect(value(e, `${P}destination_sent_total`, { destination: 'down' })).toBe(0);
    expect(value(e, `${P}destination_dropped_total`, { destination: 'down', reason: 'queue_full' })).toBe(2);
    expect(value(e, `${P}destination_dropped_total`, { destination: 'down', reason: 'shutdown' })).toBe(0);
    expect(value(e, `${P}destination_queue_length`, { destination: 'down' })).toBe(3);
    expect(value(e, `${P}destination_queue_capacity`, { destination: 'down' })).toBe(3);
    expect(value(e, `${P}destination_up`, { destination: 'down' })).toBe(0);
    expect(value(e, `${P}destination_connect_failures_total`, { destination: 'down' })).toBeGreaterThanOrEqual(1);

    expect(value(e, `${P}build_info`, { version: packageVersion() })).toBe(1);
    expect(value(e, `${P}config_info`, { hash: relay.configHash })).toBe(1);
    // process/runtime metrics from prom-client's defaults, under our prefix
    expect(value(e, `${P}process_cpu_seconds_total`)).toBeGreaterThan(0);
    expect(body).toContain(`# TYPE ${P}nodejs_eventloop_lag_seconds gauge`);
    // no spool, HTTP front door, group or source configured: no always-zero series for them
    expect(body).not.toContain(`${P}spool_`);
    expect(body).not.toContain(`${P}http_`);
    expect(body).not.toContain(`${P}group_`);
  });

  it('names counters *_total, uses only bounded labels, and never a datapoint name as a label value', async () => {
    const cache = await capture();
    const relay = await relayWithTwoDestinations(cache);
    await sendTcp(relay.listeners.line!.port, names(4));
    await waitFor(() => relay.counters.metricsReceived === 4, 'received');
    const { e } = await scrape(relay);
    expect(e.samples.length).toBeGreaterThan(50);
    const gaugesNamedTotal: string[] = [];
    for (const [family, type] of e.types) {
      expect(family.startsWith(P)).toBe(true);
      if (type === 'counter') expect(family).toMatch(/_total$/);
      else if (family.endsWith('_total')) gaugesNamedTotal.push(family);
    }
    // only prom-client's own process gauges break the rule (named so by prom-client; we cannot rename them)
    expect(gaugesNamedTotal.sort()).toEqual([`${P}nodejs_active_handles_total`, `${P}nodejs_active_requests_total`, `${P}nodejs_active_resources_total`]);
    const sent = new Set(names(4).split('\n').map((l) => l.split(' ')[0]));
    for (const s of e.samples) {
      for (const v of Object.values(s.labels)) {
        expect(sent.has(v)).toBe(false);
        expect(v).not.toMatch(/^prom\./);
      }
      if (!OWN_FAMILIES.has(s.name)) continue;
      for (const l of Object.keys(s.labels)) expect(BOUNDED_LABELS.has(l)).toBe(true);
      if (s.labels.destination !== undefined) expect(['cache', 'down']).toContain(s.labels.destination);
      if (s.labels.listener !== undefined) expect(['line', 'line-udp', 'pickle', 'sources', 'relay']).toContain(s.labels.listener);
    }
  });

  it('two relays in one process keep their own registries and values', async () => {
    const [c1, c2] = [await capture(), await capture()];
    const r1 = await relayWithTwoDestinations(c1);
    const r2 = await relayWithTwoDestinations(c2);
    await sendTcp(r1.listeners.line!.port, names(3));
    await sendTcp(r2.listeners.line!.port, names(7, 100));
    await waitFor(() => c1.datapoints.length === 3 && c2.datapoints.length === 7, 'both delivered');
    const [a, b] = [(await scrape(r1)).e, (await scrape(r2)).e];
    expect(value(a, `${P}datapoints_received_total`, { listener: 'line' })).toBe(3);
    expect(value(b, `${P}datapoints_received_total`, { listener: 'line' })).toBe(7);
    expect(value(a, `${P}destination_sent_total`, { destination: 'cache' })).toBe(3);
    expect(value(b, `${P}destination_sent_total`, { destination: 'cache' })).toBe(7);
    // a second scrape re-reads, it does not add: counters copied into prom-client are reset each time
    expect(value((await scrape(r1)).e, `${P}destination_sent_total`, { destination: 'cache' })).toBe(3);
  });

  it('maps every key the relay reports (spool, HTTP, groups) and exports them', async () => {
    const cache = await capture();
    const relay = await startRelay({
      listen: { ...EPHEMERAL_LISTEN, http: { host: '127.0.0.1', port: 0 } },
      dataDir: newDir(),
      destinations: [
        { name: 'a', host: '127.0.0.1', port: cache.port },
        { name: 'b', host: '127.0.0.1', port: 1, reconnect: { initialDelay: '10s', maxDelay: '10s' } },
      ],
      groups: [{ name: 'ha', type: 'failover', members: ['a', 'b'] }],
      rules: [{ default: true, destinations: ['ha'] }],
    });
    relays.push(relay);
    const scopeOf = (r: CounterReporter): Scope => {
      if (r.counterPath === '') return 'relay';
      const head = r.counterPath.split('.')[0];
      return head === 'destinations' ? 'destination' : head === 'groups' ? 'group' : head === 'aggregator' ? 'aggregator' : 'source';
    };
    const unknown: string[] = [];
    for (const r of relay.topology.lists.reporters) r.reportCounters((key) => targetOf(scopeOf(r), key) === undefined && unknown.push(`${r.counterPath}:${key}`));
    new CatchpointCounters().visit((key) => targetOf('source', key) === undefined && unknown.push(`source:${key}`));
    expect(unknown).toEqual([]);

    await waitFor(() => relay.destinations.get('a')!.healthy, 'a connected');
    await sendTcp(relay.listeners.line!.port, names(2));
    await waitFor(() => cache.datapoints.length === 2, 'delivered through the group');
    const empty = await scrape(relay);
    // the family is there before the first answer, without series
    expect(empty.e.types.get(`${P}http_requests_total`)).toBe('counter');
    expect(value(empty.e, `${P}http_requests_total`)).toBeUndefined();
    const base = `http://127.0.0.1:${relay.listeners.http!.port}`;
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect((await fetch(`${base}/no/such/endpoint`)).status).toBe(404);
    expect((await fetch(`${base}/no/such/endpoint`)).status).toBe(404);
    const { e } = await scrape(relay);
    expect(value(e, `${P}http_requests_total`, { endpoint_group: 'health', status: '200' })).toBe(1);
    expect(value(e, `${P}http_requests_total`, { endpoint_group: 'none', status: '404' })).toBe(2);
    expect(value(e, `${P}group_members`, { group: 'ha' })).toBe(2);
    expect(value(e, `${P}group_healthy_members`, { group: 'ha' })).toBe(1);
    expect(value(e, `${P}spool_bytes`, { destination: 'b' })).toBeGreaterThanOrEqual(0);
    expect(value(e, `${P}spool_pending_datapoints`, { destination: 'a' })).toBe(0);
    expect(value(e, `${P}spool_dropped_total`, { destination: 'a', reason: 'full' })).toBe(0);
    expect(value(e, `${P}http_refused_requests_total`, { reason: 'overloaded' })).toBe(0);
  });

  it('labels pull-source counters by source and API error kind (exporter on its own)', async () => {
    const counters = new CatchpointCounters();
    counters.polls = 4;
    counters.apiErrors.timeout = 2;
    counters.lastSuccessTime = 1_700_000_000;
    const exporter = new PrometheusExporter({
      ingest: { relay: new IngestCounters(), listeners: [] },
      http: () => false,
      destinations: [],
      groups: [],
      sources: [{ name: 'cp', counterPath: 'sources.cp', reportCounters: (v) => counters.visit(v) }],
      version: '1.2.3',
      configHash: 'abc',
    });
    const [, body] = await exporter.scrape();
    const e = parse(body);
    expect(value(e, `${P}source_polls_total`, { source: 'cp' })).toBe(4);
    expect(value(e, `${P}source_api_errors_total`, { source: 'cp', kind: 'timeout' })).toBe(2);
    expect(value(e, `${P}source_api_errors_total`, { source: 'cp', kind: 'auth' })).toBe(0);
    expect(value(e, `${P}source_last_success_timestamp_seconds`, { source: 'cp' })).toBe(1_700_000_000);
    counters.polls = 5;
    expect(value(parse((await exporter.scrape())[1]), `${P}source_polls_total`, { source: 'cp' })).toBe(5);
  });
});
