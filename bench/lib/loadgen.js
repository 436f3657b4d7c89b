// @ts-check
'use strict';
/**
 * Parent-side handle on a load generator process: the carbon TCP one (lines
 * or pickle frames, flat out or paced: loadgen-child.js, the default) or the
 * HTTP one (http-loadgen-child.js).
 * Both speak the same IPC: 'ready', then 'go' -> 'started', then 'done'.
 */
const path = require('node:path');
const { Child } = require('./children');

/**
 * @typedef {import('./loadgen-child').GeneratorConfig} GeneratorConfig
 * @typedef {import('./http-loadgen-child').HttpGeneratorConfig} HttpGeneratorConfig
 * @typedef {{ bytesPerMetric: number }} GeneratorReady
 * @typedef {object} GeneratorDone
 * @property {number} sent        datapoints the generator was asked to send
 * @property {number} bytes       bytes written (HTTP: request bodies or paths, without headers)
 * @property {string} t1          hrtime (ns) when the last byte was handed to the kernel (HTTP: the last answer arrived)
 * @property {number} cpuMicros   the generator's own CPU time
 * @property {number} [requests]        HTTP: requests answered with success (2xx)
 * @property {number} [retries]         HTTP: 503 answers, each waited out (Retry-After) and resent
 * @property {number} [failedRequests]  HTTP: requests that failed otherwise (not resent; their datapoints are lost)
 * @property {string} [firstFailure]    HTTP: what the first failure was
 * @property {number} [connections]     HTTP: TCP connections the keep-alive agent opened
 * @property {number} [lateTicks]       paced TCP: timer ticks that fired after the next one was due
 * @property {number} [maxBehindMs]     paced TCP: the latest such tick, ms behind its schedule
 */

class LoadGenerator {
  /**
   * @param {GeneratorConfig | HttpGeneratorConfig} cfg JSON-serialisable, passed as argv[2]
   * @param {string} [module] the child module under bench/lib/
   * @param {string} [label] for error messages
   */
  constructor(cfg, module = 'loadgen-child.js', label = 'load generator') {
    this.cfg = cfg;
    this.child = new Child(path.join(__dirname, module), [JSON.stringify(cfg)], label);
  }

  get pid() {
    return this.child.pid;
  }

  /** Resolves when buffers are built and connections are open. @returns {Promise<GeneratorReady>} */
  async ready(timeoutMs = 60_000) {
    const m = await this.child.next('ready', timeoutMs);
    return { bytesPerMetric: Number(m.bytesPerMetric) };
  }

  /**
   * Start sending; resolves with the hrtime (ns) just before the first write.
   * `done()` then resolves when everything was written.
   * @returns {Promise<bigint>}
   */
  async go() {
    const m = await this.child.request({ type: 'go' }, 'started');
    return BigInt(m.t0);
  }

  /** @param {number} timeoutMs @returns {Promise<GeneratorDone>} */
  async done(timeoutMs) {
    const { type: _type, ...m } = await this.child.next('done', timeoutMs);
    return /** @type {GeneratorDone} */ (m);
  }

  stop() {
    return this.child.stop();
  }
}

module.exports = { LoadGenerator };
