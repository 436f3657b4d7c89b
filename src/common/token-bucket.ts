/**
 * A token bucket on an injected clock: `rate` tokens a second, at most
 * `capacity` saved up. Tokens are refilled from the time elapsed whenever the
 * bucket is read, so it needs no timer of its own.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly rate: number,
    readonly capacity: number,
    private readonly now: () => number,
  ) {
    this.tokens = capacity;
    this.at = now();
  }

  /** Whole tokens there are now. */
  available(): number {
    this.refill();
    // a hair of slack: n * (1000 / rate) ms later, float rounding must not leave n - 1e-12 tokens
    return Math.floor(this.tokens + 1e-9);
  }

  take(n: number): void {
    this.refill();
    this.tokens -= n;
  }

  /** Milliseconds until `n` tokens (at most capacity) are there; 0 if they are now. */
  msUntil(n: number): number {
    this.refill();
    const missing = Math.min(n, this.capacity) - this.tokens;
    return missing <= 1e-9 ? 0 : Math.ceil((missing * 1000) / this.rate);
  }

  private refill(): void {
    const t = this.now();
    if (t > this.at) this.tokens = Math.min(this.capacity, this.tokens + ((t - this.at) / 1000) * this.rate);
    this.at = t;
  }
}
