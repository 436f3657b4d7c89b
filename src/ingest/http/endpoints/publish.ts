import type { Request, Response } from 'express';
import { bodyText, readBody } from '../body';
import type { EndpointContext, EndpointGroup } from '../endpoint-group';
import { HttpError, HttpErrorCode, quoted } from '../http-error';
import { numberFrom } from '../request-metrics';
import { lineSafe } from './webhook';

/** Ruby truthiness, as Backstop tests fields: only nil and false are missing (0 and "" pass). */
const missing = (v: unknown): boolean => v === null || v === undefined || v === false;

/**
 * The 400 reason for a text value. Backstop's README records a release as
 * `"value": "v214"`, which carbon cannot store (it drops the line); the
 * answer shows the numeric way instead: the text as the last name level
 * (dots as `_`, so it stays one level for aliasByNode) with the value 1.
 */
function textValueReason(metric: string | number, value: string): string {
  const name = `${metric}.${lineSafe(value.trim().replace(/\./g, '_'))}`;
  return `value ${quoted(value)} is not a number (Graphite stores only numbers); to record an event such as a release, put the text in the metric name and send 1: {"metric": ${quoted(name)}, "value": 1, "measure_time": ...}`;
}

/**
 * Backstop's `POST /publish/<prefix>`: a JSON object or array of
 * `{metric, value, measure_time}`, sent as `<prefix>.<metric>`. The prefix
 * must be one of `http.publish.prefixes` (404 otherwise, as Backstop).
 * Whole-request policy, unlike Backstop (which has sent the items before a
 * bad one when it answers 400): every item is checked first; any bad item
 * rejects the request and nothing is sent.
 */
export function createPublishEndpoints(ctx: EndpointContext): EndpointGroup {
  const { ingest, http } = ctx;
  const prefixes = new Set(http.publish.prefixes);
  const limits = { maxBodySize: http.maxBodySize, maxDecompressedSize: http.maxDecompressedSize };

  const publish = async (req: Request, res: Response): Promise<void> => {
    ingest.assertAccepting();
    const prefix = (req.params as { prefix: string }).prefix;
    let body: unknown;
    try {
      body = JSON.parse(bodyText(await readBody(req, limits)));
    } catch (err) {
      if (err instanceof HttpError && err.status !== 400) throw err;
      throw new HttpError(400, HttpErrorCode.MALFORMED_BODY, 'JSON is required');
    }
    // Backstop checks the body before the prefix
    if (!prefixes.has(prefix)) throw new HttpError(404, HttpErrorCode.NOT_FOUND, `unknown prefix "${prefix}" (allowed: ${[...prefixes].join(', ') || 'none configured'})`);
    const items = Array.isArray(body) ? body : [body];
    const m = ingest.newRequest();
    items.forEach((item: unknown, i) => {
      const where = Array.isArray(body) ? `item ${i}` : 'body';
      if (typeof item !== 'object' || item === null) return m.reject(where, 'not an object');
      const { metric, value, measure_time: time } = item as Record<string, unknown>;
      const absent = [['metric', metric], ['value', value], ['measure_time', time]].filter(([, v]) => missing(v)).map(([k]) => k);
      if (absent.length > 0) return m.reject(where, `missing fields: ${absent.join(', ')}`);
      if (typeof metric !== 'string' && typeof metric !== 'number') return m.reject(where, 'metric must be a string');
      if (typeof value === 'string' && value.trim() !== '' && numberFrom(value) === undefined) return m.reject(where, textValueReason(metric, value));
      return m.add(where, `${prefix}.${metric}`, value, time);
    });
    ingest.submitAll(m, `http:${req.ip ?? ''}`);
    res.status(200).type('text/plain').send('ok');
  };

  return {
    name: 'publish',
    mount(routes) {
      routes.on(['post'], '/publish/:prefix', publish);
    },
  };
}
