import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Relay } from '../../src/relay/relay';
import { FAMILIES, HISTOGRAMS, PROMETHEUS_PREFIX } from '../../src/telemetry/prometheus-names';
import { freePorts } from '../helpers/carbon';
import { stopRelay } from '../helpers/cleanup';
import { eventually } from '../helpers/poll';
import { EPHEMERAL_LISTEN, startRelay, tempDirsRemovedAfterAll } from '../helpers/relay';
import { CaptureServer, sendTcp } from '../helpers/sink';

const PROMTOOL = '/usr/bin/promtool';
const PROMETHEUS = '/usr/bin/prometheus';
const N = 250;

/**
 * Our /metrics against the real Prometheus tools (Debian's prometheus
 * package): promtool's linter, and a Prometheus server that scrapes the
 * relay's admin listener every second and answers PromQL over its HTTP API.
 */
describe('Prometheus reads /metrics', () => {
  const newDir = tempDirsRemovedAfterAll();
  const cache = new CaptureServer('pickle');
  let relay: Relay | undefined;
  let prometheus: ChildProcess | undefined;
  let promLog = '';

  beforeAll(async () => {
    await cache.listen();
    relay = await startRelay({
      listen: { ...EPHEMERAL_LISTEN, http: { host: '127.0.0.1', port: 0 } },
      destinations: [
        { name: 'cache', host: '127.0.0.1', port: cache.port },
        { name: 'down', host: '127.0.0.1', port: 1, maxQueueSize: 10, reconnect: { initialDelay: '10s', maxDelay: '10s' } },
      ],
      rules: [{ default: true, destinations: ['cache', 'down'] }],
    });
  });

  afterAll(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once('exit', r));
      prometheus.kill('SIGKILL');
      await exited;
    }
    await stopRelay(relay, 500);
    await cache.close();
  });

  const metricsUrl = (): string => `http://127.0.0.1:${relay!.topology.admin!.port}/metrics`;

  it('promtool check metrics finds no problem in our families', async () => {
    // series in every labelled family: HTTP answers, a destination write (the flush histogram), per-listener input
    expect((await fetch(`http://127.0.0.1:${relay!.listeners.http!.port}/health`)).status).toBe(200);
    await sendTcp(relay!.listeners.line!.port, 'prom.interop.first 1 1700000000\nnot valid\n');
    await eventually(
      async () => relay!.destinations.get('cache')!.flushSeconds.count,
      (n) => n > 0,
      'a write to the cache left the process',
    );
    const body = await (await fetch(metricsUrl())).text();
    expect(body).toContain(`# TYPE ${PROMETHEUS_PREFIX}destination_flush_duration_seconds histogram`);
    expect(body).toContain('endpoint_group="health",status="200"');
    const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: body, encoding: 'utf8' });
    const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
    // prom-client names three process gauges *_total (nodejs_active_{handles,requests,resources}_total): the linter
    // flags those and nothing else. Any other line, above all one naming a family of ours, fails the test.
    const ours = new Set([...Object.keys(FAMILIES), ...Object.keys(HISTOGRAMS)].map((f) => PROMETHEUS_PREFIX + f));
    const known = /^carbon_fanout_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
    expect(problems.filter((l) => [...ours].some((f) => l.startsWith(`${f} `) || l.startsWith(`${f}:`)))).toEqual([]);
    expect(problems.filter((l) => !known.test(l))).toEqual([]);
  });

  it('a real Prometheus server scrapes it and answers PromQL with the datapoints sent', async () => {
    const dir = newDir();
    const [webPort] = await freePorts(1);
    const config = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(
      config,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: carbon-fanout',
        `    static_configs: [{ targets: ["127.0.0.1:${relay!.topology.admin!.port}"] }]`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${webPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    prometheus.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
    prometheus.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
    const diagnostics = (): string => promLog.slice(-4000);

    let lines = '';
    for (let i = 1; i < N; i++) lines += `prom.interop.m${i} ${i} 1700000000\n`;
    await sendTcp(relay!.listeners.line!.port, lines);

    type Result = { metric: Record<string, string>; value: [number, string] }[];
    const query = async (q: string): Promise<Result> => {
      try {
        const res = await fetch(`http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(q)}`);
        if (!res.ok) return [];
        return ((await res.json()) as { data: { result: Result } }).data.result;
      } catch {
        return []; // not listening yet
      }
    };
    const valueOf = (r: Result, labels: Record<string, string>): number | undefined => {
      const hit = r.find((s) => Object.entries(labels).every(([k, v]) => s.metric[k] === v));
      return hit === undefined ? undefined : Number(hit.value[1]);
    };

    const sent = await eventually(
      () => query(`${PROMETHEUS_PREFIX}destination_sent_total`),
      (r) => valueOf(r, { destination: 'cache' }) === N,
      `Prometheus to have scraped destination_sent_total{destination="cache"} == ${N}`,
      { timeoutMs: 30_000, intervalMs: 250, diagnostics },
    );
    expect(valueOf(sent, { destination: 'down' })).toBe(0);
    expect(sent.every((s) => s.metric.job === 'carbon-fanout')).toBe(true);

    const dropped = await query(`${PROMETHEUS_PREFIX}destination_dropped_total{reason="queue_full"}`);
    expect(valueOf(dropped, { destination: 'down' })).toBe(N - 10);
    // the first test sent one datapoint and one invalid line; this one the other N - 1
    expect(valueOf(await query(`${PROMETHEUS_PREFIX}datapoints_received_total`), { listener: 'line', protocol: 'line' })).toBe(N);
    expect(valueOf(await query(`sum(${PROMETHEUS_PREFIX}datapoints_received_total)`), {})).toBe(N);
    expect(valueOf(await query(`${PROMETHEUS_PREFIX}invalid_input_total{listener="line",reason="invalid_line"}`), {})).toBe(1);
    const writes = valueOf(await query(`${PROMETHEUS_PREFIX}destination_flush_duration_seconds_count`), { destination: 'cache' }) ?? 0;
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(valueOf(await query(`${PROMETHEUS_PREFIX}destination_flush_duration_seconds_bucket{le="+Inf"}`), { destination: 'cache' })).toBe(writes);
    expect(valueOf(await query(`${PROMETHEUS_PREFIX}http_requests_total`), { endpoint_group: 'health', status: '200' })).toBe(1);
    expect(valueOf(await query(`${PROMETHEUS_PREFIX}destination_up`), { destination: 'cache' })).toBe(1);
    // the scrape itself was healthy
    expect(valueOf(await query('up{job="carbon-fanout"}'), {})).toBe(1);
  });
});
