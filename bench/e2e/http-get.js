// @ts-check
'use strict';
/**
 * Scenario "http-get": what a GET beacon costs, against the cheapest possible
 * HTTP server, in one run with one load generator (keep-alive, 64 connections):
 *
 *   1. hello world   a bare node:http server answering every request "hello world" (its own process)
 *   2. /feed         the relay (dist/cli.js) serving GET /feed/<metric>/<value> on its fast path
 *                    (fast-path.ts), each datapoint routed to a counting pickle sink
 *   3. /FEED         the same endpoint and handler through Express: the fast path
 *                    matches letter case exactly and declines it, Express routes it
 *                    case-insensitively; what every such GET cost before the fast path
 *
 * Each gets a warm-up, then a timed run; requests/s counts 2xx answers only (a
 * 503 from the relay's flow control is fast and would flatter it). CPU us per
 * request is the server process's (/proc/<pid>/stat) over the timed run. The
 * relay's datapoints are counted by the sink: loss = 2xx answers not counted.
 * The sink may count up to one more per connection and run: the requests in
 * flight when the load generator stops are served, their answers not read.
 *
 * The bar (the issue's): /feed at least 50% of hello world's requests/s as
 * measured in this run; it is set once hello world has been measured. On a
 * 2-core machine the load generator shares the cores with the server, so the
 * absolute numbers are modest; the ratio is the point.
 *
 * Load generator: wrk when it is on the PATH (-t1: one thread drives all the
 * connections), otherwise a keep-alive node:http client in its own process
 * (http.Agent, maxSockets = connections, one request in flight on each). The
 * node client costs about as much CPU per request as a fast server, so the
 * ratio it shows is compressed toward 1.
 *
 * Environment (see bench/run.js):
 *   BENCH_HTTP_GET_SECONDS=5        timed run per server
 *   BENCH_HTTP_GET_WARMUP_S=2       warm-up per server (JIT), not counted
 *   BENCH_HTTP_GET_CONNECTIONS=64   keep-alive connections
 *   BENCH_HTTP_GET_ROUNDS=1         repeat the three runs; the median of each is used
 *   BENCH_HTTP_GET_LOADGEN=wrk|node default: wrk if installed
 */
const { spawn, spawnSync } = require('node:child_process');
const net = require('node:net');
const { track, stopProcess } = require('../lib/children');
const { RelayProcess, freePort } = require('../lib/relay-process');
const { CountingSink } = require('../lib/sink');
const { sinkRelayYaml } = require('../lib/relay-yaml');
const { cpuMicros, peakRssMiB } = require('../lib/proc-stats');
const { envNumber } = require('../lib/env');
const { table, fixed, int } = require('../lib/format');
const { NAME_PREFIX } = require('../lib/workload');

const name = 'http-get';

/**
 * Zero loss; metricsPerSec (50% of hello world's requests/s) is set by run()
 * once hello world is measured (run.js reads the bar after the run).
 * @type {import('../lib/types').Bar}
 */
const bar = { loss: 0 };
const RATIO_BAR = 0.5;

const HELLO_WORLD = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('hello world\\n');
});
server.keepAliveTimeout = 65000;
server.listen(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('listening\\n'));
`;

/** The fallback load generator: argv port, path, connections, milliseconds; prints its counts as JSON. */
const NODE_CLIENT = `
const http = require('node:http');
const [port, path, connections, ms] = [Number(process.argv[1]), process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
let requests = 0, non2xx = 0, errors = 0, stop = false;
const one = () => new Promise((resolve) => {
  const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
    requests++;
    if (res.statusCode < 200 || res.statusCode >= 300) non2xx++;
    res.resume();
    res.once('end', resolve);
  });
  req.once('error', () => { errors++; resolve(); });
});
const loop = async () => { while (!stop) await one(); };
const t0 = process.hrtime.bigint();
setTimeout(() => (stop = true), ms);
Promise.all(Array.from({ length: connections }, loop)).then(() => {
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  process.stdout.write(JSON.stringify({ requests, non2xx, errors, seconds }));
});
`;

/**
 * @typedef {{ requests: number, non2xx: number, errors: number, seconds: number }} Load
 * @typedef {{ label: string, pid: number, port: number, path: string }} Target
 * @typedef {{ target: string, ok: number, perSec: number, non2xx: number, errors: number, seconds: number, cpuPerRequest: number, cpuShare: number }} Measured
 */

/** @param {string} cmd @param {string[]} args @returns {Promise<string>} stdout */
function output(cmd, args) {
  return new Promise((resolve, reject) => {
    const p = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    p.stdout?.on('data', (d) => (out += d));
    p.stderr?.on('data', (d) => (err += d));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}: ${err.trim() || out.trim()}`))));
  });
}

