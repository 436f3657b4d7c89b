import type { Request, Response } from 'express';
import { decodeUtf8Strict } from '../../../common/bytes';
import { decodeLine, isAccepted, LineVerdict } from '../../../codec/line-decoder';
import { checkMetricName, NameProblem } from '../../../codec/metric-name';
import { pySplit } from '../../../common/python/str';
import { readBody } from '../body';
import type { EndpointContext, EndpointGroup } from '../endpoint-group';
import { ERROR_CODE_HEADER, HttpError, HttpErrorCode } from '../http-error';
import type { RequestMetrics } from '../request-metrics';

/**
 * The slow path for a line the TCP receiver's decoder did not take: decides
 * what is wrong with it and records that with its line number (or, for the
 * rare line only the string path reads, adds it).
 */
function addLineText(m: RequestMetrics, lineNo: number, body: Buffer, start: number, end: number): void {
  const where = `line ${lineNo}`;
  const line = decodeUtf8Strict(body, start, end);
  if (line === undefined) {
    m.reject(where, 'not valid UTF-8');
    return;
  }
  const f = pySplit(line);
  if (f.length === 0) return;
  if (f.length < 2 || f.length > 3) {
    m.reject(where, `expected "name value [timestamp]", got ${f.length} fields`);
    return;
  }
  m.add(where, f[0]!, f[1], f[2]);
}

/**
 * Hosted Graphite's HTTP API: `POST|PUT /api/v1/sink`, a body of
 * `name value [timestamp]` lines read raw whatever the Content-Type (curl
 * sends form-encoded), gzip accepted. Lines are read with the TCP receiver's
 * decoder (carbon's field splitting and float()), straight from the bytes.
 * Partial policy, as Hosted Graphite documents it: good lines are accepted;
 * bad ones are named in a 400 with their line numbers. 202 and no body when
 * every line was good.
 */
export function createSinkEndpoints(ctx: EndpointContext): EndpointGroup {
  const { ingest, http } = ctx;
  const limits = { maxBodySize: http.maxBodySize, maxDecompressedSize: http.maxDecompressedSize };
  const names = ingest.deps.names;

  const sink = async (req: Request, res: Response): Promise<void> => {
    ingest.assertAccepting();
    const body = await readBody(req, limits);
    const m = ingest.newRequest();
    const batch = m.batch;
    // a line is rarely under 24 bytes; never more than maxItems (the request fails with 413 there)
    batch.reserve(Math.min(Math.ceil(body.length / 24), http.maxItems));
    let lineNo = 0;
    for (let start = 0; start < body.length; ) {
      let end = body.indexOf(0x0a, start);
      if (end < 0) end = body.length;
      lineNo++;
      m.checkSize();
      const before = batch.length;
      const verdict = decodeLine(body, start, end, batch, m.now, true, names);
      if (isAccepted(verdict)) {
        // the TCP path leaves name checks to the router; here a bad or over-long name gets its line named in the answer
        if (checkMetricName(batch.names[before]!, m.maxNameLength) === NameProblem.None) {
          start = end + 1;
          continue;
        }
        batch.length = before;
      }
      if (verdict !== LineVerdict.Empty) addLineText(m, lineNo, body, start, end);
      start = end + 1;
    }
    if (m.count === 0) throw new HttpError(400, HttpErrorCode.INVALID_BODY, 'empty body: send lines of "name value [timestamp]"');
    const problems = ingest.submitValid(m, `http:${req.ip ?? ''}`);
    if (problems === undefined) res.status(202).end();
    else res.status(400).set(ERROR_CODE_HEADER, HttpErrorCode.INVALID_ITEMS).type('text/plain').send(problems);
  };

  return {
    name: 'sink',
    mount(routes) {
      routes.on(['post', 'put'], '/api/v1/sink', sink);
    },
  };
}
