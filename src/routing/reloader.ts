import { cleanStop, type Component, type StopReport } from '../model/component';

/** Routing input backed by a file that carbon re-reads when it changes (white/blacklists, aggregation rules). */
export interface Reloadable {
  /** Re-read what changed; true when routing decisions may now differ. */
  refresh(): boolean;
}

/** carbon polls its filter and aggregation files every 10 s. */
export const CARBON_RELOAD_INTERVAL_MS = 10_000;

/** Polls routing files and reports a change once per round, so cached routes are dropped once. */
export class Reloader implements Component {
  readonly name = 'file-reloader';
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly items: readonly Reloadable[],
    private readonly intervalMs: number,
    private readonly onChange: () => void,
  ) {}

  /** One polling round; returns whether anything changed. */
  poll(): boolean {
    let changed = false;
    // every item is refreshed, even after one reported a change
    for (const item of this.items) changed = item.refresh() || changed;
    if (changed) this.onChange();
    return changed;
  }

  async start(): Promise<void> {
    if (this.items.length === 0 || this.timer !== null) return;
    this.timer = setInterval(() => this.poll(), this.intervalMs);
    this.timer.unref();
  }

  async stop(_deadline: number): Promise<StopReport> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    return cleanStop(this.name);
  }
}
