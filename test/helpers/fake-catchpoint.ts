import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';

/** A data request as the fake API saw it. */
export interface RawRequest {
  tests: number[];
  startTime: string | null;
  endTime: string | null;
  /** The raw Authorization header. */
  authorization: string | undefined;
  /** The token it carried (base64-decoded), if it was one the fake issued. */
  token: string | undefined;
  url: string;
}

export interface TokenRequest {
  form: Record<string, string>;
  contentType: string | undefined;
}

/** A scripted answer: status and JSON body (or raw text), or no answer at all. */
export type Reply = { status?: number; body?: unknown; text?: string } | 'hang';

export function fixture(name: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/catchpoint', name), 'utf8'));
}

/**
 * Plays Catchpoint's REST API on 127.0.0.1: POST {base}api/token (OAuth2
 * client credentials; issues token-1, token-2, ...) and GET
 * {base}api/v1/performance/raw (Bearer base64(token) required; revoked tokens
 * get 401 "Expired token"). Replies are scripted per endpoint (a queue), else
 * `raw` decides.
 */
export class FakeCatchpoint {
  readonly tokenRequests: TokenRequest[] = [];
  readonly rawRequests: RawRequest[] = [];
  readonly tokenReplies: Reply[] = [];
  readonly rawReplies: Reply[] = [];
  /** The answer when no reply is queued (default: no data). */
  raw: (req: RawRequest) => Reply = () => ({ body: fixture('raw-no-data.json') });
  expiresIn: number | undefined = 3600;
  readonly clientId = 'fixture-client-id';
  readonly clientSecret = 'fixture-client-secret-never-logged';
  readonly issued: string[] = [];
  readonly revoked = new Set<string>();
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Listen on an ephemeral port; resolves with the base URL (`http://127.0.0.1:PORT/ui/`). */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this.baseUrl;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}/ui/`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      if (req.method === 'POST' && url.pathname === '/ui/api/token') this.token(req, body, res);
      else if (req.method === 'GET' && url.pathname === '/ui/api/v1/performance/raw') this.data(req, url, res);
      else send(res, { status: 404, body: { Message: `No HTTP resource was found that matches ${url.pathname}` } });
    });
  }

  private token(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const form = Object.fromEntries(new URLSearchParams(body));
    this.tokenRequests.push({ form, contentType: req.headers['content-type'] });
    const scripted = this.tokenReplies.shift();
    if (scripted !== undefined) return send(res, scripted);
    if (form.grant_type !== 'client_credentials' || form.client_id !== this.clientId || form.client_secret !== this.clientSecret) {
      return send(res, { status: 401, body: { error: 'invalid_client' } });
    }
    const token = `token-${this.issued.length + 1}`;
    this.issued.push(token);
    send(res, { body: { access_token: token, token_type: 'bearer', ...(this.expiresIn !== undefined && { expires_in: this.expiresIn }) } });
  }

  private data(req: http.IncomingMessage, url: URL, res: http.ServerResponse): void {
    const authorization = req.headers.authorization;
    const m = /^Bearer (.+)$/.exec(authorization ?? '');
    const decoded = m === null ? undefined : Buffer.from(m[1], 'base64').toString('utf8');
    const token = decoded !== undefined && this.issued.includes(decoded) ? decoded : undefined;
    const r: RawRequest = {
      tests: (url.searchParams.get('tests') ?? '').split(',').filter((s) => s !== '').map(Number),
      startTime: url.searchParams.get('startTime'),
      endTime: url.searchParams.get('endTime'),
      authorization,
      token,
      url: req.url ?? '',
    };
    this.rawRequests.push(r);
    if (token === undefined) return send(res, { status: 401, body: { Message: 'Authorization has been denied for this request.' } });
    if (this.revoked.has(token)) return send(res, { status: 401, body: fixture('expired-token.json') });
    send(res, this.rawReplies.shift() ?? this.raw(r));
  }
}

function send(res: http.ServerResponse, reply: Reply): void {
  if (reply === 'hang') return; // never answer: the client's timeout must fire
  const text = reply.text ?? JSON.stringify(reply.body ?? null);
  res.writeHead(reply.status ?? 200, { 'Content-Type': reply.text !== undefined ? 'text/html' : 'application/json; charset=utf-8' });
  res.end(text);
}

/** A raw-data answer with one item per [time, values] for test/node, fields named as given. */
export function rawAnswer(fields: string[], items: { time: string; test: number; node: number; values: (number | null)[]; step?: number }[]): unknown {
  return {
    start: items[0]?.time ?? null,
    end: items[items.length - 1]?.time ?? null,
    detail: {
      fields: { synthetic_metrics: fields.map((name, index) => ({ index, name })) },
      items: items.map((i) => ({
        dimension: { name: i.time },
        breakdown_1: { id: i.test },
        breakdown_2: { id: i.node },
        ...(i.step !== undefined && { step: i.step }),
        synthetic_metrics: i.values,
      })),
    },
  };
}
