import { z } from 'zod';
import { duration, port, tlsClient } from './schema-types';

/**
 * Destination kinds, chosen by `type`. Each kind is a schema slice here and a
 * factory in src/output/kinds/ (registered in its index.ts). A destination
 * written without `type` is `file` when it has `file:`, else `carbon`, so
 * every config from before kinds existed keeps working.
 */

/** The name every kind has. */
const name =
  // brackets for IPv6 entries written as in carbon's DESTINATIONS ([::1]:2004:a)
  z.string().regex(/^[A-Za-z0-9_.:[\]-]+$/, 'use letters, digits, and _ . : - [ ]');

/** Keys every kind has, in two parts so each kind lists its own keys where they read best. */
const naming = {
  /** The `<d>` in self-metrics `destinations.<d>.sent` etc. Default: the name with dots as underscores. */
  metricName: z.string().regex(/^[^.\s]+$/, 'no dots or whitespace').optional(),
  /** Prefixed to every name sent here (`KEY.my.metric`), as Hosted Graphite requires. */
  apiKey: z.string().min(1).optional(),
};

/** The queue, flow control and reconnect. */
const delivery = {
  maxQueueSize: z.number().int().positive().default(100_000),
  maxDatapointsPerMessage: z.number().int().min(1).max(100_000).default(500),
  /** Fractions of maxQueueSize: above high, a connected destination pauses TCP receivers; below low, they resume. */
  highWaterMark: z.number().gt(0).lte(1).default(0.5),
  lowWaterMark: z.number().gte(0).lt(1).default(0.25),
  /** A connected destination that holds receivers paused this long without draining is treated as down (0 = never). */
  stallTimeout: duration.default(30_000),
  reconnect: z
    .strictObject({
      /** At least 10 ms: a zero delay would make a down destination a busy reconnect loop. */
      initialDelay: duration.pipe(z.number().min(10, 'must be at least 10ms')).default(200),
      maxDelay: duration.default(5000),
    })
    .default({ initialDelay: 200, maxDelay: 5000 }),
};

/** A Carbon receiver over TCP or TLS: carbon-cache, carbon-relay, Hosted Graphite. */
export const carbonDestinationSchema = z.strictObject({
  type: z.literal('carbon'),
  name,
  host: z.string().min(1),
  port,
  ...naming,
  /** carbon's DESTINATIONS instance (`host:port:instance`): part of the hash-ring key in groups. */
  instance: z.string().min(1).optional(),
  protocol: z.enum(['pickle', 'line']).default('pickle'),
  tls: tlsClient.default(false),
  connectTimeout: duration.default(10_000),
  ...delivery,
});

/** Plaintext lines appended to a file, or written to stdout for `-`. */
export const fileDestinationSchema = z.strictObject({
  type: z.literal('file'),
  name,
  ...naming,
  file: z.string().min(1),
  protocol: z.literal('line', 'file destinations write plaintext lines').optional(),
  ...delivery,
});

const kinds = z.discriminatedUnion('type', [carbonDestinationSchema, fileDestinationSchema]);

/** The kind a destination written without `type` had before kinds existed. */
function withKind(d: unknown): unknown {
  if (typeof d !== 'object' || d === null || Array.isArray(d) || 'type' in d) return d;
  return { type: 'file' in d ? 'file' : 'carbon', ...d };
}

/** What may be written: either kind, `type` optional. */
export type DestinationInput =
  | (Omit<z.input<typeof carbonDestinationSchema>, 'type'> & { type?: 'carbon' })
  | (Omit<z.input<typeof fileDestinationSchema>, 'type'> & { type?: 'file' });

// preprocess types its input as unknown; the cast restores what may be written
export const destinationSchema = z
  .preprocess(withKind, kinds)
  .superRefine((d, ctx) => {
    if (d.lowWaterMark >= d.highWaterMark) ctx.addIssue({ code: 'custom', path: ['lowWaterMark'], message: 'must be below highWaterMark' });
  }) as unknown as z.ZodType<z.output<typeof kinds>, DestinationInput>;

/** The `name` rule alone (carbon.conf conversion names destinations by it when it can). */
export const destinationName = name;

export type DestinationConfig = z.infer<typeof destinationSchema>;
export type CarbonDestinationConfig = z.infer<typeof carbonDestinationSchema>;
export type FileDestinationConfig = z.infer<typeof fileDestinationSchema>;
export type DestinationKind = DestinationConfig['type'];
