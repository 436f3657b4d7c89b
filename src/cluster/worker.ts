import net from 'node:net';
import path from 'node:path';
import type { RelayConfig } from '../config/load';
import type { ConnectionFeed } from '../ingest/connection-feed';
import { Relay, type ReloadOutcome } from '../relay/relay';
import { drainRelay, type DrainOutcome } from '../relay/run';
import type { Logger } from '../telemetry/logger';
import { defaultSelfMetricsPrefix } from '../telemetry/self-metrics';
import { isPrimaryMessage, type PrimaryMessage, type WorkerMessage } from './protocol';

/**
 * The part of a config one worker runs. Receivers on TCP and UDP run in every
 * worker (they share the ports). Parts whose state must be whole run in
 * worker 0 only: the HTTP front door (`/imp` sums and `/tdiff` start times
 * are per process) and pull sources (N pollers would fetch everything N
 * times). Worker 0 keeps `dataDir` itself, so going from 1 worker to N and
 * back keeps its spools and the sources' positions; worker i > 0 gets
 * `dataDir/workers/<i>` (its own spools and locks). Self-metrics carry the
 * worker (`<prefix>-w<i>`) so workers' counters never overwrite each other,
 * and so does a log file (`relay-w<i>.log`).
 */
export function workerView(config: RelayConfig, index: number): RelayConfig {
  const first = index === 0;
  return {
    ...config,
    admin: false,
    dataDir: config.dataDir === undefined || first ? config.dataDir : workerDataDir(config.dataDir, index),
    sources: first ? config.sources : [],
    listen: first ? config.listen : { ...config.listen, http: undefined },
    selfMetrics: { ...config.selfMetrics, prefix: `${config.selfMetrics.prefix ?? defaultSelfMetricsPrefix()}-w${index}` },
    // one writer per file: each process rotates its own by size
    logFile: config.logFile === undefined ? undefined : { ...config.logFile, path: workerLogPath(config.logFile.path, index) },
  };
}

/** `relay.log` -> `relay-w1.log`: worker i's own log file (the primary writes `logFile.path` itself). */
export function workerLogPath(file: string, index: number): string {
  const ext = path.extname(file);
  return path.join(path.dirname(file), `${path.basename(file, ext)}-w${index}${ext}`);
}

/** Where worker `index` (> 0) keeps its spools. */
export function workerDataDir(dataDir: string, index: number): string {
  return path.join(dataDir, 'workers', String(index));
}

/** The process side of the IPC channel (process itself in a forked worker). */
export interface PrimaryChannel {
  readonly connected: boolean;
  /** The callback takes a failed send (the primary just died): without one Node raises it as an 'error' event. */
  send(message: WorkerMessage, sendHandle: undefined, callback: (error: Error | null) => void): unknown;
  /** `handle`: the socket sent with a `connection` message. */
  on(event: 'message', listener: (message: unknown, handle?: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  disconnect(): void;
}

export interface WorkerDeps {
  index: number;
  channel: PrimaryChannel;
  log: Logger;
  /** Re-read the config and apply it to this worker's relay (the CLI's reload, with workerView applied). */
  reload: (relay: Relay) => Promise<ReloadOutcome>;
  /** Resolves with a signal name when the process itself is asked to stop (SIGTERM/SIGINT to the process group). */
  signalled: Promise<string>;
}

const STATUS_TICK_MS = 1000;

/**
 * One worker process: runs a relay on its view of the config, answers the
 * primary's requests (status, metrics, reload), and drains on the primary's
 * `stop`, on SIGTERM/SIGINT sent to it directly (after shutdownGrace, as a
 * single process would), or at once when the primary is gone. Returns the
 * exit code.
 */
export async function runWorker(config: RelayConfig, deps: WorkerDeps): Promise<number> {
  const { channel, log } = deps;
  const send = (m: WorkerMessage): void => {
    // a failure means the primary is gone: 'disconnect' follows and drains this worker
    if (channel.connected) channel.send(m, undefined, () => undefined);
  };
  const feed = new HandedConnections((listener) => send({ cf: 'closed', listener }));
  const relay = Relay.fromConfig(config, { log, feed });
  try {
    await relay.start();
  } catch (err) {
    const error = (err as Error).message;
    log.error('startup failed', { error });
    await relay.stop(Date.now());
    send({ cf: 'failed', error });
    channel.disconnect();
    return 1;
  }
  const status = relay.topology.status;
  const ticker = setInterval(() => status.tick(), STATUS_TICK_MS);
  ticker.unref();

  let stopNow: (reason: string) => void = () => undefined;
  const stopped = new Promise<{ reason: string; graceMs: number }>((resolve) => {
    stopNow = (reason) => resolve({ reason, graceMs: 0 });
    void deps.signalled.then((signal) => resolve({ reason: signal, graceMs: relay.config.shutdownGraceMs }));
  });
  channel.on('message', (m: unknown, handle?: unknown) => {
    if (!isPrimaryMessage(m)) return;
    if (m.cf === 'connection') {
      // a handle lost on the way (Node drops one it cannot pass): still answer, so the primary's count stays right
      if (handle instanceof net.Socket) feed.hand(m.listener, handle);
      else send({ cf: 'closed', listener: m.listener });
    } else if (m.cf === 'refused') feed.refused(m.listener, m.remoteAddress);
    else if (m.cf === 'stop') stopNow('primary');
    else void answer(m, relay, deps).then(send);
  });
  channel.on('disconnect', () => {
    log.error('the primary process is gone: draining and exiting', { worker: deps.index });
    stopNow('primary gone');
  });
  send({ cf: 'started' });
  log.info('worker started', { worker: deps.index, pid: process.pid });

  const { reason, graceMs } = await stopped;
  clearInterval(ticker);
  const outcome: DrainOutcome = await drainRelay(relay, log, reason, graceMs);
  send({ cf: 'stopped', outcome });
  if (channel.connected) channel.disconnect();
  return 0;
}

async function answer(m: Extract<PrimaryMessage, { cf: 'request' }>, relay: Relay, deps: WorkerDeps): Promise<WorkerMessage> {
  try {
    const value =
      m.op === 'status' ? relay.topology.status.snapshot() : m.op === 'metrics' ? await relay.topology.prometheus().json() : await deps.reload(relay);
    return { cf: 'response', id: m.id, ok: true, value };
  } catch (err) {
    return { cf: 'response', id: m.id, ok: false, error: (err as Error).message };
  }
}

/**
 * The connections the primary hands this worker, passed to the receiver
 * registered under the listener's name (none while a reload rebinds it: the
 * connection is closed and its sender reconnects). Each one's close is
 * reported, so the primary knows how many every worker holds.
 */
export class HandedConnections implements ConnectionFeed {
  private readonly accepting = new Map<string, { accept: (socket: net.Socket) => void; refused: (remoteAddress: string) => void }>();

  constructor(private readonly closed: (listener: string) => void) {}

  register(name: string, accept: (socket: net.Socket) => void, refused: (remoteAddress: string) => void): () => void {
    const entry = { accept, refused };
    this.accepting.set(name, entry);
    return () => {
      if (this.accepting.get(name) === entry) this.accepting.delete(name);
    };
  }

  /** The primary refused a connection for `listener` (relay-wide maxConnections): this worker counts and logs it. */
  refused(listener: string, remoteAddress: string): void {
    this.accepting.get(listener)?.refused(remoteAddress);
  }

  hand(listener: string, socket: net.Socket): void {
    socket.once('close', () => this.closed(listener));
    const entry = this.accepting.get(listener);
    if (entry === undefined) {
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    entry.accept(socket);
  }
}
