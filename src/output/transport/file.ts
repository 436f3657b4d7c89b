import fs from 'node:fs';
import type { Connection, Transport, TransportEvents } from './transport';

/** Appends to a file, or writes to stdout for `-` (the shipped default config uses that). */
export class FileTransport implements Transport {
  readonly description: string;
  readonly framing = 'stream';

  constructor(private readonly path: string) {
    this.description = path === '-' ? 'stdout' : `file:${path}`;
  }

  connect(events: TransportEvents): Connection {
    const stream = this.path === '-' ? process.stdout : fs.createWriteStream(this.path, { flags: 'a' });
    const owned = this.path !== '-';
    let closed = false;
    const onDrain = (): void => events.onDrain();
    const onError = (err: Error): void => {
      if (owned) (stream as fs.WriteStream).destroy();
      close(err);
    };
    const close = (err: Error | undefined): void => {
      if (closed) return;
      closed = true;
      // stdout outlives this connection: leave no listeners on it
      stream.off('drain', onDrain);
      if (!owned) stream.off('error', onError);
      events.onClose(err);
    };
    const connected = (): void => {
      if (!closed) events.onConnect();
    };
    stream.on('drain', onDrain);
    stream.on('error', onError);
    if (owned) stream.on('close', () => close(undefined));
    if (owned) (stream as fs.WriteStream).once('open', connected);
    else setImmediate(connected);
    return {
      write: (chunk, flushed) =>
        stream.write(chunk, (err) => {
          if (err == null) flushed?.();
        }),
      end: () => {
        if (owned) stream.end();
        else close(undefined);
      },
      destroy: () => {
        if (owned) (stream as fs.WriteStream).destroy();
        close(undefined);
      },
      get pendingBytes() {
        return stream.writableLength;
      },
    };
  }
}
