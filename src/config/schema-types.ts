import { z } from 'zod';

/** Value types the config schemas share. */

/** A duration: a number of seconds, or a string like `250ms`, `10s`, `2m`. Parsed to milliseconds. */
export const duration = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?(ms|s|m)$/, 'expected a duration like 250ms, 10s or 2m')])
  .transform((v) => {
    if (typeof v === 'number') return Math.round(v * 1000);
    const n = parseFloat(v);
    if (v.endsWith('ms')) return Math.round(n);
    if (v.endsWith('m')) return Math.round(n * 60_000);
    return Math.round(n * 1000);
  });

export const port = z.number().int().min(0).max(65535);

export const listenAddress = z.strictObject({
  host: z.string().min(1).default('0.0.0.0'),
  port,
});

export const tlsListen = z.strictObject({
  host: z.string().min(1).default('0.0.0.0'),
  port,
  /** PEM files. */
  cert: z.string().min(1),
  key: z.string().min(1),
});

export const tlsClient = z.union([
  z.boolean(),
  z.strictObject({
    ca: z.string().min(1).optional(),
    servername: z.string().min(1).optional(),
    rejectUnauthorized: z.boolean().default(true),
  }),
]);
