import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { decodeBasic, matchesAnyDigest, secretDigest } from '../common/secrets';
import type { Component, StopReport } from '../model/component';
import type { Readiness } from '../model/readiness';
import type { Logger } from '../telemetry/logger';
import { STATUS_PAGE } from './page';

/** What /status reports: a snapshot built here (StatusBuilder) or gathered from worker processes. */
export interface StatusProvider {
  /** Called every second while the listener runs (rates are per second between ticks). */
  tick(): void;
  snapshot(): Record<string, unknown> | Promise<Record<string, unknown>>;
}

export interface AdminListenerOptions {
  host: string;
  port: number;
  /** Basic users for /status, /metrics and the page; none: no credentials asked. /health and /ready never ask. */
  users: readonly { readonly user: string; readonly password: string }[];
}

export interface AdminListenerDeps {
  status: StatusProvider;
  readiness: Pick<Readiness, 'ready' | 'reason'>;
  /** Prometheus exposition, when an exporter is configured: [content type, body]. */
  metrics?: () => Promise<[string, string]>;
  log: Logger;
}

const TICK_MS = 1000;

/**
 * The operator's listener, apart from the ingest port and never behind its
 * auth, rate limits or pressure checks: /health (alive), /ready (bound and not
 * draining), /status (JSON snapshot), /metrics (Prometheus). Started first and
 * stopped last, so it answers through a whole drain.
 */
export class AdminListener implements Component {
  readonly name = 'admin';
  private server: http.Server | null = null;
  private timer: NodeJS.Timeout | null = null;
  private users: Buffer[];
  private reloader: (() => Promise<{ result: string }>) | undefined;

  constructor(
    private opts: AdminListenerOptions,
    private readonly deps: AdminListenerDeps,
  ) {
    this.users = opts.users.map((u) => secretDigest(`${u.user}\0${u.password}`));
  }

  /** What POST /reload runs (the CLI's re-read and apply; absent when the relay was not started by the CLI). */
  setReloader(reload: () => Promise<{ result: string }>): void {
    this.reloader = reload;
  }

  /**
   * Reload: new users apply to the next request. A new address binds a new
   * server first, then lets the old one finish what it is answering (a POST
   * /reload that asked for this among them) and close.
   */
  async reconfigure(opts: AdminListenerOptions): Promise<void> {
    const moved = opts.host !== this.opts.host || opts.port !== this.opts.port;
    const old = this.server;
    // bind first: if the new address is taken, nothing here has changed
    const fresh = moved && old !== null ? await this.listen(opts) : null;
    this.users = opts.users.map((u) => secretDigest(`${u.user}\0${u.password}`));
    this.opts = opts;
    if (fresh === null || old === null) return;
    this.server = fresh;
    old.close();
    old.closeIdleConnections();
    this.deps.log.info('listening', { listener: this.name, host: this.opts.host, port: this.port });
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    this.server = await this.listen(this.opts);
    this.timer = setInterval(() => this.deps.status.tick(), TICK_MS);
    this.timer.unref();
    this.deps.log.info('listening', { listener: this.name, host: this.opts.host, port: this.port });
  }

  async stop(_deadline: number): Promise<StopReport> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const server = this.server;
    this.server = null;
    if (server !== null) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    }
    return { name: this.name, undelivered: 0, abandoned: [] };
  }

  private async listen(opts: AdminListenerOptions): Promise<http.Server> {
    const server = http.createServer(this.app());
    server.requestTimeout = 10_000;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  private app(): Express {
    const app = express();
    app.disable('x-powered-by');
    app.get('/health', (_req, res) => {
      res.json({ status: 'ok' });
    });
    app.get('/ready', (_req, res) => {
      const r = this.deps.readiness;
      res.status(r.ready ? 200 : 503).json({ ready: r.ready, state: r.reason });
    });
    app.use((req, res, next) => this.authenticate(req, res, next));
    app.get('/status', (_req, res, next) => {
      Promise.resolve(this.deps.status.snapshot()).then((s) => res.json(s), next);
    });
    app.post('/reload', (_req, res, next) => {
      const reload = this.reloader;
      if (reload === undefined) {
        res.status(404).type('text/plain').send('reload is not available here (relay not started by the CLI)\n');
        return;
      }
      reload().then((outcome) => {
        res.status(outcome.result === 'failed' ? 422 : outcome.result === 'restart_required' ? 409 : 200).json(outcome);
      }, next);
    });
    app.get('/', (_req, res) => {
      res.type('html').set('Cache-Control', 'no-store').send(STATUS_PAGE);
    });
    app.get('/metrics', (_req, res, next) => {
      const metrics = this.deps.metrics;
      if (metrics === undefined) {
        res.status(404).type('text/plain').send('no Prometheus exporter configured\n');
        return;
      }
      metrics().then(([type, body]) => {
        res.type(type).send(body);
      }, next);
    });
    app.use((_req, res) => {
      res.status(404).type('text/plain').send('not found: try /, /health, /ready, /status or /metrics\n');
    });
    app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
      this.deps.log.error('admin request failed', { error: err.message });
      res.status(500).type('text/plain').send('internal error\n');
    });
    return app;
  }

  private authenticate(req: Request, res: Response, next: NextFunction): void {
    if (this.users.length === 0) {
      next();
      return;
    }
    const basic = /^basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const creds = basic === null ? undefined : decodeBasic(basic[1]);
    if (creds !== undefined && creds.user !== '' && matchesAnyDigest(this.users, `${creds.user}\0${creds.password}`)) {
      next();
      return;
    }
    res.status(401).set('WWW-Authenticate', 'Basic realm="carbon-fanout admin", charset="UTF-8"').type('text/plain').send('unauthorized\n');
  }
}
