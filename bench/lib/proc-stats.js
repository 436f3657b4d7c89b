// @ts-check
'use strict';
/** Linux /proc readings for another process: CPU time and peak RSS. */
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

/** @type {number | undefined} */
let clkTck;

/** Clock ticks per second for /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux). */
function clockTicksPerSecond() {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/**
 * utime + stime of every thread of `pid`, in clock ticks (fields 14 and 15 of
 * /proc/<pid>/stat; the command name in field 2 may contain spaces, so split
 * after its closing parenthesis).
 * @param {number} pid
 * @returns {number}
 */
function cpuTicks(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/**
 * CPU time of `pid` so far, in microseconds (resolution: one clock tick, 10 ms).
 * @param {number} pid
 * @returns {number}
 */
function cpuMicros(pid) {
  return (cpuTicks(pid) * 1e6) / clockTicksPerSecond();
}

/**
 * User and system (kernel) CPU time of `pid` so far, in microseconds: at modest
 * rates most of a relay's CPU is system calls for small reads and writes.
 * @param {number} pid
 * @returns {{ user: number, system: number }}
 */
function cpuSplitMicros(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  const tick = 1e6 / clockTicksPerSecond();
  return { user: Number(f[11]) * tick, system: Number(f[12]) * tick };
}

/**
 * A `Vm...:  N kB` field of /proc/<pid>/status, in KiB.
 * @param {number} pid
 * @param {'VmHWM' | 'VmRSS'} field
 * @returns {number}
 */
function statusKiB(pid, field) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s);
  if (m === null) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** @param {number} pid @returns {number} peak resident set size (VmHWM), MiB */
function peakRssMiB(pid) {
  return statusKiB(pid, 'VmHWM') / 1024;
}

/** @param {number} pid @returns {number} current resident set size, MiB */
function rssMiB(pid) {
  return statusKiB(pid, 'VmRSS') / 1024;
}

module.exports = { clockTicksPerSecond, cpuTicks, cpuMicros, cpuSplitMicros, peakRssMiB, rssMiB };
