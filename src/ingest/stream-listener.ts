import net from 'node:net';
import tls from 'node:tls';
import type { Component, StopReport } from '../model/component';
import type { Pausable } from '../model/pausable';
import type { Pipeline } from '../pipeline/pipeline';
import type { IngestCounters } from '../telemetry/counters';
import type { Logger } from '../telemetry/logger';
import { RateLimitedLog } from '../telemetry/rate-limited-log';

/** Per-connection protocol logic (line or pickle). */
export interface StreamProtocol {
  /** Handle one chunk; false means the stream is unrecoverable and the connection is closed. */
  onData(chunk: Buffer): boolean;
  /** The peer closed; account for anything left half-received. */
  onEnd(): void;
}

export interface StreamListenerOptions {
  /** For logs: `line`, `line-tls`, `pickle`. */
  name: string;
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  /** Connections beyond this are refused (and logged, rate-limited). */
  maxConnections: number;
}

export interface StreamListenerDeps {
  pipeline: Pipeline;
  counters: IngestCounters;
  log: Logger;
  protocol: (peer: string) => StreamProtocol;
}

/**
 * A TCP (or TLS) listener: accepts connections, feeds bytes to a protocol
 * instance per connection, and pauses every connection while the pipeline is
 * under pressure, so TCP flow control slows the senders instead of us dropping.
 */
export class StreamListener implements Pausable, Component {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private paused = false;
  private unregister: (() => void) | null = null;
  private readonly limited: RateLimitedLog;

  constructor(
    private readonly opts: StreamListenerOptions,
    private readonly deps: StreamListenerDeps,
  ) {
    this.limited = new RateLimitedLog(deps.log);
  }

  get name(): string {
    return this.opts.name;
  }

  /** The bound port (differs from the configured one when that was 0). */
  get port(): number {
    const addr = this.server?.address();
    return addr !== null && typeof addr === 'object' ? addr.port : 0;
  }

  async start(): Promise<void> {
    const onConnection = (socket: net.Socket): void => this.onConnection(socket);
    const server = this.opts.tls
      ? tls.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key, minVersion: 'TLSv1.2' }, onConnection)
      : net.createServer(onConnection);
    if (this.opts.tls) {
      server.on('tlsClientError', (err: Error, sock: tls.TLSSocket) => {
        this.limited.warn(`tls:${sock.remoteAddress ?? ''}`, 'TLS handshake with client failed', { listener: this.opts.name, peer: peerOf(sock), reason: err.message });
      });
    }
    server.maxConnections = this.opts.maxConnections;
    server.on('drop', (info?: net.DropArgument) => {
      this.limited.warn(`drop:${this.opts.name}`, 'connection refused: maxConnections reached', {
        listener: this.opts.name,
        peer: info?.remoteAddress ?? 'unknown',
        maxConnections: this.opts.maxConnections,
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.opts.host, port: this.opts.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.deps.log.error('listener error', { listener: this.opts.name, error: err.message }));
    this.unregister = this.deps.pipeline.addSource(this);
    this.deps.log.info('listening', { listener: this.opts.name, address: `${this.opts.host}:${this.port}` });
  }

  pause(): void {
    this.paused = true;
    for (const s of this.sockets) s.pause();
  }

  resume(): void {
    this.paused = false;
    for (const s of this.sockets) s.resume();
  }

  /**
   * Stop accepting and close every connection at once: data already read has
   * been handed to the pipeline, and a sender whose connection closes resends
   * what the kernel had not delivered to us (nothing is acknowledged on TCP).
   */
  async stop(_deadline: number): Promise<StopReport> {
    this.unregister?.();
    const server = this.server;
    const open = this.sockets.size;
    if (server !== null) {
      this.server = null;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of this.sockets) s.destroy();
      await closed;
    }
    return { name: this.opts.name, undelivered: 0, abandoned: open > 0 ? [`${open} connections closed`] : [] };
  }

  private onConnection(socket: net.Socket): void {
    const peer = peerOf(socket);
    const protocol = this.deps.protocol(peer);
    const counters = this.deps.counters;
    this.sockets.add(socket);
    counters.activeConnections++;
    socket.setKeepAlive(true, 10_000);
    if (this.paused) socket.pause();
    socket.on('data', (chunk: Buffer) => {
      if (!protocol.onData(chunk)) {
        this.deps.log.warn('closing connection: stream is not in the expected framing', { listener: this.opts.name, peer });
        socket.destroy();
      }
    });
    socket.on('end', () => {
      protocol.onEnd();
      socket.end();
    });
    socket.on('error', (err) => {
      this.deps.log.debug('receiver connection error', { listener: this.opts.name, peer, error: err.message });
    });
    socket.on('close', () => {
      this.sockets.delete(socket);
      counters.activeConnections--;
    });
  }
}

function peerOf(socket: net.Socket): string {
  const addr = socket.remoteAddress ?? 'unknown';
  return addr.includes(':') ? `[${addr}]:${socket.remotePort ?? 0}` : `${addr}:${socket.remotePort ?? 0}`;
}
