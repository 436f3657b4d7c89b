// @ts-check
'use strict';
/**
 * HTTP load generator, run as its own process (fork) so its CPU is not charged
 * to the relay. node:http over a keep-alive Agent with `connections` sockets;
 * each connection runs one request at a time, taking the next request from a
 * shared counter. Everything it sends is built before the start signal.
 *
 *   mode 'sink'  POST /api/v1/sink, bodies of `linesPerRequest` lines
 *                `name value timestamp` (Hosted Graphite's HTTP API); 202 = accepted
 *   mode 'feed'  GET /feed/<name>/<value>/<timestamp>, one datapoint per request; 200 = accepted
 *
 * A 503 (the relay's flow control: its destinations are not keeping up) is
 * waited out for Retry-After seconds and the same request is sent again; those
 * are counted as retries, not loss. Any other answer or a connection error is
 * a failure: counted, first one reported, not resent (its datapoints are lost).
 *
 * argv[2]: JSON HttpGeneratorConfig.
 * IPC: as loadgen-child.js ('ready' once the keep-alive connections are open,
 * 'go' -> 'started', then 'done' with requests, retries, failedRequests,
 * firstFailure, connections added).
 */
const http = require('node:http');
const { reportChildError } = require('./children');
const { benchLines, benchName, benchValue } = require('./workload');

/**
 * @typedef {object} HttpGeneratorConfig
 * @property {number} port            HTTP port on 127.0.0.1
 * @property {'sink' | 'feed'} mode
 * @property {number} total           datapoints to send (feed: requests)
 * @property {number} connections     keep-alive connections, one request in flight on each
 * @property {number} names           distinct metric names (bench.host<k>.metric<j>)
 * @property {number} linesPerRequest sink: lines per POST body
 */

/** @type {HttpGeneratorConfig} */
const cfg = JSON.parse(process.argv[2]);

/** @param {{ type: string, [k: string]: unknown }} m */
function send(m) {
  if (process.send) process.send(m);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.connections, maxFreeSockets: cfg.connections, scheduling: 'fifo' });
/** Sockets the agent opened: with keep-alive working this stays at `connections`. */
const sockets = new WeakSet();
let connectionsOpened = 0;

/**
 * @typedef {{ status: number, retryAfter: string | undefined, body: string }} Answer
 */

/**
 * One request; the answer body is read only when it is not a success.
 * @param {string} method
 * @param {string} path
 * @param {Buffer | undefined} body
 * @returns {Promise<Answer>}
 */
function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port: cfg.port,
        method,
        path,
        headers: body === undefined ? undefined : { 'content-type': 'text/plain', 'content-length': body.length },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const retryAfter = res.headers['retry-after'];
        if (status >= 200 && status < 300) {
          res.resume();
          res.once('end', () => resolve({ status, retryAfter, body: '' }));
          return;
        }
        /** @type {Buffer[]} */
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.once('end', () => resolve({ status, retryAfter, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.once('socket', (s) => {
      if (!sockets.has(s)) {
        sockets.add(s);
        connectionsOpened++;
      }
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One unit of work: the path, body and the datapoints it carries.
 * @typedef {{ method: string, path: string, body: Buffer | undefined, datapoints: number }} Job
 */

/**
 * The request list, built before the start. Sink bodies repeat with period
 * `names` lines, so only the distinct ones are built; feed paths are one per name.
 * @param {number} timestamp
 * @returns {{ count: number, job: (r: number) => Job, bytes: number }}
 */
function plan(timestamp) {
  if (cfg.mode === 'feed') {
    /** @type {string[]} */
    const paths = [];
    for (let i = 0; i < cfg.names; i++) paths.push(`/feed/${benchName(i)}/${benchValue(i, 0)}/${timestamp}`);
    let bytes = 0;
    for (let r = 0; r < cfg.total; r++) bytes += paths[r % paths.length].length;
    return { count: cfg.total, bytes, job: (r) => ({ method: 'GET', path: paths[r % paths.length], body: undefined, datapoints: 1 }) };
  }
  const per = cfg.linesPerRequest;
  const count = Math.ceil(cfg.total / per);
  /** @type {Map<string, Buffer>} first line index and length -> body */
  const bodies = new Map();
  /** @param {number} r */
  const body = (r) => {
    const first = (r * per) % cfg.names;
    const n = Math.min(per, cfg.total - r * per);
    const key = `${first}:${n}`;
    let b = bodies.get(key);
    if (b === undefined) {
      b = Buffer.from(benchLines(first, n, cfg.names, 0, timestamp).join(''), 'latin1');
      bodies.set(key, b);
    }
    return b;
  };
  /** @type {Buffer[]} */
  const byRequest = [];
  let bytes = 0;
  for (let r = 0; r < count; r++) {
    byRequest.push(body(r));
    bytes += byRequest[r].length;
  }
  return { count, bytes, job: (r) => ({ method: 'POST', path: '/api/v1/sink', body: byRequest[r], datapoints: Math.min(per, cfg.total - r * per) }) };
}

async function main() {
  const timestamp = Math.floor(Date.now() / 1000);
  const { count, job, bytes } = plan(timestamp);

  // Open the keep-alive connections now (one /health each, concurrently), so the run measures requests, not handshakes.
  const warm = await Promise.all(Array.from({ length: cfg.connections }, () => request('GET', '/health', undefined)));
  const bad = warm.find((a) => a.status !== 200);
  if (bad !== undefined) throw new Error(`GET /health answered ${bad.status}: ${bad.body}`);

  await new Promise((resolve) => {
    process.once('message', (/** @type {{ type: string }} */ m) => {
      if (m.type === 'go') resolve(undefined);
    });
    send({ type: 'ready', bytesPerMetric: bytes / Math.max(1, cfg.total) });
  });

  let next = 0;
  let requests = 0;
  let retries = 0;
  let failedRequests = 0;
  let firstFailure = '';
  /** @param {string} what */
  const failed = (what) => {
    failedRequests++;
    if (firstFailure === '') firstFailure = what;
  };
  const worker = async () => {
    while (next < count) {
      const j = job(next++);
      for (;;) {
        /** @type {Answer} */
        let a;
        try {
          a = await request(j.method, j.path, j.body);
        } catch (err) {
          failed(`${j.method} ${j.path}: ${err instanceof Error ? err.message : String(err)}`);
          break;
        }
        if (a.status >= 200 && a.status < 300) {
          requests++;
          break;
        }
        if (a.status === 503) {
          retries++;
          const s = Number(a.retryAfter);
          await sleep(Number.isFinite(s) && s >= 0 ? s * 1000 : 1000);
          continue;
        }
        failed(`${j.method} ${j.path} answered ${a.status}: ${a.body.trim().split('\n').slice(0, 3).join(' | ')}`);
        break;
      }
    }
  };

  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const runs = Array.from({ length: cfg.connections }, worker);
  send({ type: 'started', t0: t0.toString() });
  await Promise.all(runs);
  const t1 = process.hrtime.bigint();
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  send({ type: 'done', sent: cfg.total, bytes, t1: t1.toString(), cpuMicros: cpu.user + cpu.system, requests, retries, failedRequests, firstFailure, connections: connectionsOpened });
}

process.on('disconnect', () => process.exit(0));
main().catch(reportChildError);
