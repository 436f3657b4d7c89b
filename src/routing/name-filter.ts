import type { Reloadable } from './reloader';
import fs from 'node:fs';
import { compilePythonRegex } from '../common/python/regex';
import type { Logger } from '../telemetry/logger';

/** A list of case-sensitive regexes searched anywhere in the name (carbon's regexlist.py). */
export class RegexList {
  constructor(readonly patterns: readonly RegExp[]) {}

  test(name: string): boolean {
    for (const p of this.patterns) if (p.test(name)) return true;
    return false;
  }
}

/**
 * A whitelist/blacklist file in carbon's format: one regex per line, lines
 * starting with '#' and blank lines skipped, a bad regex logged and skipped, a
 * missing file meaning an empty list. Re-read only when its mtime advances.
 */
export class RegexListFile {
  private lastMtimeMs = 0;
  list = new RegexList([]);

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {}

  /** Re-read if changed; returns true when the list changed. */
  refresh(): boolean {
    let mtimeMs: number;
    try {
      mtimeMs = fs.statSync(this.path).mtimeMs;
    } catch {
      const had = this.list.patterns.length > 0;
      this.list = new RegexList([]);
      return had;
    }
    if (mtimeMs <= this.lastMtimeMs) return false;
    const patterns: RegExp[] = [];
    let text: string;
    try {
      text = fs.readFileSync(this.path, 'utf8');
    } catch (err) {
      this.log.error('cannot read filter file', { file: this.path, error: (err as Error).message });
      return false;
    }
    text.split('\n').forEach((line, i) => {
      const pattern = line.trim();
      if (line.startsWith('#') || pattern === '') return;
      try {
        patterns.push(compilePythonRegex(pattern, { ignoreCase: false }));
      } catch (err) {
        this.log.error('ignoring invalid regex in filter file', { file: this.path, line: i + 1, error: (err as Error).message });
      }
    });
    this.list = new RegexList(patterns);
    this.lastMtimeMs = mtimeMs;
    return true;
  }
}

export const enum FilterVerdict {
  Pass = 0,
  Blacklisted = 1,
  NotWhitelisted = 2,
}

export interface NameFilterOptions {
  allow: readonly RegExp[];
  block: readonly RegExp[];
  allowFile?: string;
  blockFile?: string;
}

/**
 * carbon's USE_WHITELIST: the blacklist is checked first; then, if the
 * whitelist is non-empty, names it does not match are rejected. Static lists
 * from YAML and carbon-format files are combined.
 */
export class NameFilter implements Reloadable {
  private allow: RegexList;
  private block: RegexList;
  private readonly allowFile: RegexListFile | undefined;
  private readonly blockFile: RegexListFile | undefined;

  constructor(
    private readonly opts: NameFilterOptions,
    log: Logger,
  ) {
    this.allowFile = opts.allowFile !== undefined ? new RegexListFile(opts.allowFile, log) : undefined;
    this.blockFile = opts.blockFile !== undefined ? new RegexListFile(opts.blockFile, log) : undefined;
    this.allow = new RegexList(opts.allow);
    this.block = new RegexList(opts.block);
    this.refresh();
  }

  get isActive(): boolean {
    return this.allow.patterns.length > 0 || this.block.patterns.length > 0 || this.allowFile !== undefined || this.blockFile !== undefined;
  }

  verdict(name: string): FilterVerdict {
    if (this.block.test(name)) return FilterVerdict.Blacklisted;
    if (this.allow.patterns.length > 0 && !this.allow.test(name)) return FilterVerdict.NotWhitelisted;
    return FilterVerdict.Pass;
  }

  /** Re-read changed files; returns true when any list changed (routing decisions must then be recomputed). */
  refresh(): boolean {
    const a = this.allowFile?.refresh() ?? false;
    const b = this.blockFile?.refresh() ?? false;
    if (a) this.allow = new RegexList([...this.opts.allow, ...(this.allowFile as RegexListFile).list.patterns]);
    if (b) this.block = new RegexList([...this.opts.block, ...(this.blockFile as RegexListFile).list.patterns]);
    return a || b;
  }
}
