// @ts-check
'use strict';
/**
 * Several rounds of the same scenarios, merged into one row each. On a shared
 * 2-core VM one run of a scenario varies by +-30%, more than the effects the
 * bars compare (2 workers against 1, a paced run against flat out): the rounds
 * run interleaved (every scenario once, then again), so a slow spell of the
 * machine hits both sides of a ratio, and the row shows the median round.
 */

/** @param {number[]} xs @returns {number} the middle finite value (the lower middle for an even count); NaN if none */
function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
}

/**
 * One row for the rounds of one scenario: throughput, CPU and wall time are the
 * medians (each on its own), peak RSS the highest, loss the sum over every
 * round (a datapoint lost in any round must show), details those of the round
 * whose throughput is the median, plus every round's figures.
 * @param {import('./types').ScenarioResult[]} rs the rounds of one scenario, in order
 * @returns {import('./types').ScenarioResult}
 */
function mergeRounds(rs) {
  const first = rs[0];
  if (first === undefined) throw new Error('mergeRounds: no rounds');
  if (rs.length === 1) return first;
  const mid = median(rs.map((r) => r.metricsPerSec));
  const middle = rs.find((r) => r.metricsPerSec === mid) ?? first;
  const list = (/** @type {(r: import('./types').ScenarioResult) => string} */ f) => rs.map(f).join(' / ');
  /** @type {import('./types').ScenarioResult} */
  const out = {
    ...middle,
    seconds: median(rs.map((r) => r.seconds)),
    metricsPerSec: mid,
    cpuMicrosPerMetric: median(rs.map((r) => r.cpuMicrosPerMetric)),
    peakRssMiB: Math.max(...rs.map((r) => r.peakRssMiB)),
    loss: rs.reduce((n, r) => n + r.loss, 0),
    details: {
      [`rounds (${rs.length}) metrics/s`]: list((r) => Math.round(r.metricsPerSec).toLocaleString('en-US')),
      [`rounds (${rs.length}) CPU us/metric`]: list((r) => r.cpuMicrosPerMetric.toFixed(2)),
      ...(middle.details ?? {}),
    },
  };
  for (const k of /** @type {const} */ (['relayCores', 'harnessCores'])) {
    const xs = rs.map((r) => r[k]).filter((x) => x !== undefined);
    if (xs.length > 0) out[k] = median(xs);
  }
  const rps = rs.map((r) => r.requestsPerSec).filter((x) => x !== undefined);
  if (rps.length > 0) out.requestsPerSec = median(rps);
  const retries = rs.map((r) => r.retries).filter((x) => x !== undefined);
  if (retries.length > 0) out.retries = retries.reduce((n, x) => n + x, 0);
  return out;
}

module.exports = { median, mergeRounds };
