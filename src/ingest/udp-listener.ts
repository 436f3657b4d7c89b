import dgram from 'node:dgram';
import net from 'node:net';
import { cleanStop, type Component, type StopReport } from '../model/component';
import type { Logger } from '../telemetry/logger';
import type { LineProtocol } from './line-protocol';

export interface UdpListenerOptions {
  host: string;
  port: number;
}

/**
 * Plaintext over UDP: each datagram holds one or more lines. UDP cannot be
 * paused; under pressure, full destination queues drop and count instead.
 */
export class UdpListener implements Component {
  readonly name = 'line-udp';
  private socket: dgram.Socket | null = null;

  constructor(
    private readonly opts: UdpListenerOptions,
    private readonly deps: { log: Logger; protocol: (peer: string) => LineProtocol },
  ) {}

  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  async start(): Promise<void> {
    const socket = dgram.createSocket({ type: net.isIPv6(this.opts.host) ? 'udp6' : 'udp4' });
    this.socket = socket;
    // Datagrams carry no state between them, so one decoder serves every peer.
    const protocol = this.deps.protocol('udp');
    socket.on('message', (msg, rinfo) => protocol.onDatagram(msg, `${rinfo.address}:${rinfo.port}`));
    socket.on('error', (err) => this.deps.log.error('UDP listener error', { error: err.message }));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.opts.port, this.opts.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.deps.log.info('listening', { listener: this.name, address: `${this.opts.host}:${this.port}` });
  }

  async stop(_deadline: number): Promise<StopReport> {
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) await new Promise<void>((resolve) => socket.close(() => resolve()));
    return cleanStop(this.name);
  }
}
