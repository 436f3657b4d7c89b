import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import { readCaCertificates } from '../../common/ca-certificates';
import type { Connection, Transport, TransportEvents } from './transport';

export interface TlsClientOptions {
  /** CA bundle (PEM file path). Unset, with caPath unset too: Node's bundled public roots (plus NODE_EXTRA_CA_CERTS). */
  ca?: string;
  /** A directory of CA certificates (see readCaDirectory), trusted besides `ca`'s. */
  caPath?: string;
  /** A client certificate and its key (PEM file paths), for a peer that asks for one. */
  cert?: string;
  key?: string;
  /** SNI and certificate hostname; defaults to the host. Required in practice when host is an IP. */
  servername?: string;
  /** Verify the peer certificate. Default true; turning it off is logged as a warning at startup. */
  rejectUnauthorized: boolean;
}

export interface SocketTransportOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  tls?: TlsClientOptions;
}

/** TCP or TLS client connection to a Carbon receiver. */
export class SocketTransport implements Transport {
  readonly description: string;
  readonly framing = 'stream';
  /** The files, read once when the destination is built (a reload that rebuilds it reads them again). */
  private readonly files: { ca?: Buffer[]; cert?: Buffer; key?: Buffer } = {};

  constructor(private readonly opts: SocketTransportOptions) {
    const hostPort = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
    this.description = opts.tls ? `tls://${hostPort}` : hostPort;
    const t = opts.tls;
    if (t !== undefined) {
      this.files.ca = readCaCertificates(t.ca, t.caPath);
      if (t.cert !== undefined && t.key !== undefined) {
        this.files.cert = fs.readFileSync(t.cert);
        this.files.key = fs.readFileSync(t.key);
      }
    }
  }

  connect(events: TransportEvents): Connection {
    const { host, port } = this.opts;
    const t = this.opts.tls;
    const socket = t
      ? tls.connect({
          host,
          port,
          servername: t.servername ?? (net.isIP(host) === 0 ? host : undefined),
          ...this.files,
          rejectUnauthorized: t.rejectUnauthorized,
          minVersion: 'TLSv1.2',
        })
      : net.connect({ host, port });
    let failure: Error | undefined;
    let connected = false;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.setTimeout(this.opts.connectTimeoutMs, () => {
      if (!connected) socket.destroy(new Error(`connect timeout after ${this.opts.connectTimeoutMs} ms`));
    });
    socket.once(t ? 'secureConnect' : 'connect', () => {
      connected = true;
      socket.setTimeout(0);
      events.onConnect();
    });
    socket.on('drain', () => events.onDrain());
    socket.on('error', (err) => {
      failure = err;
    });
    // Carbon receivers never talk back; read and discard so a peer's FIN is seen.
    socket.on('data', () => undefined);
    socket.on('end', () => socket.end());
    socket.once('close', () => events.onClose(failure));
    return {
      write: (chunk, flushed) =>
        socket.write(chunk, (err) => {
          if (err == null) flushed?.();
        }),
      end: () => socket.end(),
      destroy: () => socket.destroy(),
      get pendingBytes() {
        return socket.writableLength;
      },
    };
  }
}
