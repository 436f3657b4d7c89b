import fs from 'node:fs';
import type { Logger } from '../../telemetry/logger';
import type { RateLimitedLog } from '../../telemetry/rate-limited-log';

/** Free space is read again at most this often, or after this many bytes written, not per append. */
const CHECK_MS = 1000;
const CHECK_BYTES = 4 * 1024 * 1024;

/**
 * Keeps the spool from filling the disk it shares with everything else:
 * low() is true while the filesystem has less than `minFreeBytes` free.
 * statfs costs a syscall, so the answer is reused for a second or a few MiB
 * of writes, whichever comes first.
 */
export class FreeSpaceGate {
  private checkedAt = -Infinity;
  private writtenSince = 0;
  private isLow = false;

  constructor(
    private readonly dir: string,
    private readonly minFreeBytes: number,
    private readonly now: () => number,
    private readonly log: Logger,
    private readonly warn: RateLimitedLog,
    private readonly freeBytes: (dir: string) => number = statfsFree,
  ) {}

  low(): boolean {
    if (this.minFreeBytes <= 0) return false;
    const now = this.now();
    if (now - this.checkedAt < CHECK_MS && this.writtenSince < CHECK_BYTES) return this.isLow;
    this.checkedAt = now;
    this.writtenSince = 0;
    let free: number;
    try {
      free = this.freeBytes(this.dir);
    } catch (err) {
      this.warn.warn('statfs', 'cannot read free disk space; spooling anyway', { dir: this.dir, error: (err as Error).message });
      return (this.isLow = false);
    }
    const low = free < this.minFreeBytes;
    if (low && !this.isLow) this.log.warn('disk space below spool minFreeBytes: not spooling', { dir: this.dir, freeBytes: free, minFreeBytes: this.minFreeBytes });
    if (!low && this.isLow) this.log.info('disk space back above spool minFreeBytes: spooling again', { dir: this.dir, freeBytes: free });
    return (this.isLow = low);
  }

  wrote(bytes: number): void {
    this.writtenSince += bytes;
  }

  /** After a failed write: look at the disk again before the next one. */
  recheck(): void {
    this.checkedAt = -Infinity;
  }
}

function statfsFree(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}
