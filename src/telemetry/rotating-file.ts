import fs from 'node:fs';
import path from 'node:path';
import winston from 'winston';

/** winston's transport base class: winston-transport, re-exported at run time as `winston.Transport` (its typings say `transport`, a namespace). */
const TransportStream = (winston as unknown as { Transport: typeof import('winston-transport') }).Transport;

/** Where logform leaves the formatted line (triple-beam's MESSAGE). */
const MESSAGE = Symbol.for('message');

export interface RotatingFileOptions {
  /** Absolute. */
  file: string;
  /** A line that would take the file past this many bytes goes to a new file. */
  maxSize: number;
  /** Files kept, the current one included: FILE, FILE.1 (the previous), ... FILE.<maxFiles-1>. */
  maxFiles: number;
  format?: winston.Logform.Format;
}

/**
 * A log file rotated by size, logrotate's way: FILE is always the newest,
 * FILE.1 the one before, and so on; the oldest beyond maxFiles is deleted.
 *
 * Written synchronously, a line at a time: winston's own File transport loses
 * every line of a burst that crosses a rotation (300 lines logged in one tick
 * left two empty files, winston 3.19) and overshoots maxsize. The relay logs
 * at most a few lines a second (bad input is rate-limited), so a blocking
 * append costs nothing that matters, and a line is on disk once logged.
 */
export class RotatingFileTransport extends TransportStream {
  private fd: number;
  private size: number;

  constructor(private readonly opts: RotatingFileOptions) {
    super({ format: opts.format });
    fs.mkdirSync(path.dirname(opts.file), { recursive: true });
    this.fd = fs.openSync(opts.file, 'a');
    this.size = fs.fstatSync(this.fd).size;
  }

  override log(info: Record<string | symbol, unknown>, done: () => void): void {
    const line = Buffer.from(`${String(info[MESSAGE])}\n`, 'utf8');
    try {
      if (this.size > 0 && this.size + line.length > this.opts.maxSize) this.rotate();
      fs.writeSync(this.fd, line);
      this.size += line.length;
    } catch (err) {
      // a full or vanished disk must not stop the relay; stderr (if on) still has the line
      this.emit('warn', err);
    }
    done();
  }

  override close(): void {
    fs.closeSync(this.fd);
  }

  private rotate(): void {
    fs.closeSync(this.fd);
    const { file, maxFiles } = this.opts;
    const nth = (n: number): string => (n === 0 ? file : `${file}.${n}`);
    fs.rmSync(nth(maxFiles - 1), { force: true });
    for (let n = maxFiles - 2; n >= 0; n--) if (fs.existsSync(nth(n))) fs.renameSync(nth(n), nth(n + 1));
    this.fd = fs.openSync(file, 'a');
    this.size = 0;
  }
}
