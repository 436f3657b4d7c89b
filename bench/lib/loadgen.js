// @ts-check
'use strict';
/** Parent-side handle on the plaintext load generator process (loadgen-child.js). */
const path = require('node:path');
const { Child } = require('./children');

/**
 * @typedef {import('./loadgen-child').GeneratorConfig} GeneratorConfig
 * @typedef {{ sent: number, bytes: number, t1: string, cpuMicros: number }} GeneratorDone
 */

class LoadGenerator {
  /** @param {GeneratorConfig} cfg */
  constructor(cfg) {
    this.cfg = cfg;
    this.child = new Child(path.join(__dirname, 'loadgen-child.js'), [JSON.stringify(cfg)], 'load generator');
  }

  get pid() {
    return this.child.pid;
  }

  /** Resolves when buffers are built and connections are open. @returns {Promise<{ bytesPerMetric: number }>} */
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
    const m = await this.child.next('done', timeoutMs);
    return { sent: Number(m.sent), bytes: Number(m.bytes), t1: String(m.t1), cpuMicros: Number(m.cpuMicros) };
  }

  stop() {
    return this.child.stop();
  }
}

module.exports = { LoadGenerator };
