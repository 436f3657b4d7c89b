/**
 * One owner per spool directory: two writers would interleave records and
 * fight over the cursor. The lock is a file created exclusively (O_EXCL)
 * holding the owner's pid; Node has no flock(), so liveness is judged by pid:
 *
 * - another pid that is alive (kill(pid, 0) succeeds or says EPERM): held, open() throws;
 * - a pid that no longer exists: stale (the owner crashed), taken over;
 * - our own pid: held if a Spool in this process has the directory open
 *   (an in-process registry, emptied by close() and abandon()), else stale.
 *   That covers a process that restarts under the same pid (pid 1 in a
 *   container) and a Spool dropped without close() in tests (see Spool.abandon).
 *
 * - on Linux the file also names the owner's boot and start time (boot_id, and
 *   field 22 of /proc/<pid>/stat): a live pid that booted or started otherwise
 *   is an unrelated process that reused the pid, so the lock is stale. After a
 *   power cut every lock is from another boot, and pids from a previous boot
 *   are soon reused: without this a relay could refuse its own spool.
 *
 * Limits: a lock file without that line (older versions, or no /proc) whose pid
 * was reused reads as held (the error names the file to remove); two processes
 * in different pid namespaces sharing one directory cannot see each other's pids.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../telemetry/logger';
import { errorCode } from './files';

export const LOCK_FILE = 'lock';

/** Directories (real paths) a Spool in this process holds. */
const heldHere = new Set<string>();

export class SpoolLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly ownerPid: number | undefined,
  ) {
    super(
      ownerPid === process.pid
        ? `spool directory ${dir} is already open in this process`
        : `spool directory ${dir} is in use by process ${ownerPid ?? '(unknown)'}; ` +
            `each destination needs its own spool directory (if that process is gone, remove ${path.join(dir, LOCK_FILE)})`,
    );
    this.name = 'SpoolLockedError';
  }
}

export class SpoolLock {
  private released = false;

  private constructor(
    private readonly key: string,
    private readonly file: string,
  ) {}

  /** Takes the lock of an existing directory, or throws SpoolLockedError. */
  static acquire(dir: string, log: Logger): SpoolLock {
    const key = fs.realpathSync(dir);
    const file = path.join(dir, LOCK_FILE);
    if (heldHere.has(key)) throw new SpoolLockedError(dir, process.pid);
    if (!tryCreate(file)) {
      const { pid: owner, identity } = readLock(file);
      if (owner !== undefined && owner !== process.pid && isAlive(owner) && !reusedPid(owner, identity)) throw new SpoolLockedError(dir, owner);
      log.warn('taking over a stale spool lock', { dir, stalePid: owner ?? null });
      try {
        fs.unlinkSync(file);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
      // another process that saw the same stale lock may have won the race
      if (!tryCreate(file)) throw new SpoolLockedError(dir, readOwner(file));
    }
    heldHere.add(key);
    return new SpoolLock(key, file);
  }

  /** Deletes the lock file (if it is still ours) and forgets the directory. */
  release(): void {
    if (this.released) return;
    this.forget();
    if (readOwner(this.file) === process.pid) {
      try {
        fs.unlinkSync(this.file);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
    }
  }

  /** Forgets the directory in this process but leaves the file, as a crash would. */
  forget(): void {
    this.released = true;
    heldHere.delete(this.key);
  }
}

function tryCreate(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    const identity = processIdentity(process.pid);
    fs.writeSync(fd, `${process.pid}\n${os.hostname()}\n${identity === undefined ? '' : `${identity}\n`}`);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/**
 * A lock file's pid (undefined when the file is gone, empty or garbage: a crash between create and write) and the
 * owner's boot and start time (undefined when it names none: older versions, or no /proc).
 */
function readLock(file: string): { pid: number | undefined; identity: string | undefined } {
  let lines: string[];
  try {
    lines = fs.readFileSync(file, 'latin1').split('\n');
  } catch {
    return { pid: undefined, identity: undefined };
  }
  const pid = Number(lines[0]);
  const identity = lines[2]?.trim();
  return { pid: Number.isSafeInteger(pid) && pid > 0 ? pid : undefined, identity: identity === '' ? undefined : identity };
}

function readOwner(file: string): number | undefined {
  return readLock(file).pid;
}

/** `<boot id>:<start time in clock ticks>` of a process, or undefined where /proc does not tell (not Linux, gone). */
export function processIdentity(pid: number): string | undefined {
  try {
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // the command name (field 2) may hold spaces and parentheses: count fields after its closing one
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return boot !== '' && start !== undefined && /^\d+$/.test(start) ? `${boot}:${start}` : undefined;
  } catch {
    return undefined;
  }
}

/** The lock names a boot and start time (`recorded`), and the live process with its pid has others: the pid was reused. */
function reusedPid(pid: number, recorded: string | undefined): boolean {
  if (recorded === undefined) return false;
  const now = processIdentity(pid);
  return now !== undefined && now !== recorded;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}
