import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Component, StopReport } from '../../model/component';
import type { Logger } from '../../telemetry/logger';
import { requestListener } from './app';
import type { EndpointGroup } from './endpoint-group';

export interface HttpListenOptions {
  host: string;
  port: number;
  /** PEM files; both set means HTTPS. */
  cert?: string;
  key?: string;
}

/** Slow clients may not hold a request open longer than this (slowloris). */
const REQUEST_TIMEOUT_MS = 30_000;
/** Keep-alive for batching clients (collectd, agents), closed when idle. */
const KEEP_ALIVE_MS = 65_000;

/** The HTTP(S) server around the app (its fast path in front: requestListener), with the groups' lifecycles. */
export class HttpListener implements Component {
  readonly name: string;
  private server: http.Server | null = null;
  /** The server's 'request' listener for `app`. */
  private listener: http.RequestListener;

  constructor(
    readonly opts: HttpListenOptions,
    app: Express,
    private groups: readonly EndpointGroup[],
    private readonly log: Logger,
    /** Called once the listener is done with its app (stopped, or replaced): unregisters its ingest from flow control. */
    private release: () => void = () => undefined,
  ) {
    this.name = opts.cert !== undefined && opts.key !== undefined ? 'https' : 'http';
    this.listener = requestListener(app);
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const tls = this.opts.cert !== undefined && this.opts.key !== undefined;
    const server = tls ? https.createServer({ cert: fs.readFileSync(this.opts.cert as string), key: fs.readFileSync(this.opts.key as string) }, this.listener) : http.createServer(this.listener);
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.headersTimeout = Math.min(REQUEST_TIMEOUT_MS, 20_000);
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    for (const g of this.groups) g.start?.();
    this.log.info('listening', { listener: this.name, host: this.opts.host, port: this.port });
  }

  /**
   * Reload: the successor's groups take over what this listener's hold (the
   * impulse counters keep counting, no early flush); a group with no
   * successor of its name flushes when this listener stops or is replaced.
   */
  handOverTo(successors: readonly EndpointGroup[]): void {
    for (const next of successors) {
      const previous = this.groups.find((g) => g.name === next.name);
      if (previous?.handOver !== undefined && next.takeOver !== undefined) next.takeOver(previous.handOver());
    }
  }

  /**
   * Reload on the same address: new endpoints, auth and limits for the next
   * request, on the same server, so clients keep their connections. Requests
   * the old app is handling finish there.
   */
  replace(app: Express, groups: readonly EndpointGroup[], release: () => void): void {
    this.handOverTo(groups);
    const server = this.server;
    const listener = requestListener(app);
    if (server !== null) {
      server.removeListener('request', this.listener);
      server.on('request', listener);
      for (const g of groups) g.start?.();
    }
    for (const g of this.groups) g.stop?.();
    this.release();
    this.listener = listener;
    this.groups = groups;
    this.release = release;
  }

  /**
   * Stops accepting, lets requests in flight finish until `deadline`, cuts the
   * connections of those still running, then flushes the groups' state
   * (impulse counters) into the pipeline.
   */
  async stop(deadline: number): Promise<StopReport> {
    const server = this.server;
    let cut = false;
    if (server !== null) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        cut = true;
        server.closeAllConnections();
      }, Math.max(0, deadline - Date.now()));
      timer.unref();
      await closed;
      clearTimeout(timer);
      this.server = null;
    }
    for (const g of this.groups) g.stop?.();
    this.release();
    return { name: this.name, undelivered: 0, abandoned: cut ? ['requests still running at the deadline were cut off'] : [] };
  }
}
