import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../telemetry/logger';

/** What a state file's parsed JSON is, or why it is not usable. */
export type StateCheck<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface StateFileOptions<T> {
  /** The directory the source owns (`SourceDeps.stateDir`); created with its parents on the first save. */
  readonly dir: string;
  /** The file's name in `dir`, e.g. `position.json`. */
  readonly name: string;
  /** Checks the parsed JSON: anything it refuses makes the file corrupt. */
  readonly check: (data: unknown) => StateCheck<T>;
  readonly log: Logger;
  /** Added to every log line (e.g. `{ source: name }`). */
  readonly context?: Record<string, unknown>;
}

/**
 * One small JSON file holding what a source must remember across restarts
 * (its position), in the directory it owns. Kind-agnostic: the caller gives
 * the shape check.
 *
 * - `save()` replaces the file atomically: `<file>.tmp` is written and
 *   fsynced, renamed over `<file>`, and the directory fsynced, so a crash
 *   leaves the old or the new contents, never a mix, and a returned save is
 *   on disk. A value equal to the last one saved is not written again.
 * - `load()` gives undefined when there is no file. A file that is not JSON
 *   or fails the check is renamed `<file>.bad` (kept for an operator,
 *   replacing an older one) and logged as a warning: the source starts as it
 *   would without state. A `<file>.tmp` left by a crash is removed.
 *
 * Errors of `save()` are thrown (the caller decides how to report them);
 * `load()` never throws.
 */
export class StateFile<T> {
  readonly path: string;
  private readonly tmp: string;
  private dirReady = false;
  private lastSaved: string | undefined;

  constructor(private readonly opts: StateFileOptions<T>) {
    this.path = path.join(opts.dir, opts.name);
    this.tmp = `${this.path}.tmp`;
  }

  async load(): Promise<T | undefined> {
    const { log, context } = this.opts;
    await fsp.rm(this.tmp, { force: true }).catch(() => undefined);
    let text: string;
    try {
      text = await fsp.readFile(this.path, 'utf8');
    } catch (err) {
      // ENOTDIR: a path component is a file; save() will report it
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return undefined;
      log.error('source state file could not be read; starting without it', { ...context, file: this.path, error: message(err) });
      return undefined;
    }
    let data: unknown;
    let reason: string;
    try {
      data = JSON.parse(text);
      const checked = this.opts.check(data);
      if (checked.ok) {
        this.lastSaved = serialise(checked.value);
        return checked.value;
      }
      reason = checked.reason;
    } catch (err) {
      reason = `not JSON: ${message(err)}`;
    }
    await this.quarantine(reason);
    return undefined;
  }

  /** Atomically replaces the file with `value` (unless it is what was saved last); true when it wrote. */
  async save(value: T): Promise<boolean> {
    const text = serialise(value);
    if (text === this.lastSaved) return false;
    await this.ensureDir();
    const fh = await fsp.open(this.tmp, 'w');
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(this.tmp, this.path);
    await fsyncDir(this.opts.dir);
    this.lastSaved = text;
    return true;
  }

  private async quarantine(reason: string): Promise<void> {
    const { log, context } = this.opts;
    const bad = `${this.path}.bad`;
    try {
      await fsp.rename(this.path, bad);
      await fsyncDir(this.opts.dir);
      log.warn('source state file is corrupt: renamed to .bad; starting without it', { ...context, file: this.path, renamedTo: bad, reason });
    } catch (err) {
      log.warn('source state file is corrupt and could not be renamed; starting without it', { ...context, file: this.path, reason, error: message(err) });
    }
  }

  /** mkdir -p, then fsync each directory whose entry list gained a new directory, so the new names survive a power cut. */
  private async ensureDir(): Promise<void> {
    if (this.dirReady) return;
    const dir = path.resolve(this.opts.dir);
    const firstCreated = await fsp.mkdir(dir, { recursive: true });
    if (firstCreated !== undefined) {
      for (let d = dir; ; d = path.dirname(d)) {
        await fsyncDir(path.dirname(d));
        if (d === path.resolve(firstCreated) || path.dirname(d) === d) break;
      }
    }
    this.dirReady = true;
  }
}

function serialise(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A rename is durable only once its directory is. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
