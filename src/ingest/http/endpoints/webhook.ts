import crypto from 'node:crypto';
import type { Request } from 'express';
import { clientAddress } from '../client-address';
import { HttpError, HttpErrorCode } from '../http-error';
import type { HttpIngest } from '../http-ingest';

/** What the webhook groups (github.ts, pagerduty.ts) share: name sanitising, signatures, time and body parsing. */

/**
 * Characters that would split or corrupt a carbon line (whitespace, C0/C1
 * controls, Unicode spaces): a superset of what isValidMetricName refuses,
 * so a sanitised component always passes it. Webhook fields are free text
 * chosen by third parties; refusing the whole delivery over one would only
 * make GitHub or PagerDuty mark it failed, so they are replaced instead.
 */
const LINE_UNSAFE = /[\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+/g;

/** One name component made safe for the line protocol: unsafe runs become `_`; an empty component becomes `_` so the name keeps its levels. */
export function lineSafe(s: string): string {
  const out = s.replace(LINE_UNSAFE, '_');
  return out === '' ? '_' : out;
}

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/**
 * Unix seconds (floored, as Ruby's `strftime('%s')` in Backstop) of an ISO 8601
 * date-time with a zone: `2008-02-15T14:57:17-08:00`, `2012-05-24T23:11:37Z`,
 * `2020-10-02T18:45:22.169Z`. Anything else, including a time without a zone
 * (whose meaning would depend on this host's TZ), is undefined.
 */
export function isoSeconds(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = ISO_8601.exec(v.trim());
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(utc);
  // Date.UTC rolls 2021-02-30 over to March: a field out of range is a malformed date, not another one
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetMin = 0;
  if (m[8] === undefined) {
    const [oh, om] = [Number(m[10]), Number(m[11])];
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return Math.floor(utc / 1000) - offsetMin * 60;
}

const SHA256_HEX = /^[0-9a-f]{64}$/i;

/**
 * Whether any presented hex digest equals HMAC-SHA256(secret, body). Each
 * comparison is constant-time over equal-length 32-byte digests, and every
 * candidate is compared (no early exit), so timing reveals neither the digest
 * nor which candidate matched. Malformed candidates never match.
 */
export function hmacSha256MatchesAny(secret: string, body: Buffer, presentedHex: readonly string[]): boolean {
  const expected = crypto.createHmac('sha256', secret).update(body).digest();
  let found = false;
  for (const hex of presentedHex) {
    if (!SHA256_HEX.test(hex)) continue;
    found = crypto.timingSafeEqual(expected, Buffer.from(hex, 'hex')) || found;
  }
  return found;
}

/**
 * Refuses a webhook whose signature does not verify: counted with the other
 * credential failures, logged rate-limited with the peer and what was wrong,
 * never with the secret, the presented signature or the body.
 */
export function signatureRejected(ingest: HttpIngest, req: Request, problem: string): HttpError {
  const peer = clientAddress(req);
  ingest.deps.counters.httpUnauthorized++;
  ingest.deps.limited.warn(`http:${peer}:bad-signature:${req.path}`, 'webhook signature rejected', { peer, path: req.path, problem });
  return new HttpError(401, HttpErrorCode.BAD_SIGNATURE, `unauthorized: ${problem}`);
}


/** JSON.parse with a 400 naming the problem; V8's message quotes the start of the text, so it is cut short. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new HttpError(400, HttpErrorCode.MALFORMED_BODY, `JSON is required: ${what} is not valid JSON (${why.length > 160 ? `${why.slice(0, 160)}...` : why})`);
  }
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
