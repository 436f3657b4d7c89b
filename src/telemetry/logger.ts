import winston from 'winston';
import { RotatingFileTransport } from './rotating-file';

export type Logger = winston.Logger;
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** A log file rotated by size (the config's `logFile`). */
export interface LogFileOptions {
  /** Absolute. */
  path: string;
  /** Bytes at which the file is renamed and a new one begun. */
  maxSize: number;
  /** Files kept, the current one included. */
  maxFiles: number;
  /** false: nothing on stderr. */
  stderr: boolean;
}

export interface LoggerOptions {
  level: LogLevel;
  /** JSON lines (default when stderr is not a TTY) or human-readable. */
  json?: boolean;
  silent?: boolean;
  /** Also (or only) to this file, as JSON lines. */
  file?: LogFileOptions;
}

/**
 * Log output goes to stderr (never stdout, which stays free for a `file: "-"`
 * destination) and, when configured, to a size-rotated file. Never call the
 * logger per datapoint: even a filtered-out winston call costs microseconds
 * (deps.md §3).
 */
export function createLogger(opts: LoggerOptions): Logger {
  const json = opts.json ?? !process.stderr.isTTY;
  const { combine, timestamp, errors, colorize, printf } = winston.format;
  const jsonLines = combine(timestamp(), winston.format.json());
  const readable = combine(
    colorize(),
    timestamp({ format: 'HH:mm:ss.SSS' }),
    printf((info) => {
      const { level, message, timestamp: ts, ...rest } = info;
      const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : '';
      return `${String(ts)} ${level} ${String(message)}${extra}`;
    }),
  );
  const transports: winston.transport[] = [];
  if (opts.file?.stderr !== false) transports.push(new winston.transports.Console({ format: json ? jsonLines : readable, stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] }));
  if (opts.file !== undefined) {
    // each transport formats its own copy of a record: the file gets JSON lines (for machines) whatever stderr is
    const service = winston.format((info) => Object.assign(info, { service: 'carbon-fanout' }));
    transports.push(new RotatingFileTransport({ file: opts.file.path, maxSize: opts.file.maxSize, maxFiles: opts.file.maxFiles, format: combine(service(), jsonLines) }));
  }
  return winston.createLogger({
    level: opts.level,
    silent: opts.silent ?? false,
    format: errors({ stack: true }),
    defaultMeta: json ? { service: 'carbon-fanout' } : undefined,
    transports,
  });
}

/** A logger that drops everything, for tests and dry-run commands. */
export function silentLogger(): Logger {
  return createLogger({ level: 'error', silent: true });
}
