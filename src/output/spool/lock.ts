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
 * Limits: a stale lock whose pid was reused by an unrelated live process reads
 * as held (the error names the file to remove); two processes in different
 * pid namespaces sharing one directory cannot see each other's pids.
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
      const owner = readOwner(file);
      if (owner !== undefined && owner !== process.pid && isAlive(owner)) throw new SpoolLockedError(dir, owner);
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
    fs.writeSync(fd, `${process.pid}\n${os.hostname()}\n`);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** The pid in a lock file; undefined when the file is gone, empty or garbage (a crash between create and write). */
function readOwner(file: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
  const pid = Number(text.split('\n', 1)[0]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}
