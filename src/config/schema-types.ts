import { z } from 'zod';

/** Value types the config schemas share. */

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration: a number of seconds, or a string like `250ms`, `10s`, `2m`, `6h`, `7d`. Parsed to milliseconds. */
export const duration = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'expected a duration like 250ms, 10s, 2m, 6h or 7d')])
  .transform((v) => {
    if (typeof v === 'number') return Math.round(v * 1000);
    const unit = /[a-z]+$/.exec(v)?.[0] ?? 's';
    return Math.round(parseFloat(v) * (DURATION_UNITS_MS[unit] ?? 1000));
  });

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** A size in bytes: a number, or a string like `64MiB`, `1GiB`. */
export const byteSize = z
  .union([z.number().int().nonnegative(), z.string().regex(/^\d+(\.\d+)?\s*(B|KiB|MiB|GiB|TiB)$/, 'expected a size like 512KiB, 64MiB or 1GiB')])
  .transform((v) => {
    if (typeof v === 'number') return v;
    const unit = /[A-Za-z]*$/.exec(v)?.[0] ?? '';
    return Math.round(parseFloat(v) * (SIZE_UNITS[unit] ?? 1));
  });

export const port = z.number().int().min(0).max(65535);

export const listenAddress = z.strictObject({
  host: z.string().min(1).default('0.0.0.0'),
  port,
});

/** Overrides listen.maxConnectionsPerClient for one TCP/TLS listener (0 = no limit). */
const perListenerClientLimit = z.number().int().min(0).optional();

/** A TCP listener's address, and its own limits. */
export const tcpListen = listenAddress.extend({ maxConnectionsPerClient: perListenerClientLimit });

/** A certificate and its key (PEM files): set both or neither. */
const certAndKey = (t: { cert?: string; key?: string }): boolean => (t.cert === undefined) === (t.key === undefined);

const tlsListenFields = z.strictObject({
    host: z.string().min(1).default('0.0.0.0'),
    port,
    /** PEM files. */
    cert: z.string().min(1),
    key: z.string().min(1),
    /** Client certificates: a CA file (PEM, may hold several) and/or a CA directory (stunnel's CApath) that signs them. */
    clientCa: z.string().min(1).optional(),
    clientCaPath: z.string().min(1).optional(),
    /** With a client CA: refuse clients without a certificate (default true); a certificate the CA did not sign is always refused. */
    requireClientCert: z.boolean().optional(),
    maxConnectionsPerClient: perListenerClientLimit,
});

const clientCaNamed = (t: { requireClientCert?: boolean; clientCa?: string; clientCaPath?: string }): boolean =>
  t.requireClientCert !== true || t.clientCa !== undefined || t.clientCaPath !== undefined;
const clientCaMissing = { path: ['requireClientCert'], message: 'needs clientCa or clientCaPath (the CA that signs client certificates)' };

export const tlsListen = tlsListenFields.refine(clientCaNamed, clientCaMissing);

/**
 * A plaintext listener's own key: a `name value` line without a timestamp means
 * "now" (Hosted Graphite's documented examples send those). Carbon requires
 * three fields; carbon.conf mode sets it false.
 */
const timestampOptional = { timestampOptional: z.boolean().default(true) };
export const lineListenAddress = listenAddress.extend(timestampOptional);
export const lineTcpListen = tcpListen.extend(timestampOptional);
export const lineTlsListen = tlsListenFields.extend(timestampOptional).refine(clientCaNamed, clientCaMissing);

export const tlsClient = z.union([
  z.boolean(),
  z
    .strictObject({
      ca: z.string().min(1).optional(),
      /** A directory of CA certificates (stunnel's CApath), besides or instead of `ca`. */
      caPath: z.string().min(1).optional(),
      /** A client certificate and its key (PEM files), for peers that require one. */
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
      servername: z.string().min(1).optional(),
      rejectUnauthorized: z.boolean().default(true),
    })
    .refine(certAndKey, { message: 'set both cert and key for a client certificate, or neither' }),
]);

/** Kafka bootstrap brokers, `host:port`. */
export const kafkaBrokers = z.array(z.string().regex(/^\S+:\d+$/, 'host:port')).min(1);

export const kafkaTopic = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'Kafka topic names are 1 to 249 of A-Z a-z 0-9 . _ -');

/** TLS to the brokers: true (public roots, verified), or PEM files. */
export const kafkaTls = z
  .union([
    z.boolean(),
    z
      .strictObject({
        ca: z.string().min(1).optional(),
        /** A directory of CA certificates, besides or instead of `ca`. */
        caPath: z.string().min(1).optional(),
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .refine(certAndKey, { message: 'set both cert and key for a client certificate, or neither' }),
  ])
  .default(false);

export const kafkaSasl = z.strictObject({ mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']), username: z.string().min(1), password: z.string().min(1) }).optional();

/** Further librdkafka properties, except `fixed`: the ones the relay sets itself for its guarantees. */
export function kafkaProperties(fixed: readonly string[]) {
  const set = new Set(fixed);
  return z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .superRefine((props, ctx) => {
      for (const k of Object.keys(props)) if (set.has(k)) ctx.addIssue({ code: 'custom', path: [k], message: 'set by the relay (delivery guarantees, partitioning); not configurable here' });
    })
    .default({});
}
