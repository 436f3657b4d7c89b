import type { SourceTimers } from '../../src/sources/source';

interface Timer {
  at: number;
  ms: number;
  fn: () => void;
}

/**
 * A clock and timers that move only when a test says so. Sources take `now`
 * and these timers, so poll windows and retry waits never depend on real time.
 */
export class FakeClock implements SourceTimers {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();
  /** Delays (ms) of the timers fired so far, in order. */
  readonly fired: number[] = [];

  constructor(start: number) {
    this.t = start;
  }

  readonly now = (): number => this.t;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Delays of the pending timers, as they were scheduled. */
  get pending(): number[] {
    return [...this.timers.values()].map((t) => t.ms);
  }

  /** Move time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const target = this.t + ms;
    for (;;) {
      const next = this.earliest();
      if (next === undefined || next[1].at > target) break;
      this.fire(next);
    }
    this.t = target;
  }

  /** Fire the earliest pending timer, moving time to it. False if none. */
  fireNext(): boolean {
    const next = this.earliest();
    if (next === undefined) return false;
    this.fire(next);
    return true;
  }

  private earliest(): [number, Timer] | undefined {
    let best: [number, Timer] | undefined;
    for (const e of this.timers) if (best === undefined || e[1].at < best[1].at) best = e;
    return best;
  }

  private fire([id, timer]: [number, Timer]): void {
    this.timers.delete(id);
    this.t = Math.max(this.t, timer.at);
    this.fired.push(timer.ms);
    timer.fn();
  }
}

/**
 * Await a poll while firing the fake timers it waits on (retry backoff): during a poll
 * the only pending fake timers are its retry waits (the next poll is scheduled after it ends).
 */
export async function drive<T>(p: Promise<T>, clock: FakeClock): Promise<T> {
  let done = false;
  const settled = p.finally(() => (done = true));
  while (!done) {
    clock.fireNext();
    await new Promise((r) => setTimeout(r, 2));
  }
  return settled;
}
