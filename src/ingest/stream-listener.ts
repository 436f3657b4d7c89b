import type { ConnectionFeed } from './connection-feed';
import net from 'node:net';
import tls from 'node:tls';
import type { Component, StopReport } from '../model/component';
import type { Pausable } from '../model/pausable';
import type { Pipeline } from '../pipeline/pipeline';
import type { IngestCounters } from '../telemetry/counters';
import type { Logger } from '../telemetry/logger';
import { RateLimitedLog } from '../telemetry/rate-limited-log';
import { ProxyHeaderReader } from './proxy-protocol';

/** Per-connection protocol logic (line or pickle). */
export interface StreamProtocol {
  /** Handle one chunk; false means the stream is unrecoverable and the connection is closed. */
  onData(chunk: Buffer): boolean;
  /** The peer closed, or the connection was cut; account for anything left half-received. */
  onEnd(): void;
  /** Lines or frames taken whole so far, good or bad: the idle timeout runs from the last one. */
  readonly completed: number;
}

/** A TLS listener's certificate, and the CA its clients' certificates must chain to, if it asks for them. */
export interface ListenerTls {
  cert: Buffer;
  key: Buffer;
  /** CA certificates (PEM): set, every client is asked for a certificate, and one they did not sign is refused. */
  clientCa?: readonly Buffer[];
  /** With clientCa: a client without a certificate is refused too (default true). */
  requireClientCert?: boolean;
}

export interface StreamListenerOptions {
  /** For logs: `line`, `line-tls`, `pickle`, `pickle-tls`. */
  name: string;
  host: string;
  port: number;
  tls?: ListenerTls;
  /** Connections beyond this are refused (counted, and logged rate-limited). */
  maxConnections: number;
  /** Connections from one client address beyond this are refused (counted, logged rate-limited); 0: no limit. */
  maxConnectionsPerClient: number;
  /** A connection with no complete line or frame for this long is closed (ms; 0: never). Not while paused. */
  idleTimeout: number;
  /**
   * Every connection starts with a PROXY protocol header (v1 or v2, sent by an L4 load balancer; for TLS, before
   * the handshake), and the client it names stands for the socket's peer: in logs, for the protocol and for
   * maxConnectionsPerClient. A connection without a valid one is closed and counted. Default false.
   */
  proxyProtocol?: boolean;
  /**
   * A connection older than this (ms, plus up to 10% jitter; 0 or absent: never) is half-closed: we send FIN and
   * keep reading until the client closes its side, so nothing it sent is cut or lost.
   */
  maxConnectionAge?: number;
}

export interface StreamListenerDeps {
  /** Flow control: the listener registers itself as a producer to be paused. */
  pipeline: Pick<Pipeline, 'addSource'>;
  counters: IngestCounters;
  log: Logger;
  protocol: (peer: string) => StreamProtocol;
  /** Take connections from here instead of listening (a worker of `workers: N`: the primary accepts them). */
  feed?: ConnectionFeed;
}

/** Node's default; a handshake (or a PROXY header) is never allowed longer than this, nor longer than the idle timeout. */
const TLS_HANDSHAKE_TIMEOUT_MS = 120_000;

/** maxConnectionAge is stretched by up to this fraction, at random, so connections opened together do not all reconnect together. */
const AGE_JITTER = 0.1;

