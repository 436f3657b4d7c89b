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
  /** The peer closed, or the connection was cut; account for anything left half-received. */
  onEnd(): void;
  /** Lines or frames taken whole so far, good or bad: the idle timeout runs from the last one. */
  readonly completed: number;
}

export interface StreamListenerOptions {
  /** For logs: `line`, `line-tls`, `pickle`. */
  name: string;
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  /** Connections beyond this are refused (counted, and logged rate-limited). */
  maxConnections: number;
  /** Connections from one client address beyond this are refused (counted, logged rate-limited); 0: no limit. */
  maxConnectionsPerClient: number;
  /** A connection with no complete line or frame for this long is closed (ms; 0: never). Not while paused. */
  idleTimeout: number;
}

export interface StreamListenerDeps {
  /** Flow control: the listener registers itself as a producer to be paused. */
  pipeline: Pick<Pipeline, 'addSource'>;
  counters: IngestCounters;
  log: Logger;
  protocol: (peer: string) => StreamProtocol;
}

/** Node's default; a handshake is never allowed longer than this, nor longer than the idle timeout. */
const TLS_HANDSHAKE_TIMEOUT_MS = 120_000;

/** One accepted connection (after the TLS handshake, for TLS). */
interface Connection {
  readonly socket: net.Socket;
  readonly peer: string;
  readonly protocol: StreamProtocol;
  /** protocol.completed when last looked at. */
  completed: number;
  /** Date.now() of the last complete line or frame, of the accept, or of the last resume. */
  lastProgress: number;
  idleTimer: NodeJS.Timeout | null;
  /** protocol.onEnd() has run, or must not (the stream was garbage). */
  finished: boolean;
}

/**
 * A TCP (or TLS) listener: accepts connections, feeds bytes to a protocol
 * instance per connection, and pauses every connection while the pipeline is
 * under pressure, so TCP flow control slows the senders instead of us dropping.
 * Connection slots are a shared resource, so idle connections are closed and
 * one client address may hold only so many.
 */
export class StreamListener implements Pausable, Component {
  private server: net.Server | null = null;
  private readonly connections = new Set<Connection>();
  /** Every accepted TCP socket, TLS handshakes in progress included: what stop() must close. */
  private readonly rawSockets = new Set<net.Socket>();
  /** Open TCP sockets per client address, for maxConnectionsPerClient. */
  private readonly perClient = new Map<string, number>();
  private paused = false;
  private stopping = false;
  /** Set by stop() while it waits for the connections to end. */
  private onAllClosed: (() => void) | null = null;
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
    const server = this.opts.tls ? this.tlsServer(this.opts.tls) : net.createServer((socket) => this.admit(socket) && this.onConnection(socket));
    server.maxConnections = this.opts.maxConnections;
    server.on('drop', (info?: net.DropArgument) => {
      this.deps.counters.connectionsRefused++;
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
    // once stopping, what the connections hold is read regardless: pausing now would only lose it at the deadline
    if (this.stopping) return;
    this.paused = true;
    for (const c of this.connections) c.socket.pause();
  }

  resume(): void {
    if (this.stopping) return;
    this.paused = false;
    // a sender held back by us was not idle: its idle time starts now
    const now = Date.now();
    for (const c of this.connections) {
      c.lastProgress = now;
      c.socket.resume();
    }
  }

  /**
   * Stop accepting, then read what the connections still hold (paused ones
   * too) and hand it on, until each sender closes or `deadline` passes: bytes
   * a sender has written are datapoints it considers sent, and cutting the
   * connection would lose them uncounted. What is read past the destinations'
   * queue bounds is dropped and counted there (or spooled). Our side is
   * half-closed first, so senders that read see that we are going.
   */
  async stop(deadline: number): Promise<StopReport> {
    this.unregister?.();
    this.unregister = null;
    const server = this.server;
    if (server === null) return { name: this.opts.name, undelivered: 0, abandoned: [] };
    this.server = null;
    this.stopping = true;
    this.paused = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections) {
      c.socket.resume();
      c.socket.end();
    }
    const timer = setTimeout(() => this.onAllClosed?.(), Math.max(0, deadline - Date.now()));
    await this.allClosed();
    clearTimeout(timer);
    const cut = this.connections.size;
    if (cut > 0) this.deps.log.warn('connections still open at the shutdown deadline, closing them', { listener: this.opts.name, connections: cut });
    for (const c of this.connections) c.socket.destroy();
    // handshaking TLS sockets too: server.close() waits for every one
    for (const s of this.rawSockets) s.destroy();
    // their close handlers settle the counters (activeConnections, incomplete lines) before the report
    await this.allClosed();
    await closed;
    return { name: this.opts.name, undelivered: 0, abandoned: cut > 0 ? [`${cut} connections their senders had not closed by the deadline were cut`] : [] };
  }

  /** Resolves once no connection is open, or earlier if someone calls onAllClosed (the deadline). */
  private async allClosed(): Promise<void> {
    if (this.connections.size === 0) return;
    await new Promise<void>((resolve) => (this.onAllClosed = resolve));
    this.onAllClosed = null;
  }

