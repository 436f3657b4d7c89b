import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { IngestCounters } from '../../telemetry/counters';
import { HttpError } from './http-error';

interface Bucket {
  tokens: number;
  at: number;
}

/** Clients tracked at once; the least recently seen are forgotten first, so memory stays bounded. */
const MAX_CLIENTS = 10_000;

/** A token bucket per client address: `requestsPerSecond` sustained, `burst` at once; 429 beyond. */
export class ClientRateLimit {
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;

  constructor(
    private readonly requestsPerSecond: number,
    burst: number | undefined,
    private readonly deps: { counters: IngestCounters; now: () => number },
  ) {
    this.burst = burst ?? Math.max(1, Math.ceil(requestsPerSecond));
  }

  /** Takes a token for `client`; returns seconds to wait when there is none. */
  take(client: string): number {
    const now = this.deps.now();
    let b = this.buckets.get(client);
    if (b === undefined) {
      if (this.buckets.size >= MAX_CLIENTS) this.buckets.delete(this.buckets.keys().next().value as string);
      b = { tokens: this.burst, at: now };
    } else {
      this.buckets.delete(client);
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.requestsPerSecond);
      b.at = now;
    }
    // re-inserted: Map order is then least recently seen first
    this.buckets.set(client, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.requestsPerSecond;
  }

  middleware(): RequestHandler {
    return (req: Request, _res: Response, next: NextFunction) => {
      const wait = this.take(req.ip ?? 'unknown');
      if (wait > 0) {
        this.deps.counters.httpRateLimited++;
        throw new HttpError(429, 'too many requests from this client; slow down', { headers: { 'Retry-After': String(Math.ceil(wait)) } });
      }
      next();
    };
  }
}
