import type { CounterVisitor } from '../../telemetry/counters';

/** What a transport tells its destination about one connection. */
export interface TransportEvents {
  onConnect(): void;
  onDrain(): void;
  /** The connection is gone (or never came up); `error` says why when it failed. */
  onClose(error: Error | undefined): void;
  /**
   * For a connection that stays open while what is behind it is away (a
   * Kafka client whose brokers are all down): false until they are back.
   * The destination counts as down meanwhile (status, failover groups).
   */
  onPeerReachable?(reachable: boolean): void;
}

/** One open (or opening) connection. */
export interface Connection {
  /**
   * False means: stop writing until onDrain (Node's backpressure contract).
   * On a `message` transport each call carries exactly one whole encoded message.
   * `flushed` is called once the chunk has left the process (handed to the
   * kernel, the file; acknowledged by a broker), without an error; never for
   * a chunk that was still buffered when the connection closed. `rejected`:
   * datapoints of the chunk the peer refused for good (a broker's permanent
   * error), which the destination counts as dropped instead of sent.
   */
  write(chunk: Buffer, flushed?: (rejected?: number) => void): boolean;
  /** Flush what was written, then close; onClose follows. */
  end(): void;
  destroy(): void;
  /** Bytes accepted by write() but not yet handed to the kernel. */
  readonly pendingBytes: number;
}

/** How a destination reaches its peer: TCP, TLS, or a file. */
export interface Transport {
  /** For logs: `host:port`, `tls://host:port`, or a file path. Never contains secrets. */
  readonly description: string;
  /**
   * `stream`: a byte stream (TCP, TLS, a file); the destination coalesces
   * messages into large writes. `message`: each write() is one message (a
   * broker record, an HTTP request), so messages are never coalesced.
   */
  readonly framing: 'stream' | 'message';
  connect(events: TransportEvents): Connection;
  /** The transport's own counters (Kafka: messages, errors by kind), under the destination's path. */
  reportCounters?(visit: CounterVisitor): void;
}