/** @param {string} text wrk's report @returns {Load} */
function parseWrk(text) {
  const m = /(\d+) requests in ([\d.]+)(us|ms|s|m)\b/.exec(text);
  if (m === null) throw new Error(`cannot read wrk's report:\n${text}`);
  const unit = { us: 1e-6, ms: 1e-3, s: 1, m: 60 }[/** @type {'us' | 'ms' | 's' | 'm'} */ (m[3])];
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: Number(m[1]),
    seconds: Number(m[2]) * unit,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    errors: sock === null ? 0 : Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]),
  };
}

/**
 * @param {'wrk' | 'node'} tool
 * @param {Target} t
 * @param {number} connections
 * @param {number} seconds
 * @returns {Promise<Load>}
 */
async function load(tool, t, connections, seconds) {
  if (tool === 'wrk') return parseWrk(await output('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${t.port}${t.path}`]));
  return JSON.parse(await output(process.execPath, ['-e', NODE_CLIENT, String(t.port), t.path, String(connections), String(Math.round(seconds * 1000))]));
}

/**
 * Warm-up, then the timed run, with the server's CPU time around it.
 * @param {'wrk' | 'node'} tool @param {Target} t @param {{ connections: number, seconds: number, warmup: number }} o
 * @returns {Promise<{ m: Measured, answered2xx: number }>}
 */
async function measure(tool, t, o) {
  const warm = await load(tool, t, o.connections, o.warmup);
  const cpu0 = cpuMicros(t.pid);
  const r = await load(tool, t, o.connections, o.seconds);
  const cpu = cpuMicros(t.pid) - cpu0;
  const ok = r.requests - r.non2xx;
  return {
    m: { target: t.label, ok, perSec: ok / r.seconds, non2xx: r.non2xx, errors: r.errors, seconds: r.seconds, cpuPerRequest: r.requests > 0 ? cpu / r.requests : NaN, cpuShare: cpu / 1e6 / r.seconds },
    answered2xx: ok + warm.requests - warm.non2xx,
  };
}

/** @param {number} port */
function helloWorld(port) {
  const proc = track(spawn(process.execPath, ['-e', HELLO_WORLD, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const ready = new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`hello-world server exited with ${code}`)));
    proc.stdout?.once('data', resolve);
  });
  return { proc, ready };
}

/** @param {number[]} xs */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** @param {'wrk' | 'node'} requested @returns {'wrk' | 'node'} */
function chooseTool(requested) {
  if (requested === 'node') return 'node';
  const found = spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
  if (!found && process.env.BENCH_HTTP_GET_LOADGEN === 'wrk') throw new Error('BENCH_HTTP_GET_LOADGEN=wrk but wrk is not installed');
  return found ? 'wrk' : 'node';
}

/** @param {number} port @returns {Promise<void>} */
function accepting(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}

/**
 * @param {import('../lib/types').ScenarioOptions} opts
 * @returns {Promise<import('../lib/types').ScenarioResult>}
 */
