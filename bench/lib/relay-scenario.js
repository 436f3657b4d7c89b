// @ts-check
'use strict';
/**
 * The common shape of an end-to-end scenario, four processes over loopback:
 *
 *   load generator ──(some ingest protocol)──▶ relay (dist/cli.js) ──pickle──▶ counting sink
 *
 * A scenario module supplies the relay's `listen:` section and the load
 * generator (and optionally line output instead of pickle, or another relay
 * program in place of ours: `relay`, see lib/peers.js); this runs them and
 * measures: wall time from the first byte sent
 * until the sink has counted every datapoint; the relay's CPU time
 * (/proc/<pid>/stat) over that window; its peak RSS (VmHWM); loss = sent -
 * counted; and, for HTTP generators, requests and 503 retries.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { CountingSink } = require('./sink');
const { RelayProcess, freePort } = require('./relay-process');
const { sinkRelayYaml } = require('./relay-yaml');
const { nativeSink } = require('../native/build');
const { cpuMicros, cpuMicrosByProcess, cpuSplitMicros, peakRssMiB } = require('./proc-stats');
const { NAME_PREFIX } = require('./workload');

/** @type {{ bin: string | undefined } | undefined} the C sink's build, once per bench run */
let nativeBuild;

/** @param {(msg: string) => void} log @returns {string | undefined} */
function nativeSinkBinary(log) {
  if (nativeBuild === undefined) {
    const built = nativeSink();
    if (built.bin === undefined) log(`C sink not built (${built.why}): counting with the JavaScript sink`);
    nativeBuild = built;
  }
  return nativeBuild.bin;
}

/** After the generator finished, give up this long after the sink's count last moved. */
const STALL_MS = 15_000;

/**
 * @typedef {object} RelayScenarioSpec
 * @property {string} name
 * @property {number} total                        datapoints the generator sends
 * @property {(port: number) => string} listen     the relay's `listen:` section body (indented two spaces), for the port under test
 * @property {(port: number) => import('./loadgen').LoadGenerator} generator
 * @property {(ready: import('./loadgen').GeneratorReady) => string} describe   progress line once sending starts
 * @property {string} wireIn                       what the generator sends, for the "wire MB" detail (e.g. "plaintext", "HTTP bodies")
 * @property {'overflow' | 'always'} [spool]       the sink destination's spool mode (a temp data directory, removed after)
 * @property {'pickle' | 'line'} [output]          the sink destination's protocol (default pickle; the sink counts either)
 * @property {(port: number, sinkPort: number) => Promise<RelayUnderTest>} [relay]
 *   start another relay program listening on `port` and sending to 127.0.0.1:sinkPort instead of ours (`listen` is then unused)
 * @property {boolean} [jsSink]                   count with the JavaScript sink even for our relay's pickle (a comparison with a peer, which needs it)
 * @property {boolean} [sinkConnectsAtStart]       the relay connects to its destination before any datapoint (default true; we and carbon-relay do)
 * @property {number} [workers]                   the relay's worker processes (default 1; CPU and peak RSS then cover the primary and every worker)
 * @property {number} [idleBaselineMs]             first measure the relay's CPU this long with connections open and nothing sent
 *                                                 (reported in details: what it costs per datapoint at the run's rate)
 */

/**
 * The process measured: ours (RelayProcess) or a peer (lib/peers.js).
 * @typedef {object} RelayUnderTest
 * @property {number} pid
 * @property {string} stderr                       the tail of what it printed (errors, warnings)
 * @property {() => Promise<void>} ready           resolves when it accepts connections on the port under test
 * @property {() => Promise<{ killed: boolean }>} stop   SIGTERM (SIGKILL after a grace period), then clean up
 */

/**
 * @param {number} port
 * @param {number} sinkPort
 * @param {RelayScenarioSpec} spec
 * @param {string | undefined} dataDir
 * @param {number} [adminPort] a known admin port, to ask /ready
 */
function relayConfig(port, sinkPort, spec, dataDir, adminPort) {
  return sinkRelayYaml({
    admin: adminPort === undefined ? undefined : `{ host: 127.0.0.1, port: ${adminPort} }`,
    writtenBy: `bench/lib/relay-scenario.js for "${spec.name}"`,
    extra: dataDir === undefined ? '' : `dataDir: ${JSON.stringify(dataDir)}\n`,
    listen: spec.listen(port),
    sinkPort,
    output: spec.output,
    destinationExtra: spec.spool === undefined ? '' : `    spool: { mode: ${spec.spool} }\n`,
    workers: spec.workers,
  });
}

/**
 * Polls GET /ready on the admin port until it answers 200.
 * @param {number} port
 * @param {number} timeoutMs
 */
