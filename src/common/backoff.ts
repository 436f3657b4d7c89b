export interface BackoffOptions {
  /** First retry delay, ms. */
  initialMs: number;
  /** Cap on the delay before jitter, ms. */
  maxMs: number;
  /** Growth per consecutive failure. */
  factor: number;
  /** Relative jitter, e.g. 0.2 = +/-20 %, so a fleet of relays does not reconnect in lockstep. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 5000, factor: 2, jitter: 0.2 };

/** Exponential reconnect delay with jitter; reset on every successful connect. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    // Capping the exponent keeps factor ** attempt finite (0 * Infinity would be NaN).
    const base = Math.min(this.opts.maxMs, this.opts.initialMs * this.opts.factor ** Math.min(this.attempt, 64));
    this.attempt++;
    const spread = base * this.opts.jitter;
    return Math.max(0, Math.round(base - spread + 2 * spread * this.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}
