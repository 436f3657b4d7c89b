import type { Timers } from '../../common/timers';
import type { DestinationConfig } from '../../config/schema';
import { NamePrefix } from '../../codec/name-prefix';
import { Destination, type PressureListener } from '../destination';
import { DatapointQueue, type DestinationQueue } from '../queue';
import type { Encoder } from '../../codec/encoder';
import type { Transport } from '../transport/transport';
import type { Logger } from '../../telemetry/logger';

/** What every destination kind's factory is given besides its config. */
export interface DestinationKindDeps {
  log: Logger;
  pressure?: PressureListener;
  /** The relay's data directory (spools live below it); undefined: nothing is kept across restarts. */
  dataDir?: string;
  /** Epoch milliseconds. */
  now?: () => number;
  /** What maxRate waits with (default: real timers). */
  timers?: Timers;
}

/** The name prefix a destination's apiKey stands for (`KEY.`), applied as its apiKeyMode says. */
export function apiKeyPrefix(d: DestinationConfig): NamePrefix {
  return d.apiKey === undefined ? NamePrefix.NONE : new NamePrefix(d.apiKey.endsWith('.') ? d.apiKey : d.apiKey + '.', d.apiKeyMode);
}

/** A destination from the keys every kind shares, around the kind's own transport and encoder. */
export function assembleDestination(
  d: DestinationConfig,
  parts: { transport: Transport; encoder: Encoder; queue?: DestinationQueue },
  deps: DestinationKindDeps,
): Destination {
  return new Destination(
    {
      name: d.name,
      metricName: d.metricName ?? d.name.replace(/\./g, '_'),
      maxDatapointsPerMessage: d.maxDatapointsPerMessage,
      highWaterMark: waterMarks(d).high,
      lowWaterMark: waterMarks(d).low,
      stallTimeoutMs: d.stallTimeout,
      maxRate: d.maxRate,
      flushMaxWaitMs: d.flushMaxWait,
      backoff: { initialMs: d.reconnect.initialDelay, maxMs: d.reconnect.maxDelay, factor: 2, jitter: 0.2 },
    },
    { queue: parts.queue ?? new DatapointQueue(d.maxQueueSize), transport: parts.transport, encoder: parts.encoder, log: deps.log, pressure: deps.pressure, now: deps.now, timers: deps.timers },
  );
}

/** The water marks of a destination in datapoints (fractions of maxQueueSize in the config). */
export function waterMarks(d: DestinationConfig): { high: number; low: number } {
  return { high: Math.max(1, Math.floor(d.maxQueueSize * d.highWaterMark)), low: Math.floor(d.maxQueueSize * d.lowWaterMark) };
}
