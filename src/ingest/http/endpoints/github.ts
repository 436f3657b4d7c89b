import type { Request, Response } from 'express';
import { bodyText, mediaType, readBody } from '../body';
import { BoundedLru } from '../../../common/bounded-lru';
import type { EndpointContext, EndpointGroup } from '../endpoint-group';
import { HttpError, HttpErrorCode, quoted } from '../http-error';
import { hmacSha256MatchesAny, isRecord, isoSeconds, lineSafe, parseJson, signatureRejected } from './webhook';

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
/** Push deliveries remembered to drop redeliveries. */
const MAX_RECENT_DELIVERIES = 10_000;

export function createGithubEndpoints(ctx: EndpointContext): EndpointGroup {
  const { ingest, http } = ctx;
  const { secret } = http.github;
  const limits = { maxBodySize: http.maxBodySize, maxDecompressedSize: http.maxDecompressedSize };
  const deliveries = new BoundedLru<string, true>(MAX_RECENT_DELIVERIES);

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
    if (payload === null) throw new HttpError(400, HttpErrorCode.INVALID_BODY, 'JSON is required: no "payload" form field (send application/json, or form-encoded with the JSON in "payload")');
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
    if (!isRecord(push)) throw new HttpError(400, HttpErrorCode.INVALID_BODY, 'JSON is required: the push payload must be a JSON object');
    const { repository, commits, ref } = push;
    const repo = isRecord(repository) ? repository.name : undefined;
    const absent: string[] = [];
    if (!isRecord(repository)) absent.push('repository');
    else if (typeof repo !== 'string' || repo === '') absent.push('repository.name');
    if (!Array.isArray(commits)) absent.push('commits');
    if (typeof ref !== 'string' || ref === '') absent.push('ref');
    if (absent.length > 0 || typeof repo !== 'string' || typeof ref !== 'string' || !Array.isArray(commits)) {
      throw new HttpError(400, HttpErrorCode.INVALID_BODY, `missing fields: ${absent.join(', ')} (is this a push event?)`);
    }

    // GitHub redelivers (manually or after a timeout) with the same X-GitHub-Delivery id
    const delivery = req.get('x-github-delivery');
    if (delivery !== undefined && deliveries.has(delivery)) {
      res.status(200).type('text/plain').send(`ignored: delivery ${quoted(delivery)} was already counted\n`);
      return;
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
    if (delivery !== undefined) deliveries.set(delivery, true);
    res.status(200).type('text/plain').send('ok');
  };

  return {
    name: 'github',
    mount(routes) {
      routes.on(['post'], '/github', github);
    },
  };
}
