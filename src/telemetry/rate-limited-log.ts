import type { Logger } from './logger';

const MAX_KEYS = 1000;

type LogMeta = Record<string, unknown>;

/**
 * Bad input can arrive thousands of times a second; this logs the first
 * occurrence per key (e.g. reason + peer) and then at most one line per
 * interval carrying the count of what was suppressed in between.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * `meta` may be a function: bad input arrives per datapoint, so excerpts and
   * escaped names are built only for the lines that are actually logged.
   */
  warn(key: string, message: string, meta: LogMeta | (() => LogMeta)): void {
    this.write('warn', key, message, meta);
  }

  /** As warn(), at info level: for per-connection events worth seeing (who connected) that a client can repeat at will. */
  info(key: string, message: string, meta: LogMeta | (() => LogMeta)): void {
    this.write('info', key, message, meta);
  }

  /** As warn(), at error level: for failures that are bugs, which a client can still make happen per request. */
  error(key: string, message: string, meta: LogMeta | (() => LogMeta)): void {
    this.write('error', key, message, meta);
  }

  private write(level: 'info' | 'warn' | 'error', key: string, message: string, meta: LogMeta | (() => LogMeta)): void {
    const t = this.now();
    const entry = this.last.get(key);
    if (entry !== undefined && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    if (entry === undefined && this.last.size >= MAX_KEYS) this.last.clear();
    const suppressed = entry?.suppressed ?? 0;
    this.last.set(key, { at: t, suppressed: 0 });
    const m = typeof meta === 'function' ? meta() : meta;
    this.log[level](message, suppressed > 0 ? { ...m, suppressedSinceLast: suppressed } : m);
  }
}

/** A line or payload excerpt safe for a log line: escaped like Python's repr, cut to `max` characters. */
export function excerpt(buf: Buffer, max = 400): string {
  const s = JSON.stringify(buf.subarray(0, max * 4).toString('utf8')).slice(1, -1);
  return s.length > max ? s.slice(0, max) + '...' : s;
}
