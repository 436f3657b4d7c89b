import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { IngestCounters } from '../../telemetry/counters';
import { BoundedLru } from '../../common/bounded-lru';
import { clientAddress } from './client-address';
import { HttpError, HttpErrorCode } from './http-error';

interface Bucket {
  tokens: number;
  at: number;
}

/** Clients tracked at once; the least recently seen are forgotten first, so memory stays bounded. */
const MAX_CLIENTS = 10_000;

/** A token bucket per client address: `requestsPerSecond` sustained, `burst` at once; 429 beyond. */
export class ClientRateLimit {
  private readonly buckets = new BoundedLru<string, Bucket>(MAX_CLIENTS);
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
      b = { tokens: this.burst, at: now };
      this.buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.requestsPerSecond);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.requestsPerSecond;
  }

  /** Takes a token for `client`, or throws 429 with Retry-After (counted) when there is none. */
  admit(client: string): void {
    const wait = this.take(client);
    if (wait > 0) {
      this.deps.counters.httpRateLimited++;
      throw new HttpError(429, HttpErrorCode.RATE_LIMITED, 'too many requests from this client; slow down', { headers: { 'Retry-After': String(Math.ceil(wait)) } });
    }
  }

  middleware(): RequestHandler {
    return (req: Request, _res: Response, next: NextFunction) => {
      this.admit(clientAddress(req));
      next();
    };
  }
}
