import type { ServerResponse } from 'node:http';
import type { HttpConfig } from '../../../config/schema';
import { MetricBatch } from '../../../model/metric';
import { sendText } from '../answers';
import type { EndpointContext, EndpointGroup, UrlRequest } from '../endpoint-group';
import { BoundedLru } from '../../../common/bounded-lru';
import { sendBeacon } from './gif';
import { HttpError, HttpErrorCode, quoted } from '../http-error';
import type { HttpIngest } from '../http-ingest';
import { numberFrom, type RequestMetrics } from '../request-metrics';
import { assertQueryEncoding } from '../url-encoding';

/**
 * ggtd's carbon-http-srv endpoints, for clients that cannot open a TCP
 * socket: /feed sends one datapoint now, /imp adds to a counter flushed every
 * interval, /tdiff sends the seconds since the event's previous call.
 * `?output=img` answers with a 1x1 GIF so a page can fire them from <img>.
 *
 * Differences from ggtd: /imp adds its <value> (ggtd always adds 1); idle
 * counters send 0 for `idleFlushes` intervals and are then forgotten (ggtd
 * sends 0 forever and never forgets); both maps are bounded. Unknown query
 * parameters are ignored rather than a 404. Values must be finite (the batch
 * endpoints pass inf on as carbon does): one chosen by a page or a person is a
 * mistake there, and an impulse sum would stay infinite or NaN once it had one.
 *
 * A HEAD answers as the GET would (the same checks, status and headers) but
 * records nothing: no datapoint, no impulse, no event time. GETs and HEADs are
 * served on the fast path in front of Express (fast-path.ts); POSTs by Express.
 */

type FeedConfig = HttpConfig['feed'];

interface Counter {
  sum: number;
  hits: number;
  /** Flushes in a row without a hit. */
  idle: number;
}

/** /imp state: bounded, flushed as one batch per interval. */
export class ImpulseCounters {
  private readonly counters = new Map<string, Counter>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private config: Pick<FeedConfig, 'flushInterval' | 'idleFlushes' | 'maxCounters'>,
    private ingest: HttpIngest,
  ) {}

  /**
   * Reload: keep counting with new settings. Counters already held stay even
   * beyond a smaller maxCounters (they are forgotten as they go idle); the
   * interval restarts only if it changed.
   */
  reconfigure(config: Pick<FeedConfig, 'flushInterval' | 'idleFlushes' | 'maxCounters'>, ingest: HttpIngest): void {
    const restart = this.timer !== null && config.flushInterval !== this.config.flushInterval;
    this.config = config;
    this.ingest = ingest;
    if (restart) {
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      this.start();
    }
  }

  get size(): number {
    return this.counters.size;
  }

  /** Adds `value` to the counter `name`; with `record` false (a HEAD) only checks that it could. */
  add(name: string, value: number, record = true): void {
    let c = this.counters.get(name);
    if (c === undefined) {
      if (this.counters.size >= this.config.maxCounters) {
        throw new HttpError(429, HttpErrorCode.TOO_MANY_COUNTERS, `too many distinct impulse counters (maxCounters ${this.config.maxCounters}); this one is not counted`);
      }
      if (!record) return;
      c = { sum: 0, hits: 0, idle: 0 };
      this.counters.set(name, c);
    }
    if (!record) return;
    c.sum += value;
    c.hits++;
  }

  /**
   * One datapoint per counter hit this interval (its sum), or 0 for a recently
   * idle one; then reset. A sum of finite values that overflowed to infinity
   * has no true value to send: that datapoint is dropped, counted and logged.
   */
  flush(): MetricBatch {
    const batch = new MetricBatch(Math.max(1, this.counters.size));
    const ts = this.ingest.nowSeconds();
    const { counters, limited } = this.ingest.deps;
    for (const [name, c] of this.counters) {
      if (c.hits > 0) {
        if (Number.isFinite(c.sum)) {
          batch.push(name, c.sum, ts);
        } else {
          counters.httpImpulseOverflows++;
          limited.warn('http:imp:overflow', 'impulse counter sum overflowed this interval; its datapoint was dropped', () => ({ name: quoted(name, 200), hits: c.hits }));
        }
        c.sum = 0;
        c.hits = 0;
        c.idle = 0;
        continue;
      }
      c.idle++;
      if (c.idle <= this.config.idleFlushes) batch.push(name, 0, ts);
      if (c.idle >= this.config.idleFlushes) this.counters.delete(name);
    }
    if (batch.length > 0) this.ingest.deps.pipeline.accept(batch, 'http:imp', this.ingest.deps.counters);
    return batch;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.flush(), this.config.flushInterval);
    this.timer.unref();
  }

  /** Stops the timer and sends what was counted since the last flush. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }
}

/** /tdiff state: when each event was last seen, least recently seen first (bounded, with a TTL). */
export class EventTimes {
  private readonly last: BoundedLru<string, number>;

  constructor(private config: Pick<FeedConfig, 'maxEvents' | 'eventTtl'>) {
    this.last = new BoundedLru(config.maxEvents);
  }

  /** Reload: new bounds; the least recently seen events beyond maxEvents are forgotten. */
  reconfigure(config: Pick<FeedConfig, 'maxEvents' | 'eventTtl'>): void {
    this.config = config;
    this.last.resize(config.maxEvents);
  }

  get size(): number {
    return this.last.size;
  }

  /** Records `nowMs` for the event; returns seconds since its previous call, or undefined for a first (or expired) one. */
  mark(event: string, nowMs: number): number | undefined {
    const prev = this.last.get(event);
    this.last.set(event, nowMs);
    if (prev === undefined || nowMs - prev > this.config.eventTtl) return undefined;
    return (nowMs - prev) / 1000;
  }
}

