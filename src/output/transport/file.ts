import fs from 'node:fs';
import type { Connection, Transport, TransportEvents } from './transport';

/** Appends to a file, or writes to stdout for `-` (the shipped default config uses that). */
export class FileTransport implements Transport {
  readonly description: string;

  constructor(private readonly path: string) {
    this.description = path === '-' ? 'stdout' : `file:${path}`;
  }

  connect(events: TransportEvents): Connection {
    const stream = this.path === '-' ? process.stdout : fs.createWriteStream(this.path, { flags: 'a' });
    const owned = this.path !== '-';
    let closed = false;
    const close = (err: Error | undefined): void => {
      if (closed) return;
      closed = true;
      events.onClose(err);
    };
    stream.on('drain', () => events.onDrain());
    stream.on('error', (err) => {
      if (owned) (stream as fs.WriteStream).destroy();
      close(err);
    });
    if (owned) stream.on('close', () => close(undefined));
    if (owned) (stream as fs.WriteStream).once('open', () => events.onConnect());
    else setImmediate(() => events.onConnect());
    return {
      write: (chunk) => stream.write(chunk),
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
