import type { Logger } from '../telemetry/logger';

interface Entry {
  test: string;
  field: string;
  problem: string;
  count: number;
}

/**
 * Bad items in one poll are counted, then logged once per (test, field,
 * problem) with how many there were, never once per datapoint. At most `max`
 * lines per flush; the rest are summed in one more line.
 */
export class ProblemLog {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly max = 20) {}

  add(test: string, field: string, problem: string): void {
    const key = `${test}\n${field}\n${problem}`;
    const e = this.entries.get(key);
    if (e !== undefined) e.count++;
    else this.entries.set(key, { test, field, problem, count: 1 });
  }

  get size(): number {
    return this.entries.size;
  }

  flush(log: Logger, message: string, meta: Record<string, unknown>): void {
    let listed = 0;
    let omitted = 0;
    let omittedCount = 0;
    for (const e of this.entries.values()) {
      if (listed < this.max) {
        log.warn(message, { ...meta, test: e.test, field: e.field, problem: e.problem, count: e.count });
        listed++;
      } else {
        omitted++;
        omittedCount += e.count;
      }
    }
    if (omitted > 0) log.warn(`${message} (further problems not listed)`, { ...meta, problems: omitted, count: omittedCount });
    this.entries.clear();
  }
}