/** Who is at the other end: the socket's peer, or the client a PROXY header names. */
interface Peer {
  /** The address alone: the per-client key. */
  readonly address: string;
  /** `address:port` (`[v6]:port`), for logs and the protocol. */
  readonly text: string;
}

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
  /** Fires at maxConnectionAge. */
  ageTimer: NodeJS.Timeout | null;
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
  private unregisterFeed: (() => void) | null = null;
  private readonly limited: RateLimitedLog;
  /**
   * With proxyProtocol over TLS: the client each header named, by the balancer-side `address:port` of its
   * connection (unique among open ones), until the handshake on it is over. The TLS server only hands back
   * the TLS socket, which has that address too.
   */
  private readonly proxied = new Map<string, Peer>();

  constructor(
    private readonly opts: StreamListenerOptions,
    private readonly deps: StreamListenerDeps,
  ) {
    this.limited = new RateLimitedLog(deps.log);
  }

  get name(): string {
    return this.opts.name;
  }

  /** The bound port (differs from the configured one when that was 0); fed by the primary, the configured one. */
  get port(): number {
    if (this.deps.feed !== undefined) return this.opts.port;
    const addr = this.server?.address();
    return addr !== null && typeof addr === 'object' ? addr.port : 0;
  }

  async start(): Promise<void> {
    const server = this.createServer();
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
    const feed = this.deps.feed;
    if (feed !== undefined) {
      this.unregisterFeed = feed.register(
        this.opts.name,
        (socket) => this.fed(server, socket),
        (remoteAddress) => server.emit('drop', { remoteAddress }),
      );
      this.unregister = this.deps.pipeline.addSource(this);
      this.deps.log.info('taking connections from the primary', { listener: this.opts.name, address: `${this.opts.host}:${this.opts.port}` });
      return;
    }
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

  /**
   * A connection the primary accepted: what the server's own accept would do with it. maxConnections is
   * this process's, as when each worker accepted for itself (Node checks it only on its own accepts).
   */
  private fed(server: net.Server, socket: net.Socket): void {
    socket.on('error', () => undefined);
    if (this.stopping || this.server !== server) {
      socket.destroy();
      return;
    }
    if (this.opts.maxConnections > 0 && this.rawSockets.size >= this.opts.maxConnections) {
      const remoteAddress = socket.remoteAddress;
      socket.destroy();
      server.emit('drop', { remoteAddress });
      return;
    }
    server.emit('connection', socket);
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
    this.unregisterFeed?.();
    this.unregisterFeed = null;
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

  private createServer(): net.Server {
    const proxy = this.opts.proxyProtocol === true;
    const secure = this.opts.tls === undefined ? undefined : this.tlsServer(this.opts.tls, !proxy);
    // the header comes in clear before any TLS: read it off the raw socket, then hand the socket to the TLS server
    if (proxy) return net.createServer((raw) => this.readProxyHeader(raw, secure));
    if (secure !== undefined) return secure;
    return net.createServer((socket) => {
      this.track(socket);
      const peer = peerOf(socket);
      if (this.admit(socket, peer)) this.onConnection(socket, peer);
    });
  }

  /** How long a TLS handshake or a PROXY header may take: the idle timeout, at most Node's handshake default. */
  private get handshakeTimeout(): number {
    const idle = this.opts.idleTimeout;
    return idle > 0 ? Math.min(idle, TLS_HANDSHAKE_TIMEOUT_MS) : TLS_HANDSHAKE_TIMEOUT_MS;
  }

  /**
   * The TLS server: the listening one, or (`listening` false, with proxyProtocol) one that is handed each
   * connection once its PROXY header is read. With a client CA it asks every client for a certificate and
   * verifies it against that CA; onSecure refuses the client before reading a byte from it. (Node's own
   * rejectUnauthorized would close it without saying why or who it was.)
   */
  private tlsServer(t: ListenerTls, listening: boolean): tls.Server {
    const clientAuth = t.clientCa === undefined ? {} : { ca: [...t.clientCa], requestCert: true, rejectUnauthorized: false };
    const server = tls.createServer({ cert: t.cert, key: t.key, minVersion: 'TLSv1.2', handshakeTimeout: this.handshakeTimeout, ...clientAuth }, (socket) => this.onSecure(socket));
    // the raw socket, before the handshake: a client's slots are taken from the first byte, not after it proves it speaks TLS
    if (listening) {
      server.on('connection', (raw: net.Socket) => {
        this.track(raw);
        this.admit(raw, peerOf(raw));
      });
    }
    server.on('tlsClientError', (err: Error & { code?: string }, sock: tls.TLSSocket) => {
      if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.deps.counters.idleTimeouts++;
      // ECONNRESET: the client went away mid-handshake (a TCP health check, a port probe); nothing was refused
      else if (err.code !== 'ECONNRESET') this.deps.counters.tlsHandshakeFailures++;
      const peer = this.tlsPeer(sock);
      this.limited.warn(`tls:${peer.address}`, 'TLS handshake with client failed', { listener: this.opts.name, peer: peer.text, reason: err.message });
      // Node reports a handshake timeout but leaves the socket open, holding its slot
      sock.destroy();
    });
    return server;
  }

  /** Who is at the other end of a TLS socket: the client its PROXY header named, else its peer. */
  private tlsPeer(socket: tls.TLSSocket): Peer {
    return this.proxied.get(`${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`) ?? peerOf(socket);
  }

  /** After the handshake: check and log the client certificate (when asked for), then serve the connection. */
  private onSecure(socket: tls.TLSSocket): void {
    const peer = this.tlsPeer(socket);
    const t = this.opts.tls;
    if (t?.clientCa !== undefined) {
      const cert = socket.getPeerCertificate();
      const presented = Object.keys(cert).length > 0;
      // requireClientCert false lets a client without a certificate in, never one with a certificate the CA did not sign
      if (!socket.authorized && (presented || t.requireClientCert !== false)) {
        this.deps.counters.tlsHandshakeFailures++;
        this.limited.warn(`tls:${peer.address}`, 'TLS client certificate refused', {
          listener: this.opts.name,
          peer: peer.text,
          ...(presented && { subject: certName(cert.subject) }),
          reason: presented ? String(socket.authorizationError) : 'no client certificate',
        });
        socket.destroy();
        return;
      }
      this.limited.info(`tls-client:${peer.address}:${presented ? certName(cert.subject) : ''}`, presented ? 'TLS client certificate accepted' : 'TLS client without a certificate', {
        listener: this.opts.name,
        peer: peer.text,
        ...(presented && { subject: certName(cert.subject), issuer: certName(cert.issuer) }),
      });
    }
    this.onConnection(socket, peer);
  }

  /**
   * With proxyProtocol: read the PROXY header off the raw socket (bounded in size, and in time like a TLS
   * handshake), then take the named client's slot and go on as any connection from it, bytes after the header
   * included. A missing, invalid or unfinished header closes the connection and is counted; a connection closed
   * before sending anything (a port probe) is not.
   */
  private readProxyHeader(raw: net.Socket, secure: tls.Server | undefined): void {
    this.track(raw);
    // the balancer (or whoever connected), until the header says otherwise; read now, as a closed socket has no address
    const socketPeer = peerOf(raw);
    const reader = new ProxyHeaderReader();
    let decided = false;
    // later errors are the connection's (onConnection, or the TLS socket, listens for them)
    raw.on('error', (err) => {
      if (!decided) this.deps.log.debug('receiver connection error', { listener: this.opts.name, peer: socketPeer.text, error: err.message });
    });
    const timeoutMs = this.handshakeTimeout;
    const timer = setTimeout(() => {
      decided = true;
      this.deps.counters.idleTimeouts++;
      this.limited.warn(`idle:${this.opts.name}`, 'closing connection: no complete PROXY protocol header within idleTimeout', {
        listener: this.opts.name,
        peer: socketPeer.text,
        timeoutMs,
      });
      raw.destroy();
    }, timeoutMs);
    timer.unref();
    const onData = (chunk: Buffer): void => {
      const result = reader.push(chunk);
      if (result.kind === 'need-more') return;
      decided = true;
      clearTimeout(timer);
      raw.off('data', onData);
      if (result.kind === 'invalid') return this.proxyProtocolError(raw, socketPeer, result.reason);
      // what followed the header goes back into the socket, for the protocol (or TLS) to read first
      raw.pause();
      const rest = reader.rest(result.consumed);
      if (rest.length > 0) raw.unshift(rest);
      // LOCAL (the balancer's own health check) and UNKNOWN name no client: the socket's peer stands
      const src = result.source;
      const peer = src === null ? socketPeer : { address: src.address, text: formatPeer(src.address, src.port) };
      if (!this.admit(raw, peer)) return;
      if (secure === undefined) return this.onConnection(raw, peer);
      // the handshake (and its timeout) is the TLS server's; bytes unshifted into `raw` are read before the kernel's
      const key = `${raw.remoteAddress ?? ''}:${raw.remotePort ?? 0}`;
      this.proxied.set(key, peer);
      raw.once('close', () => this.proxied.delete(key));
      secure.emit('connection', raw);
    };
    raw.on('data', onData);
    raw.on('close', () => {
      clearTimeout(timer);
      if (!decided && reader.received.length > 0 && !this.stopping) this.proxyProtocolError(raw, socketPeer, 'connection closed before the PROXY protocol header was complete');
    });
  }

  private proxyProtocolError(raw: net.Socket, peer: Peer, reason: string): void {
    this.deps.counters.proxyProtocolErrors++;
    this.limited.warn(`proxy:${peer.address}`, 'closing connection: no valid PROXY protocol header', { listener: this.opts.name, peer: peer.text, reason });
    raw.destroy();
  }

  /** Every accepted TCP socket until it closes, so stop() can close those still handshaking or sending a header. */
  private track(raw: net.Socket): void {
    this.rawSockets.add(raw);
    raw.on('close', () => this.rawSockets.delete(raw));
  }

  /** Take a slot for the client address; false (and the socket destroyed) when it has none left. */
  private admit(raw: net.Socket, client: Peer): boolean {
    const addr = client.address;
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
    raw.on('close', () => {
      const n = (this.perClient.get(addr) ?? 1) - 1;
      if (n > 0) this.perClient.set(addr, n);
      else this.perClient.delete(addr);
    });
    return true;
  }

  private onConnection(socket: net.Socket, client: Peer): void {
    const peer = client.text;
    const protocol = this.deps.protocol(peer);
    const counters = this.deps.counters;
    const c: Connection = { socket, peer, protocol, completed: protocol.completed, lastProgress: Date.now(), idleTimer: null, ageTimer: null, finished: false };
    this.connections.add(c);
    counters.activeConnections++;
    socket.setKeepAlive(true, 10_000);
    if (this.stopping) socket.end();
    if (this.opts.idleTimeout > 0) this.armIdle(c, this.opts.idleTimeout);
    const maxAge = this.opts.maxConnectionAge ?? 0;
    if (maxAge > 0) {
      c.ageTimer = setTimeout(() => this.onAged(c), maxAge * (1 + Math.random() * AGE_JITTER));
      c.ageTimer.unref();
    }
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
      if (c.ageTimer !== null) clearTimeout(c.ageTimer);
      this.connections.delete(c);
      counters.activeConnections--;
      if (this.connections.size === 0) this.onAllClosed?.();
    });
    // with its handlers in place: a socket a PROXY header was read off is paused, what followed the header unshifted into it
    if (this.paused) socket.pause();
    else socket.resume();
  }

  /**
   * maxConnectionAge: half-close. The client gets FIN (TLS: close_notify) between two of our reads, so no line
   * or frame is cut: we go on reading and handing on everything it sends until it closes its side (a client
   * that reads sees end-of-stream and reconnects, through the balancer, to whichever relay it picks).
   */
  private onAged(c: Connection): void {
    c.ageTimer = null;
    const s = c.socket;
    // already closing: the relay is stopping, or the client ended first
    if (s.destroyed || s.writableEnded) return;
    this.deps.counters.connectionsAged++;
    this.deps.log.debug('half-closing connection: older than maxConnectionAge', { listener: this.opts.name, peer: c.peer, maxConnectionAgeMs: this.opts.maxConnectionAge });
    s.end();
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

/** A certificate subject's or issuer's CN, else all its `k=v` pairs; bounded, as it is text the client chose. */
function certName(name: tls.Certificate | undefined): string {
  if (name === undefined) return '';
  const cn = name.CN as string | string[] | undefined;
  const text = cn !== undefined ? (Array.isArray(cn) ? cn.join(',') : cn) : Object.entries(name).map(([k, v]) => `${k}=${String(v)}`).join(', ');
  return text.slice(0, 200);
}

function peerOf(socket: net.Socket): Peer {
  const address = socket.remoteAddress ?? 'unknown';
  return { address, text: formatPeer(address, socket.remotePort ?? 0) };
}

function formatPeer(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
