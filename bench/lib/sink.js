// @ts-check
'use strict';
/**
 * Parent-side handle on the counting sink process: sink-child.js (pickle frames of any pickler, or plaintext
 * lines), or native-sink-child.js (the C sink: our encoder's pickle frames).
 */
const path = require('node:path');
const { Child } = require('./children');

/**
 * @typedef {object} SinkStats
 * @property {number} datapoints      datapoints counted toward the total (names with the prefix)
 * @property {number} otherDatapoints other names (e.g. the relay's self-metrics)
 * @property {number} frames          pickle frames (line sink: non-empty lines)
 * @property {number} frameErrors     frames in no layout the sink knows (their datapoints are not counted)
 * @property {number} otherPicklerFrames frames in another pickler's layout (Python's), counted by the generic walker
 * @property {number} truncatedFrames connections that closed mid-frame
 * @property {number} bytes
 * @property {number} connections
 * @property {string} reachedAt       hrtime (ns) when the expected total was reached, '' if not
 * @property {string} firstByteAt     hrtime (ns) of the first chunk
 * @property {string} lastByteAt      hrtime (ns) of the last chunk
 * @property {number} cpuMicros       the sink's own CPU time
 */

class CountingSink {
  /**
   * @param {string} [namePrefix] count only these names toward `expect` (the relay may add its own self-metrics)
   * @param {number} [port] listen here (default: an ephemeral port)
   * @param {'pickle' | 'line'} [protocol] what the relay sends to the sink (default pickle)
   * @param {string} [native] the C sink's binary (bench/native/build.js): counts pickle frames in our encoder's layout
   *   only (not Python's: not for the carbon-relay comparison), with a fraction of the JavaScript sink's CPU
   */
  constructor(namePrefix, port, protocol = 'pickle', native = undefined) {
    this.protocol = protocol;
    this.native = native !== undefined;
    this.child =
      native !== undefined
        ? new Child(path.join(__dirname, 'native-sink-child.js'), [native, namePrefix ?? '', String(port ?? 0)], 'native pickle sink')
        : new Child(path.join(__dirname, 'sink-child.js'), [namePrefix ?? '', String(port ?? 0), protocol], `${protocol} sink`);
    this.port = 0;
  }

  get pid() {
    return this.child.pid;
  }

  /** Resolves once the sink is listening. */
  async start() {
    const m = await this.child.next('listening', 10_000);
    this.port = Number(m.port);
    return this;
  }

  /** Resolves when the relay has connected (the destination connects on startup). */
  async waitConnected(timeoutMs = 10_000) {
    await this.child.next('connected', timeoutMs);
  }

  /** @param {number} total */
  expect(total) {
    this.child.send({ type: 'expect', total });
  }

  /**
   * Resolves with the stats at the moment `expect`'s total was reached; rejects after timeoutMs.
   * @param {number} timeoutMs
   * @returns {Promise<SinkStats>}
   */
  async reached(timeoutMs) {
    return /** @type {SinkStats} */ (/** @type {unknown} */ (await this.child.next('reached', timeoutMs)));
  }

  /** @returns {Promise<SinkStats>} */
  async stats() {
    return /** @type {SinkStats} */ (/** @type {unknown} */ (await this.child.request({ type: 'stats' }, 'stats')));
  }

  stop() {
    return this.child.stop();
  }
}

module.exports = { CountingSink };