/** Adds the one datapoint of a ggtd request, refusing a value that is not finite (inf, nan, or 1e400 overflowing). */
function addFinite(m: RequestMetrics, name: string, value: string, timestamp?: string): boolean {
  const v = numberFrom(value);
  if (v !== undefined && !Number.isFinite(v)) return m.reject('metric', `value ${quoted(value)} is not a finite number`);
  return m.add('metric', name, value, timestamp);
}

/** A query parameter as one string (the first when repeated). */
function query(req: UrlRequest, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = req.query[n];
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  }
  return undefined;
}

function param(req: UrlRequest, name: string): string | undefined {
  const v = req.params[name];
  return v === undefined || v === '' ? undefined : v;
}

/** What a feed group hands its successor on reload: the live impulse counters and event times, still counting. */
class FeedState {
  constructor(
    readonly impulses: ImpulseCounters,
    readonly events: EventTimes,
  ) {}
}

export function createFeedEndpoints(ctx: EndpointContext): EndpointGroup {
  const { ingest, http } = ctx;
  const config = http.feed;
  let impulses = new ImpulseCounters(config, ingest);
  let events = new EventTimes(config);
  let handedOver = false;
  const cors = http.cors;

  const answer = (req: UrlRequest, res: ServerResponse): void => {
    if (cors !== undefined) {
      const origin = req.headers.origin;
      const allowed = cors === '*' ? '*' : origin !== undefined && cors.includes(origin) ? origin : undefined;
      if (allowed !== undefined) {
        res.setHeader('Access-Control-Allow-Origin', allowed);
        res.setHeader('Vary', 'Origin');
      }
    }
    if (query(req, 'output') === 'img') sendBeacon(res);
    else sendText(req, res, 200, 'ok\n');
  };
  /** A GET records; a HEAD only answers as the GET would. */
  const records = (req: UrlRequest): boolean => req.method !== 'HEAD';
  const metricOf = (req: UrlRequest): string => {
    const name = param(req, 'metric') ?? query(req, 'metric', 'mpath');
    if (name === undefined) throw new HttpError(400, HttpErrorCode.MISSING_PARAMETER, 'metric name missing: use /feed/<metric>/<value>[/<timestamp>] or ?metric=..&value=..');
    return name;
  };

  const feed = (req: UrlRequest, res: ServerResponse): void => {
    assertQueryEncoding(req, ingest.deps.limited);
    ingest.assertAccepting();
    const m = ingest.newRequest();
    const value = param(req, 'value') ?? query(req, 'value', 'mvalue');
    if (value === undefined) throw new HttpError(400, HttpErrorCode.MISSING_PARAMETER, 'value missing: use /feed/<metric>/<value>[/<timestamp>] or ?metric=..&value=..');
    addFinite(m, metricOf(req), value, param(req, 'timestamp') ?? query(req, 'timestamp', 'mts', 'ts'));
    ingest.submitAll(m, `http:${req.client}`, records(req));
    answer(req, res);
  };

  const imp = (req: UrlRequest, res: ServerResponse): void => {
    assertQueryEncoding(req, ingest.deps.limited);
    const name = metricOf(req);
    const valueText = param(req, 'value') ?? query(req, 'value', 'mvalue') ?? '1';
    // validated like a datapoint now, so a bad name or value is a 400 instead of a silent loss at flush time
    const m = ingest.newRequest();
    if (!addFinite(m, name, valueText)) ingest.submitAll(m, '');
    impulses.add(name, m.batch.values[0]!, records(req));
    answer(req, res);
  };

  const tdiff = (req: UrlRequest, res: ServerResponse): void => {
    assertQueryEncoding(req, ingest.deps.limited);
    ingest.assertAccepting();
    const name = param(req, 'metric') ?? query(req, 'event', 'metric', 'mpath');
    if (name === undefined) throw new HttpError(400, HttpErrorCode.MISSING_PARAMETER, 'event name missing: use /tdiff/<event>');
    const nowMs = ingest.deps.now();
    const m = ingest.newRequest();
    // check the name before remembering it
    if (!m.add('event', name, 0)) ingest.submitAll(m, '');
    // a HEAD neither remembers the event nor sends a difference
    const seconds = records(req) ? events.mark(name, nowMs) : undefined;
    if (seconds !== undefined) {
      const send = ingest.newRequest();
      send.add('event', name, seconds, Math.floor(nowMs / 1000));
      ingest.submitAll(send, `http:${req.client}`);
    }
    answer(req, res);
  };

  const all = ['get', 'post'] as const;
  return {
    name: 'feed',
    mount(routes) {
      routes.onUrl(all, { prefix: '/feed' }, feed);
      routes.onUrl(all, { prefix: '/feed', params: ['metric', 'value'], optional: ['timestamp'] }, feed);
      routes.onUrl(all, { prefix: '/imp' }, imp);
      routes.onUrl(all, { prefix: '/imp', params: ['metric'], optional: ['value'] }, imp);
      routes.onUrl(all, { prefix: '/tdiff' }, tdiff);
      routes.onUrl(all, { prefix: '/tdiff', params: ['metric'] }, tdiff);
    },
    start: () => impulses.start(),
    stop: () => {
      // once handed over, the counters are the successor's to flush
      if (!handedOver) impulses.stop();
    },
    handOver: () => {
      handedOver = true;
      return new FeedState(impulses, events);
    },
    takeOver: (state) => {
      if (!(state instanceof FeedState)) return;
      // its own counters are empty (a successor takes over before its first request); only their timer goes
      impulses.stop();
      // the same objects, so a request the old app is still handling counts into them too
      impulses = state.impulses;
      events = state.events;
      impulses.reconfigure(config, ingest);
      events.reconfigure(config);
    },
  };
}
