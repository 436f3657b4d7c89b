import type { Request, Response } from 'express';
import { checkMetricName, NameProblem } from '../../../codec/metric-name';
import { bodyText, mediaType, readBody } from '../body';
import type { EndpointContext, EndpointGroup } from '../endpoint-group';
import { HttpError, HttpErrorCode } from '../http-error';

const MTYPES = new Set(['', 'gauge', 'rate', 'count', 'counter', 'timestamp']);
/** tsdb-gw lists at most this many example indexes per error. */
const MAX_EXAMPLES = 10;

interface ValidationError {
  Count: number;
  ExampleIds: number[];
}

/** tsdb-gw's tag rule: `key=value`, both non-empty, no `;` anywhere, no `!` in the key. */
function tagProblem(tag: unknown): boolean {
  if (typeof tag !== 'string') return true;
  const eq = tag.indexOf('=');
  if (eq <= 0 || eq === tag.length - 1) return true;
  return tag.includes(';') || tag.slice(0, eq).includes('!');
}

/** The error tsdb-gw would give the item, or undefined when it is valid; also rejects what the line protocol cannot carry. */
function itemProblem(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'not an object';
  const m = item as Record<string, unknown>;
  if (typeof m.name !== 'string' || m.name === '') return 'name cannot be empty';
  if (m.interval === 0 || m.interval === undefined) return 'interval cannot be 0';
  if (typeof m.interval !== 'number' || !Number.isInteger(m.interval)) return 'interval must be an integer';
  if (m.mtype !== undefined && (typeof m.mtype !== 'string' || !MTYPES.has(m.mtype))) return 'invalid mtype';
  if (m.tags !== undefined && (!Array.isArray(m.tags) || m.tags.some(tagProblem))) return 'invalid tag format';
  if (typeof m.value !== 'number') return 'value must be a number';
  if (typeof m.time !== 'number' || !Number.isFinite(m.time)) return 'time must be a number';
  return undefined;
}

/**
 * Grafana Cloud's Graphite JSON ingest (tsdb-gw `POST /metrics`, also served
 * at `/graphite/metrics`): an `application/json` array of
 * `{name, interval, value, time, tags, mtype?, unit?}`. Each item becomes
 * `name;k=v;...` (tags sorted, as carbon-relay-ng builds series) with its
 * value and time. Like the gateway, invalid items are dropped and valid ones
 * published; the 200 answer counts both and lists example indexes per error.
 */
export function createGrafanaEndpoints(ctx: EndpointContext): EndpointGroup {
  const { ingest, http } = ctx;
  const limits = { maxBodySize: http.maxBodySize, maxDecompressedSize: http.maxDecompressedSize };

  const jsonError = (status: number, code: HttpErrorCode, message: string): HttpError => new HttpError(status, code, message, { json: message });

  const metrics = async (req: Request, res: Response): Promise<void> => {
    ingest.assertAccepting();
    const type = mediaType(req);
    if (type !== 'application/json') throw jsonError(400, HttpErrorCode.UNSUPPORTED_MEDIA_TYPE, `unknown content-type: ${type}`);
    let body: unknown;
    try {
      body = JSON.parse(bodyText(await readBody(req, limits)));
    } catch (err) {
      if (err instanceof HttpError && err.status !== 400) throw err;
      throw jsonError(400, HttpErrorCode.MALFORMED_BODY, `unable to parse request body. ${err instanceof Error ? err.message : ''}`.trim());
    }
    if (!Array.isArray(body)) throw jsonError(400, HttpErrorCode.INVALID_BODY, 'unable to parse request body. expected a JSON array');
    if (body.length === 0) throw jsonError(400, HttpErrorCode.INVALID_BODY, 'no data included in request.');
    if (body.length > ingest.maxItems) throw jsonError(413, HttpErrorCode.TOO_LARGE, `more than ${ingest.maxItems} datapoints in one request; split it`);

    const errors: Record<string, ValidationError> = {};
    const note = (problem: string, i: number): void => {
      const e = (errors[problem] ??= { Count: 0, ExampleIds: [] });
      e.Count++;
      if (e.ExampleIds.length < MAX_EXAMPLES) e.ExampleIds.push(i);
    };
    const m = ingest.newRequest();
    body.forEach((item: unknown, i) => {
      const problem = itemProblem(item);
      if (problem !== undefined) return note(problem, i);
      const d = item as { name: string; value: number; time: number; tags?: string[] };
      const tags = d.tags === undefined || d.tags.length === 0 ? '' : `;${[...d.tags].sort().join(';')}`;
      const name = d.name + tags;
      const nameProblem = checkMetricName(name, m.maxNameLength);
      // one key for every length, so ValidationErrors stays one entry per kind of error
      if (nameProblem === NameProblem.TooLong) return note(`name and tags are over maxNameLength (${m.maxNameLength} bytes)`, i);
      if (nameProblem === NameProblem.Invalid) return note('name or tags contain whitespace or control characters', i);
      if (Number.isNaN(d.value)) return note('value is NaN', i);
      m.add(`item ${i}`, name, d.value, d.time);
    });
    const invalid = body.length - m.batch.length;
    ingest.deps.counters.httpInvalidItems += invalid;
    ingest.submitValid(m, `http:${req.ip ?? ''}`);
    res.status(200).json({ Invalid: invalid, Published: m.batch.length, ValidationErrors: errors });
  };

  return {
    name: 'grafana',
    mount(routes) {
      routes.on(['post'], '/metrics', metrics);
      routes.on(['post'], '/graphite/metrics', metrics);
    },
  };
}
