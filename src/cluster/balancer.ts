import net from 'node:net';
import type { StreamListenerAddress } from '../relay/topology';
import type { Logger } from '../telemetry/logger';
import { RateLimitedLog } from '../telemetry/rate-limited-log';


/** Where a connection goes: the chosen worker's hand-over (undefined: no worker is running). */
export type ConnectionTarget = (listener: string, socket: net.Socket) => boolean;

interface Bound {
  readonly address: StreamListenerAddress;
  readonly server: net.Server;
}

/**
 * The primary's side of the TCP receivers with `workers: N`: it listens on
 * their addresses and hands each connection, unread, to a worker chosen by
 * `target` (the one holding the fewest). Node's cluster round-robin gives a
 * burst of connections to whichever worker acknowledges first (4 arriving
 * together went 3 to 1), and a relay tier that reconnects together is such a
 * burst. UDP and the HTTP front door stay with cluster.
 */
export class ConnectionBalancer {
  private readonly bound = new Map<string, Bound>();
  private readonly limited: RateLimitedLog;
  /** close() has run: a reload still binding must not open listeners again. */
  private closed = false;
  /** Connections closed at once because no worker was running (one restarting alone never causes this). */
  refused = 0;

  constructor(
    private readonly target: ConnectionTarget,
    private readonly log: Logger,
  ) {
    this.limited = new RateLimitedLog(log);
  }

  /** Listens on every address; if one cannot be bound, closes those that were and rejects naming it. */
  async bind(addresses: readonly StreamListenerAddress[]): Promise<void> {
    try {
      for (const a of addresses) await this.listen(a);
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * A reload: addresses that changed are closed and bound anew (their open
   * connections stay with the workers), new ones bound, removed ones closed.
   * Returns what could not be bound, in words.
   */
  async reconfigure(addresses: readonly StreamListenerAddress[]): Promise<string[]> {
    const failed: string[] = [];
    const wanted = new Map(addresses.map((a) => [a.name, a]));
    for (const [name, b] of [...this.bound]) {
      if (!wanted.has(name)) {
        this.bound.delete(name);
        await closeServer(b.server);
      }
    }
    for (const a of addresses) {
      const old = this.bound.get(a.name);
      if (old !== undefined && a.host === old.address.host && a.port === old.address.port) continue;
      // the new address first: if it cannot be bound, the receiver keeps the one it has
      try {
        await this.listen(a);
      } catch (err) {
        failed.push((err as Error).message);
        continue;
      }
      if (old !== undefined) await closeServer(old.server);
    }
    return failed;
  }

  /** Stops accepting (connections already handed over are the workers'). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.bound.values()];
    this.bound.clear();
    await Promise.all(all.map((b) => closeServer(b.server)));
  }

  /** The bound port of a listener (differs from the configured one when that was 0). */
  port(name: string): number {
    const addr = this.bound.get(name)?.server.address();
    return addr !== null && typeof addr === 'object' ? addr.port : 0;
  }

  private async listen(a: StreamListenerAddress): Promise<void> {
    // paused: not a byte is read here, so the worker sees the connection from its first byte
    const server = net.createServer({ pauseOnConnect: true }, (socket) => this.onConnection(a.name, socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`listener ${a.name} on ${a.host}:${a.port}: ${err.message}`)));
      server.listen({ host: a.host, port: a.port }, () => resolve());
    });
    if (this.closed) {
      await closeServer(server);
      return;
    }
    server.on('error', (err) => this.log.error('listener error', { listener: a.name, error: err.message }));
    this.bound.set(a.name, { address: a, server });
    this.log.info('listening', { listener: a.name, address: `${a.host}:${this.port(a.name)}`, handedTo: 'workers' });
  }

  private onConnection(listener: string, socket: net.Socket): void {
    socket.on('error', () => undefined);
    if (this.target(listener, socket)) return;
    this.refused++;
    this.limited.warn(`no-worker:${listener}`, 'connection closed: no worker is running to take it', { listener, peer: socket.remoteAddress });
    socket.destroy();
  }
}

/**
 * Stops listening. Not waiting for 'close': once a socket of this server has
 * been sent to a worker, Node fires it only when every worker has closed every
 * such socket, which could be never (the workers drain after this).
 */
function closeServer(server: net.Server): Promise<void> {
  server.close();
  return new Promise((resolve) => setImmediate(resolve));
}