  private tlsServer(cert: { cert: Buffer; key: Buffer }): tls.Server {
    const idle = this.opts.idleTimeout;
    const handshakeTimeout = idle > 0 ? Math.min(idle, TLS_HANDSHAKE_TIMEOUT_MS) : TLS_HANDSHAKE_TIMEOUT_MS;
    const server = tls.createServer({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1.2', handshakeTimeout }, (socket) => this.onConnection(socket));
    // the raw socket, before the handshake: a client's slots are taken from the first byte, not after it proves it speaks TLS
    server.on('connection', (raw: net.Socket) => this.admit(raw));
    server.on('tlsClientError', (err: Error & { code?: string }, sock: tls.TLSSocket) => {
      if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.deps.counters.idleTimeouts++;
      this.limited.warn(`tls:${sock.remoteAddress ?? ''}`, 'TLS handshake with client failed', { listener: this.opts.name, peer: peerOf(sock), reason: err.message });
      // Node reports a handshake timeout but leaves the socket open, holding its slot
      sock.destroy();
    });
    return server;
  }

  /** Take a slot for the client address; false (and the socket destroyed) when it has none left. */
  private admit(raw: net.Socket): boolean {
    const addr = raw.remoteAddress ?? 'unknown';
    const held = this.perClient.get(addr) ?? 0;
    const limit = this.opts.maxConnectionsPerClient;
    if (limit > 0 && held >= limit) {
      this.deps.counters.connectionsRefusedPerClient++;
      this.limited.warn(`per-client:${addr}`, 'connection refused: maxConnectionsPerClient reached for this client', {
        listener: this.opts.name,
        peer: addr,
        maxConnectionsPerClient: limit,
      });
      raw.on('error', () => undefined);
      raw.destroy();
      return false;
    }
    this.perClient.set(addr, held + 1);
    this.rawSockets.add(raw);
    raw.on('close', () => {
      this.rawSockets.delete(raw);
      const n = (this.perClient.get(addr) ?? 1) - 1;
      if (n > 0) this.perClient.set(addr, n);
      else this.perClient.delete(addr);
    });
    return true;
  }

  private onConnection(socket: net.Socket): void {
    const peer = peerOf(socket);
    const protocol = this.deps.protocol(peer);
    const counters = this.deps.counters;
    const c: Connection = { socket, peer, protocol, completed: protocol.completed, lastProgress: Date.now(), idleTimer: null, finished: false };
    this.connections.add(c);
    counters.activeConnections++;
    socket.setKeepAlive(true, 10_000);
    if (this.paused) socket.pause();
    if (this.stopping) socket.end();
    if (this.opts.idleTimeout > 0) this.armIdle(c, this.opts.idleTimeout);
    socket.on('data', (chunk: Buffer) => {
      if (!protocol.onData(chunk)) {
        // the half-received unit is part of what the warning reports, not a separate incomplete one
        c.finished = true;
        this.limited.warn(`framing:${hostOf(peer)}`, 'closing connection: stream is not in the expected framing', { listener: this.opts.name, peer });
        socket.destroy();
        return;
      }
      if (protocol.completed !== c.completed) {
        c.completed = protocol.completed;
        c.lastProgress = Date.now();
      }
    });
    socket.on('end', () => {
      this.finish(c);
      socket.end();
    });
    socket.on('error', (err) => {
      this.deps.log.debug('receiver connection error', { listener: this.opts.name, peer, error: err.message });
    });
    socket.on('close', () => {
      // cut (idle timeout, shutdown deadline, reset by the peer): a half-received line or frame is counted too
      this.finish(c);
      if (c.idleTimer !== null) clearTimeout(c.idleTimer);
      this.connections.delete(c);
      counters.activeConnections--;
      if (this.connections.size === 0) this.onAllClosed?.();
    });
  }

  private finish(c: Connection): void {
    if (c.finished) return;
    c.finished = true;
    c.protocol.onEnd();
  }

  /**
   * One timer per connection, re-armed lazily when it fires: progress only
   * stamps a time, so the data path never touches timers.
   */
  private armIdle(c: Connection, ms: number): void {
    c.idleTimer = setTimeout(() => this.onIdleTimer(c), ms);
    c.idleTimer.unref();
  }

  private onIdleTimer(c: Connection): void {
    c.idleTimer = null;
    if (c.socket.destroyed) return;
    const timeout = this.opts.idleTimeout;
    // a paused sender is waiting for us, not idle (resume() restarts its clock)
    if (this.paused) return this.armIdle(c, timeout);
    const idleFor = Date.now() - c.lastProgress;
    if (idleFor < timeout) return this.armIdle(c, timeout - idleFor);
    this.deps.counters.idleTimeouts++;
    this.limited.warn(`idle:${this.opts.name}`, 'closing connection: no complete line or frame within idleTimeout', {
      listener: this.opts.name,
      peer: c.peer,
      idleTimeoutMs: timeout,
    });
    c.socket.destroy();
  }
}

/** Log keys per host, not per connection, so a reconnecting bad client cannot flood the log. */
export function hostOf(peer: string): string {
  const i = peer.lastIndexOf(':');
  return i < 0 ? peer : peer.slice(0, i);
}

function peerOf(socket: net.Socket): string {
  const addr = socket.remoteAddress ?? 'unknown';
  return addr.includes(':') ? `[${addr}]:${socket.remotePort ?? 0}` : `${addr}:${socket.remotePort ?? 0}`;
}