async function waitReady(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the relay's /ready on port ${port} did not answer 200 within ${timeoutMs} ms`);
}

/**
 * @param {import('./types').ScenarioOptions} opts
 * @param {RelayScenarioSpec} spec
 * @returns {Promise<import('./types').ScenarioResult>}
 */
async function runRelayScenario(opts, spec) {
  const { name, total } = spec;
  /** @type {CountingSink | null} */
  let sink = null;
  /** @type {RelayUnderTest | null} */
  let relay = null;
  /** @type {import('./loadgen').LoadGenerator | null} */
  let gen = null;
  const output = spec.output ?? 'pickle';
  const dataDir = spec.spool === undefined ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'cf-bench-spool-'));
  try {
    // Count only the generator's names: a relay with self-metrics routes its own datapoints to the sink too.
    // the C sink where it can count what arrives (our relay's pickle frames): it leaves the relay more of the cores
    const native = spec.relay === undefined && spec.jsSink !== true && output === 'pickle' && process.env.BENCH_SINK !== 'js' ? nativeSinkBinary(opts.log) : undefined;
    sink = await new CountingSink(NAME_PREFIX, undefined, output, native).start();
    const port = await freePort();
    // with workers, the port accepts once the first worker listens: /ready says when all of them do (round-robin
    // hands connections only to workers already listening, so the load would otherwise land on the first one)
    const adminPort = (spec.workers ?? 1) > 1 ? await freePort() : undefined;
    relay = spec.relay === undefined ? new RelayProcess(relayConfig(port, sink.port, spec, dataDir, adminPort), port, opts.relayNodeArgs) : await spec.relay(port, sink.port);
    await relay.ready();
    if (adminPort !== undefined) await waitReady(adminPort, 30_000);
    if (spec.sinkConnectsAtStart !== false) await sink.waitConnected();
    opts.log(`relay pid ${relay.pid} listening on 127.0.0.1:${port}, ${output} sink pid ${sink.pid} on :${sink.port}`);

    gen = spec.generator(port);
    const ready = await gen.ready();
    sink.expect(total);
    let idleCpuPerSec = NaN;
    if (spec.idleBaselineMs !== undefined) {
      const c0 = cpuMicros(relay.pid);
      const w0 = process.hrtime.bigint();
      await new Promise((r) => setTimeout(r, spec.idleBaselineMs));
      idleCpuPerSec = (cpuMicros(relay.pid) - c0) / (Number(process.hrtime.bigint() - w0) / 1e9);
    }

    const rssAtStart = peakRssMiB(relay.pid);
    const cpuBefore = cpuMicros(relay.pid);
    const splitBefore = cpuSplitMicros(relay.pid);
    const byProcessBefore = cpuMicrosByProcess(relay.pid);
    const harnessBefore = cpuMicros(sink.pid) + cpuMicros(gen.pid);
    const t0 = await gen.go();
    opts.log(spec.describe(ready));

    // Wait for the sink to count everything; give up at the timeout, or when the
    // generator is done and nothing has arrived for STALL_MS.
    const deadline = Date.now() + opts.timeoutMs;
    /** @type {{ done: import('./loadgen').GeneratorDone | null }} */
    const g = { done: null };
    const genFinished = gen.done(opts.timeoutMs).then(
      (d) => (g.done = d),
      () => null,
    );
    const reached = sink.reached(opts.timeoutMs).catch(() => null);
    /** @type {import('./sink').SinkStats | null} */
    let final = null;
    let lastCount = -1;
    let lastMove = Date.now();
    let timedOut = false;
    for (;;) {
      final = await Promise.race([reached, new Promise((r) => setTimeout(() => r(null), 1000))]);
      if (final !== null) break;
      if (gen.child.failure !== null) throw gen.child.failure;
      const s = await sink.stats();
      if (s.datapoints !== lastCount) {
        lastCount = s.datapoints;
        lastMove = Date.now();
      }
      if (Date.now() > deadline || (g.done !== null && Date.now() - lastMove > STALL_MS)) {
        timedOut = true;
        break;
      }
    }
    const cpuAfter = cpuMicros(relay.pid);
    const splitAfter = cpuSplitMicros(relay.pid);
    const byProcessAfter = cpuMicrosByProcess(relay.pid);
    const harnessCpu = cpuMicros(sink.pid) + cpuMicros(gen.pid) - harnessBefore;
    const peak = peakRssMiB(relay.pid);
    const tEnd = process.hrtime.bigint();
    if (final === null) final = await sink.stats();
    const end = timedOut || final.reachedAt === '' ? tEnd : BigInt(final.reachedAt);
    const seconds = Number(end - t0) / 1e9;
    const received = final.datapoints;
    const relayCpu = cpuAfter - cpuBefore;
    // 'done' can arrive just after 'reached' (two processes, two IPC channels).
    const genDone = g.done ?? (timedOut ? null : await Promise.race([genFinished, new Promise((r) => setTimeout(() => r(null), 5000))]));

    /** @type {Record<string, string | number>} */
    const details = {};
    if (adminPort !== undefined) {
      // how the connections' load fell on the workers: the ceiling on what N workers can add
      const status = /** @type {{ workers?: { received: number | null }[] }} */ (await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json());
      details['datapoints received per worker'] = (status.workers ?? []).map((w) => (w.received ?? 0).toLocaleString('en-US')).join(' / ');
      details['relay CPU s by process, primary first'] = [...byProcessAfter]
        .map(([p, us]) => ((us - (byProcessBefore.get(p) ?? 0)) / 1e6).toFixed(2))
        .join(' / ');
    }
    if (genDone?.requests !== undefined) {
      details['HTTP requests answered 2xx'] = genDone.requests;
      details['HTTP 503 retries (waited Retry-After, resent)'] = genDone.retries ?? 0;
      details['HTTP failed requests (not resent)'] = genDone.failedRequests ?? 0;
      if (genDone.firstFailure) details['HTTP first failure'] = genDone.firstFailure;
      details['HTTP keep-alive connections opened'] = genDone.connections ?? '-';
    }
    if (genDone?.lateTicks !== undefined) details['generator pacing: late ticks / most behind ms'] = `${genDone.lateTicks} / ${(genDone.maxBehindMs ?? 0).toFixed(1)}`;
    Object.assign(details, {
      [output === 'line' ? 'sink lines' : 'sink frames']: final.frames,
      [output === 'line' ? 'sink incomplete lines' : 'sink frame errors']: final.frameErrors + final.truncatedFrames,
      'sink other datapoints (not bench.*)': final.otherDatapoints,
      'relay CPU s': (relayCpu / 1e6).toFixed(2),
      'relay CPU utilisation': `${((relayCpu / 1e6 / seconds) * 100).toFixed(0)}% of one core`,
      'relay CPU us per datapoint, user / system': received > 0 ? `${((splitAfter.user - splitBefore.user) / received).toFixed(2)} / ${((splitAfter.system - splitBefore.system) / received).toFixed(2)}` : '-',
      ...(Number.isNaN(idleCpuPerSec)
        ? {}
        : {
            [`relay CPU when idle (${((spec.idleBaselineMs ?? 0) / 1000).toFixed(0)} s before the load, connections open)`]: `${((idleCpuPerSec / 1e6) * 100).toFixed(2)}% of one core = ${(idleCpuPerSec / (received / seconds)).toFixed(3)} us per datapoint at this rate`,
          }),
      'relay peak RSS before load MiB': rssAtStart.toFixed(1),
      'generator send time s': genDone ? (Number(BigInt(genDone.t1) - t0) / 1e9).toFixed(2) : 'did not finish',
      'generator CPU s': genDone ? (genDone.cpuMicros / 1e6).toFixed(2) : '-',
      [`sink CPU s (${sink.native ? 'C' : 'JavaScript'} sink)`]: (final.cpuMicros / 1e6).toFixed(2),
      [`wire MB in (${spec.wireIn}) / out (${output})`]: `${((ready.bytesPerMetric * total) / 1e6).toFixed(1)} / ${(final.bytes / 1e6).toFixed(1)}`,
    });
    if (final.otherPicklerFrames) details['sink frames from another pickler (Python)'] = final.otherPicklerFrames;
    if (timedOut) details['timed out'] = `after ${seconds.toFixed(1)} s with ${received} of ${total} counted`;
    if (relay.stderr.trim() !== '') details['relay stderr (tail)'] = relay.stderr.trim().split('\n').slice(-5).join(' | ');

    return {
      name,
      metrics: total,
      seconds,
      metricsPerSec: received / seconds,
      cpuMicrosPerMetric: received > 0 ? relayCpu / received : NaN,
      peakRssMiB: peak,
      loss: total - received,
      requestsPerSec: genDone?.requests !== undefined ? genDone.requests / seconds : undefined,
      retries: genDone?.retries,
      relayCores: relayCpu / 1e6 / seconds,
      harnessCores: harnessCpu / 1e6 / seconds,
      details,
    };
  } finally {
    // Relay first (its SIGTERM drain needs the sink), then the children.
    if (relay !== null) {
      const exit = await relay.stop();
      if (exit.killed) opts.log('relay did not exit within the grace period after SIGTERM; killed');
    }
    await Promise.all([gen?.stop(), sink?.stop()]);
    if (dataDir !== undefined) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

module.exports = { runRelayScenario };
