import winston from 'winston';

export type Logger = winston.Logger;
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface LoggerOptions {
  level: LogLevel;
  /** JSON lines (default when stderr is not a TTY) or human-readable. */
  json?: boolean;
  silent?: boolean;
}

/**
 * All log output goes to stderr, so stdout stays free for a `file: "-"`
 * destination. Never call the logger per datapoint: even a filtered-out
 * winston call costs microseconds (deps.md §3).
 */
export function createLogger(opts: LoggerOptions): Logger {
  const json = opts.json ?? !process.stderr.isTTY;
  const { combine, timestamp, errors, colorize, printf } = winston.format;
  const format = json
    ? combine(timestamp(), errors({ stack: true }), winston.format.json())
    : combine(
        colorize(),
        timestamp({ format: 'HH:mm:ss.SSS' }),
        printf((info) => {
          const { level, message, timestamp: ts, ...rest } = info;
          const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : '';
          return `${String(ts)} ${level} ${String(message)}${extra}`;
        }),
      );
  return winston.createLogger({
    level: opts.level,
    silent: opts.silent ?? false,
    format,
    defaultMeta: json ? { service: 'carbon-fanout' } : undefined,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
  });
}

/** A logger that drops everything, for tests and dry-run commands. */
export function silentLogger(): Logger {
  return createLogger({ level: 'error', silent: true });
}
