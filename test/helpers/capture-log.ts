import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../src/telemetry/logger';

export interface LogEntry {
  level: string;
  message: string;
  [key: string]: unknown;
}

/** A real winston logger whose JSON lines are kept for assertions (and the raw text, to check no secret is ever written). */
export function captureLog(): { log: Logger; entries: LogEntry[]; text: () => string } {
  const entries: LogEntry[] = [];
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      const s = chunk.toString('utf8');
      raw += s;
      for (const line of s.split('\n')) if (line.trim() !== '') entries.push(JSON.parse(line) as LogEntry);
      cb();
    },
  });
  const log = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { log, entries, text: () => raw };
}