async function run(opts) {
  const o = {
    seconds: envNumber('BENCH_HTTP_GET_SECONDS', 5),
    warmup: envNumber('BENCH_HTTP_GET_WARMUP_S', 2),
    connections: Math.floor(envNumber('BENCH_HTTP_GET_CONNECTIONS', 64)),
  };
  const rounds = Math.floor(envNumber('BENCH_HTTP_GET_ROUNDS', 1));
  const tool = chooseTool(process.env.BENCH_HTTP_GET_LOADGEN === 'node' ? 'node' : 'wrk');
  /** @type {CountingSink | null} */
  let sink = null;
  /** @type {RelayProcess | null} */
  let relay = null;
  /** @type {import('node:child_process').ChildProcess | null} */
  let hello = null;
  try {
    sink = await new CountingSink(NAME_PREFIX).start();
    const port = await freePort();
    relay = new RelayProcess(
      sinkRelayYaml({ writtenBy: 'bench/e2e/http-get.js', listen: `  http: { host: 127.0.0.1, port: ${port} }`, sinkPort: sink.port }),
      port,
      opts.relayNodeArgs,
    );
    await relay.ready();
    await sink.waitConnected();
    const helloPort = await freePort();
    const h = helloWorld(helloPort);
    hello = h.proc;
    await h.ready;
    await accepting(helloPort);
    const targets = {
      hello: { label: 'hello world (bare node:http)', pid: /** @type {number} */ (hello.pid), port: helloPort, path: '/' },
      fast: { label: 'relay GET /feed (fast path)', pid: relay.pid, port, path: `/feed/${NAME_PREFIX}http-get.fast/1` },
      express: { label: 'relay GET /FEED (through Express)', pid: relay.pid, port, path: `/FEED/${NAME_PREFIX}http-get.express/1` },
    };
    opts.log(`load generator: ${tool === 'wrk' ? 'wrk -t1' : 'node:http keep-alive client'}, ${o.connections} keep-alive connections, ${o.warmup} s warm-up + ${o.seconds} s per server, ${rounds} round(s)`);

    /** @type {Record<'hello' | 'fast' | 'express', Measured[]>} */
    const runs = { hello: [], fast: [], express: [] };
    let relay2xx = 0;
    const rssAtStart = peakRssMiB(relay.pid);
    for (let r = 0; r < rounds; r++) {
      for (const key of /** @type {const} */ (['hello', 'fast', 'express'])) {
        const { m, answered2xx } = await measure(tool, targets[key], o);
        if (key !== 'hello') relay2xx += answered2xx;
        runs[key].push(m);
        opts.log(`  ${m.target}: ${int(m.perSec)} requests/s, ${fixed(m.cpuPerRequest, 1)} CPU us/request`);
      }
    }

    // every 2xx was one datapoint: wait for the sink to count them all (or stop moving)
    let counted = -1;
    for (let last = -1, still = 0; still < 10; still = counted === last ? still + 1 : 0) {
      last = counted;
      counted = (await sink.stats()).datapoints;
      if (counted >= relay2xx) break;
      await new Promise((res) => setTimeout(res, 500));
    }

    const med = (/** @type {'hello' | 'fast' | 'express'} */ k, /** @type {(m: Measured) => number} */ f) => median(runs[k].map(f));
    const [helloRps, fastRps, expressRps] = [med('hello', (m) => m.perSec), med('fast', (m) => m.perSec), med('express', (m) => m.perSec)];
    const ratio = fastRps / helloRps;
    bar.metricsPerSec = Math.round(helloRps * RATIO_BAR);

    console.log(`\nhttp-get: GET requests/s with ${tool === 'wrk' ? 'wrk -t1' : 'a node:http client'}, ${o.connections} keep-alive connections, ${o.seconds} s per run (2xx answers only; CPU is the server process's)`);
    console.log(
      table([
        ['round', 'server', 'requests/s', 'CPU us/request', 'server CPU', 'non-2xx', 'socket errors'],
        ...runs.hello.flatMap((_, i) =>
          [runs.hello[i], runs.fast[i], runs.express[i]].map((m) => [String(i + 1), m.target, int(m.perSec), fixed(m.cpuPerRequest, 1), `${(m.cpuShare * 100).toFixed(0)}%`, int(m.non2xx), int(m.errors)]),
        ),
      ]),
    );
    console.log(`  /feed fast path = ${(ratio * 100).toFixed(0)}% of hello world (bar >= ${RATIO_BAR * 100}%: ${ratio >= RATIO_BAR ? 'PASS' : 'MISS'}); through Express = ${((expressRps / helloRps) * 100).toFixed(0)}%; fast path / Express = ${(fastRps / expressRps).toFixed(2)}x`);

    const seconds = med('fast', (m) => m.seconds);
    return {
      name,
      metrics: Math.round(fastRps * seconds),
      seconds,
      metricsPerSec: fastRps,
      requestsPerSec: fastRps,
      cpuMicrosPerMetric: med('fast', (m) => m.cpuPerRequest),
      peakRssMiB: peakRssMiB(relay.pid),
      loss: Math.max(0, relay2xx - counted),
      details: {
        'load generator': `${tool === 'wrk' ? 'wrk -t1' : 'node:http keep-alive client'}, ${o.connections} connections`,
        'hello world requests/s (median)': int(helloRps),
        'hello world CPU us/request': fixed(med('hello', (m) => m.cpuPerRequest), 1),
        '/feed fast path requests/s (median)': int(fastRps),
        '/feed fast path CPU us/request (relay, incl. routing and pickle out)': fixed(med('fast', (m) => m.cpuPerRequest), 1),
        '/feed through Express requests/s (median)': int(expressRps),
        '/feed through Express CPU us/request': fixed(med('express', (m) => m.cpuPerRequest), 1),
        'fast path / hello world': `${(ratio * 100).toFixed(1)}% (bar >= ${RATIO_BAR * 100}%)`,
        'fast path / Express': `${(fastRps / expressRps).toFixed(2)}x`,
        'relay 2xx answers (incl. warm-ups) / datapoints counted by the sink': `${relay2xx} / ${counted}`,
        'relay peak RSS before load MiB': rssAtStart.toFixed(1),
      },
    };
  } finally {
    if (hello !== null) await stopProcess(hello, 'SIGTERM', 5000);
    if (relay !== null) {
      const exit = await relay.stop();
      if (exit.killed) opts.log('relay did not exit within the grace period after SIGTERM; killed');
    }
    await sink?.stop();
  }
}

/** @type {import('../lib/types').Scenario} */
module.exports = { name, run, bar, rounds: 1 };
