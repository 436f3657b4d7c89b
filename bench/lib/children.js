// @ts-check
'use strict';
/**
 * Child processes started by the benchmark: every one is tracked by pid and
 * killed when the benchmark exits, however it exits. Messages from forked
 * children are queued so a caller can await "the next message of type X".
 */
const { fork } = require('node:child_process');

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set();

/** @param {import('node:child_process').ChildProcess} proc */
function track(proc) {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

/** Last-resort cleanup: SIGKILL every child we started that is still running. */
function killAll() {
  for (const p of live) {
    if (p.exitCode === null && p.signalCode === null && p.pid !== undefined) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  live.clear();
}
process.once('exit', killAll);

/**
 * Resolves with the exit of `proc`, sending `signal` first; escalates to SIGKILL after graceMs.
 * @param {import('node:child_process').ChildProcess} proc
 * @param {NodeJS.Signals} signal
 * @param {number} graceMs
 * @returns {Promise<{ code: number | null, signal: NodeJS.Signals | null, killed: boolean }>}
 */
function stopProcess(proc, signal = 'SIGTERM', graceMs = 15_000) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve({ code: proc.exitCode, signal: proc.signalCode, killed: false });
      return;
    }
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      proc.kill('SIGKILL');
    }, graceMs);
    proc.once('exit', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig, killed });
    });
    proc.kill(signal);
  });
}

/**
 * @typedef {{ type: string, [key: string]: any }} Message
 */

/** A forked bench helper (sink, load generator) speaking `{type, ...}` IPC messages. */
class Child {
  /**
   * @param {string} modulePath
   * @param {string[]} args
   * @param {string} label for error messages
   */
  constructor(modulePath, args, label) {
    this.label = label;
    /** @type {Message[]} */
    this.inbox = [];
    /** @type {Array<{ type: string, resolve: (m: Message) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>} */
    this.waiters = [];
    /** @type {Error | null} */
    this.failure = null;
    this.stopping = false;
    this.proc = track(fork(modulePath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }));
    this.proc.on('message', (/** @type {Message} */ m) => this.deliver(m));
    this.proc.once('exit', (code, signal) => {
      if (!this.stopping) this.fail(new Error(`${label} exited unexpectedly (code ${code}, signal ${signal})`));
    });
  }

  get pid() {
    return /** @type {number} */ (this.proc.pid);
  }

  /** @param {Message} m */
  send(m) {
    this.proc.send(m);
  }

  /**
   * The next message of `type` (including one already received), or rejection after timeoutMs.
   * @param {string} type
   * @param {number} timeoutMs
   * @returns {Promise<Message>}
   */
  next(type, timeoutMs) {
    const i = this.inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`${this.label}: no "${type}" message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ type, resolve, reject, timer });
    });
  }

  /**
   * Send a request and await the reply of `replyType`.
   * @param {Message} m
   * @param {string} replyType
   * @param {number} timeoutMs
   */
  request(m, replyType, timeoutMs = 10_000) {
    const reply = this.next(replyType, timeoutMs);
    this.send(m);
    return reply;
  }

  async stop() {
    this.stopping = true;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error(`${this.label} stopped`));
    }
    this.waiters = [];
    await stopProcess(this.proc, 'SIGTERM', 5000);
  }

  /** @param {Message} m */
  deliver(m) {
    if (m.type === 'error') {
      this.fail(new Error(`${this.label}: ${m.message}`));
      return;
    }
    const i = this.waiters.findIndex((w) => w.type === m.type);
    if (i < 0) {
      this.inbox.push(m);
      return;
    }
    const [w] = this.waiters.splice(i, 1);
    clearTimeout(w.timer);
    w.resolve(m);
  }

  /** @param {Error} err */
  fail(err) {
    if (this.failure !== null) return;
    this.failure = err;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters = [];
  }
}

/**
 * Report an uncaught failure of a child module to the parent and exit.
 * @param {unknown} err
 */
function reportChildError(err) {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (process.send) process.send({ type: 'error', message }, () => process.exit(1));
  else {
    process.stderr.write(`${message}\n`);
    process.exit(1);
  }
}

module.exports = { Child, track, stopProcess, killAll, reportChildError };
