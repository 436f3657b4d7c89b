import crypto from 'node:crypto';
import type { Request, Response } from 'express';
import { bodyText, readBody } from './body';
import type { EndpointContext, EndpointGroup } from './endpoint-group';
import { HttpError } from './http-error';
import type { HttpIngest } from './http-ingest';

/*
 * Helpers shared by the two webhook groups (github.ts, pagerduty.ts). They
 * live here rather than in a file of their own only because the groups were
 * written alongside other endpoint files; move them if a third webhook comes.
 */

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
  const peer = req.ip ?? req.socket.remoteAddress ?? 'unknown';
  ingest.deps.counters.httpUnauthorized++;
  ingest.deps.limited.warn(`http:${peer}:bad-signature:${req.path}`, 'webhook signature rejected', { peer, path: req.path, problem });
  return new HttpError(401, `unauthorized: ${problem}`);
}

/** The media type of the request, lower-cased, without parameters (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(req: Request): string {
  return (req.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** JSON.parse with a 400 naming the problem; V8's message quotes the start of the text, so it is cut short. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new HttpError(400, `JSON is required: ${what} is not valid JSON (${why.length > 160 ? `${why.slice(0, 160)}...` : why})`);
  }
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A header value quoted for an answer: bounded, so a client cannot make us echo kilobytes. */
export const quoted = (s: string): string => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s);

/**
 * GitHub push webhooks at `POST /github`, named as Backstop does:
 * `github.<repository.name>.<ref, / as .>.<author email, . and @ as ->.<commit id> 1 <commit timestamp>`
 * for each commit. Every component additionally has whitespace and control
 * characters replaced by `_` (Backstop passed them through and broke the line).
 *
 * Policies (differences from Backstop):
 * - The body is `application/json` or form-encoded with the JSON in `payload`
 *   (Backstop took only the form); a form-typed body that is itself JSON
 *   (`curl -d @push.json`) is read as JSON.
 * - With `secret` configured, `X-Hub-Signature-256` is required on every
 *   delivery, ping included, and checked over the raw body before anything
 *   is parsed: missing or wrong → 401. Without a secret, signatures are not
 *   checked (the group's Basic auth / allow-list still apply).
 * - `X-GitHub-Event: ping` → 200 `pong`, nothing sent. Other non-push events
 *   → 200 with a body saying they were ignored: they are valid deliveries, and
 *   a 4xx would show the hook as failing in GitHub. No `X-GitHub-Event` header
 *   is taken as a push (Backstop never looked at it; curl tests do not send it).
 * - Whole-request: a push whose fields are missing, or any of whose commits
 *   lacks an id, author email or ISO 8601 timestamp, is answered 400 naming
 *   each problem and nothing is sent, so a redelivery after a fix cannot
 *   duplicate commits. A push without commits (a tag or branch deletion) is 200.
 */
export function createGithubEndpoints(ctx: EndpointContext): EndpointGroup {
  const { ingest, http } = ctx;
  const { secret } = http.github;
  const limits = { maxBodySize: http.maxBodySize, maxDecompressedSize: http.maxDecompressedSize };

  /**
   * GitHub signs the body it sends; readBody has undone any Content-Encoding
   * (GitHub sends none), so these are the bytes as GitHub hashed them.
   */
  const verify = (req: Request, raw: Buffer, key: string): void => {
    const header = req.get('x-hub-signature-256');
    if (header === undefined || header === '') {
      throw signatureRejected(ingest, req, req.get('x-hub-signature') === undefined ? 'X-Hub-Signature-256 is required' : 'X-Hub-Signature-256 is required (the SHA-1 X-Hub-Signature is not accepted)');
    }
    const trimmed = header.trim();
    if (!trimmed.toLowerCase().startsWith('sha256=')) throw signatureRejected(ingest, req, 'X-Hub-Signature-256 must be "sha256=<hex digest>"');
    if (!hmacSha256MatchesAny(key, raw, [trimmed.slice('sha256='.length)])) throw signatureRejected(ingest, req, 'X-Hub-Signature-256 does not match the body');
  };

  const payloadOf = (req: Request, raw: Buffer): unknown => {
    const text = bodyText(raw);
    if (mediaType(req) === 'application/json' || text.trimStart().startsWith('{')) return parseJson(text, 'the body');
    const payload = new URLSearchParams(text).get('payload');
    if (payload === null) throw new HttpError(400, 'JSON is required: no "payload" form field (send application/json, or form-encoded with the JSON in "payload")');
    return parseJson(payload, 'the "payload" form field');
  };

  const github = async (req: Request, res: Response): Promise<void> => {
    ingest.assertAccepting();
    const raw = await readBody(req, limits);
    if (secret !== undefined) verify(req, raw, secret);

    const event = req.get('x-github-event')?.trim();
    if (event === 'ping') {
      res.status(200).type('text/plain').send('pong');
      return;
    }
    if (event !== undefined && event !== 'push') {
      res.status(200).type('text/plain').send(`ignored: X-GitHub-Event ${quoted(event)} is not a push; only push events become metrics`);
      return;
    }

    const push = payloadOf(req, raw);
    if (!isRecord(push)) throw new HttpError(400, 'JSON is required: the push payload must be a JSON object');
    const { repository, commits, ref } = push;
    const repo = isRecord(repository) ? repository.name : undefined;
    const absent: string[] = [];
    if (!isRecord(repository)) absent.push('repository');
    else if (typeof repo !== 'string' || repo === '') absent.push('repository.name');
    if (!Array.isArray(commits)) absent.push('commits');
    if (typeof ref !== 'string' || ref === '') absent.push('ref');
    if (absent.length > 0 || typeof repo !== 'string' || typeof ref !== 'string' || !Array.isArray(commits)) {
      throw new HttpError(400, `missing fields: ${absent.join(', ')} (is this a push event?)`);
    }

    const prefix = `github.${lineSafe(repo)}.${lineSafe(ref.replace(/\//g, '.'))}`;
    const m = ingest.newRequest();
    commits.forEach((commit: unknown, i) => {
      const where = `commits[${i}]`;
      if (!isRecord(commit)) return m.reject(where, 'not an object');
      const { id, author, timestamp } = commit;
      const email = isRecord(author) ? author.email : undefined;
      const time = isoSeconds(timestamp);
      const problems: string[] = [];
      if (typeof id !== 'string' || id === '') problems.push('id missing');
      if (typeof email !== 'string') problems.push('author.email missing');
      if (time === undefined) problems.push(timestamp === undefined ? 'timestamp missing' : `timestamp ${quoted(String(timestamp))} is not an ISO 8601 date-time with a zone`);
      if (problems.length > 0 || typeof id !== 'string' || typeof email !== 'string') return m.reject(where, problems.join('; '));
      return m.add(where, `${prefix}.${lineSafe(email.replace(/[.@]/g, '-'))}.${lineSafe(id)}`, 1, time);
    });
    ingest.submitAll(m, `http:${req.ip ?? ''}`);
    res.status(200).type('text/plain').send('ok');
  };

  return {
    name: 'github',
    mount(routes) {
      routes.on(['post'], '/github', github);
    },
  };
}
