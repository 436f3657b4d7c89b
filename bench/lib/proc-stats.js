// @ts-check
'use strict';
/** Linux /proc readings for another process and the processes it started (workers): CPU time and peak RSS. */
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
 * `pid` and every process below it (a relay with `workers: N` is a primary
 * and its workers), from /proc/<pid>/task/<tid>/children.
 * @param {number} pid
 * @returns {number[]}
 */
function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks = [];
    try {
      tasks = fs.readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of fs.readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').split(' ')) if (c.trim() !== '') out.push(Number(c));
      } catch {
        // the thread or process ended meanwhile
      }
    }
  }
  return out;
}

/**
 * utime + stime of every thread of `pid`, in clock ticks (fields 14 and 15 of
 * /proc/<pid>/stat; the command name in field 2 may contain spaces, so split
 * after its closing parenthesis).
 * @param {number} pid
 * @returns {number}
 */
function cpuTicks(pid) {
  const { user, system } = ticksSplit(pid);
  return user + system;
}

/**
 * @param {number} pid @param {boolean} [tree] with the processes below it (default)
 * @returns {{ user: number, system: number }} ticks of `pid` (and the processes below it)
 */
function ticksSplit(pid, tree = true) {
  let user = 0;
  let system = 0;
  for (const p of tree ? processTree(pid) : [pid]) {
    try {
      const s = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      user += Number(f[11]);
      system += Number(f[12]);
    } catch {
      // a child that exited between the listing and the read
    }
  }
  return { user, system };
}

/**
 * CPU time of `pid` and of each process below it, in microseconds, by pid
 * (`pid` first): where a relay with workers spends its CPU.
 * @param {number} pid
 * @returns {Map<number, number>}
 */
function cpuMicrosByProcess(pid) {
  /** @type {Map<number, number>} */
  const out = new Map();
  for (const p of processTree(pid)) {
    const { user, system } = ticksSplit(p, false);
    out.set(p, ((user + system) * 1e6) / clockTicksPerSecond());
  }
  return out;
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
  const { user, system } = ticksSplit(pid);
  const tick = 1e6 / clockTicksPerSecond();
  return { user: user * tick, system: system * tick };
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

/** @param {number} pid @returns {number} peak resident set size (VmHWM), MiB; with workers, the sum of every process's peak */
function peakRssMiB(pid) {
  return processTree(pid).reduce((n, p) => n + statusKiB(p, 'VmHWM'), 0) / 1024;
}

/** @param {number} pid @returns {number} current resident set size, MiB */
function rssMiB(pid) {
  return statusKiB(pid, 'VmRSS') / 1024;
}

module.exports = { clockTicksPerSecond, cpuTicks, cpuMicros, cpuMicrosByProcess, cpuSplitMicros, peakRssMiB, rssMiB, processTree };
