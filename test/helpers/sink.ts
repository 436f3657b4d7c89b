import net from 'node:net';
import tls from 'node:tls';
import { Parser } from 'pickleparser';

/** One datapoint as a capture server saw it. */
export interface Captured {
  name: string;
  timestamp: number;
  value: number;
}

const strictParser = new Parser({
  nameResolver: {
    resolve(module: string, name: string): never {
      throw new Error(`forbidden global ${module}.${name}`);
    },
  },
});

/**
 * A real TCP (or TLS) server on 127.0.0.1 that plays a Carbon receiver. It keeps
 * the raw bytes and decodes them independently of our codec: pickle frames with
 * pickleparser (the design card's library, strict resolver), lines by splitting.
 */
export class CaptureServer {
  readonly chunks: Buffer[] = [];
  readonly frames: Buffer[] = [];
  readonly datapoints: Captured[] = [];
  connections = 0;
  /** Connections that have closed (read to their end, or reset). */
  closedConnections = 0;
  private server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly protocol: 'pickle' | 'line',
    tlsOptions?: tls.TlsOptions,
  ) {
    const onConn = (s: net.Socket): void => this.onConnection(s);
    this.server = tlsOptions ? tls.createServer(tlsOptions, onConn) : net.createServer(onConn);
  }

  /** Listen on `port` (0 = ephemeral) and resolve with the bound port. */
  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    return this.port;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get raw(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Close the listener and every connection (a destination going down). */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Stop reading from connected sockets (a slow destination). */
  pauseReading(): void {
    for (const s of this.sockets) s.pause();
  }

  resumeReading(): void {
    for (const s of this.sockets) s.resume();
  }

  private onConnection(s: net.Socket): void {
    this.connections++;
    this.sockets.add(s);
    s.on('close', () => {
      this.sockets.delete(s);
      this.closedConnections++;
    });
    s.on('error', () => undefined);
    // per connection: several senders (a relay's workers) write to one server at once
    let pending: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      pending = Buffer.concat([pending, chunk]);
      pending = this.protocol === 'pickle' ? this.takeFrames(pending) : this.takeLines(pending);
    });
  }

  /** Decodes the whole frames at the start of `pending`; returns what is left. */
  private takeFrames(pending: Buffer): Buffer {
    while (pending.length >= 4) {
      const len = pending.readUInt32BE(0);
      if (pending.length < 4 + len) break;
      const frame = pending.subarray(4, 4 + len);
      this.frames.push(Buffer.from(frame));
      const items = strictParser.parse<[string, [number, number]][]>(frame);
      for (const [name, [timestamp, value]] of items) this.datapoints.push({ name, timestamp, value });
      pending = pending.subarray(4 + len);
    }
    return pending;
  }

  private takeLines(pending: Buffer): Buffer {
    let nl: number;
    while ((nl = pending.indexOf(0x0a)) >= 0) {
      const line = pending.subarray(0, nl).toString('utf8');
      pending = pending.subarray(nl + 1);
      const [name, value, timestamp] = line.split(' ');
      this.datapoints.push({ name, value: Number(value), timestamp: Number(timestamp) });
    }
    return pending;
  }
}

/** Poll a condition (never a fixed sleep): resolves when it holds, rejects with `what` after timeoutMs. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Write bytes to a TCP port on 127.0.0.1 and close. */
export async function sendTcp(port: number, data: Buffer | string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(data));
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

/**
 * Line CaptureServers made by a test, closed after each test (call at the top
 * of a describe block). `capture()` starts one on an ephemeral port.
 */
export function capturesClosedAfterEach(): () => Promise<CaptureServer> {
  const servers: CaptureServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  return async () => {
    const s = new CaptureServer('line');
    await s.listen();
    servers.push(s);
    return s;
  };
}
