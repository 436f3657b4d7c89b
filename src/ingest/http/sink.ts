import type { Request, Response } from 'express';
import { bodyText, readBody } from './body';
import type { EndpointContext, EndpointGroup } from './endpoint-group';
import { HttpError } from './http-error';

/** Separators between fields: what carbon's line receiver splits on (str.split()) for the ASCII senders use. */
const FIELDS = /[ \t\v\f]+/;

/**
 * Hosted Graphite's HTTP API: `POST|PUT /api/v1/sink`, a body of
 * `name value [timestamp]` lines read raw whatever the Content-Type (curl
 * sends form-encoded), gzip accepted. Partial policy, as Hosted Graphite
 * documents it: good lines are accepted; bad ones are named in a 400 with
 * their line numbers. 202 and no body when every line was good.
 */
export function createSinkEndpoints(ctx: EndpointContext): EndpointGroup {
  const { ingest, http } = ctx;
  const limits = { maxBodySize: http.maxBodySize, maxDecompressedSize: http.maxDecompressedSize };

  const sink = async (req: Request, res: Response): Promise<void> => {
    ingest.assertAccepting();
    const text = bodyText(await readBody(req, limits));
    const m = ingest.newRequest();
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i]!;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      const trimmed = line.trim();
      if (trimmed === '') continue;
      const f = trimmed.split(FIELDS);
      if (f.length < 2 || f.length > 3) {
        m.reject(`line ${i + 1}`, `expected "name value [timestamp]", got ${f.length} fields`);
        continue;
      }
      m.add(`line ${i + 1}`, f[0]!, f[1], f[2]);
    }
    if (m.count === 0) throw new HttpError(400, 'empty body: send lines of "name value [timestamp]"');
    const problems = ingest.submitValid(m, `http:${req.ip ?? ''}`);
    if (problems === undefined) res.status(202).end();
    else res.status(400).type('text/plain').send(problems);
  };

  return {
    name: 'sink',
    mount(routes) {
      routes.on(['post', 'put'], '/api/v1/sink', sink);
    },
  };
}
