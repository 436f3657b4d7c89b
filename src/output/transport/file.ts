import fs from 'node:fs';
import type { Connection, Transport, TransportEvents } from './transport';

/** POSIX's minimum PIPE_BUF (Linux's too): a pipe write of at most this many bytes is never interleaved with another's. */
const PIPE_BUF = 4096;

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
    const done = (flushed: (() => void) | undefined) => (err: Error | null | undefined) => {
      if (err == null) flushed?.();
    };
    return {
      write: (chunk, flushed) => {
        if (owned || chunk.length <= PIPE_BUF) return stream.write(chunk, done(flushed));
        // stdout may be one pipe shared by several worker processes: only writes of at most PIPE_BUF bytes are
        // atomic there, so a large chunk goes out as pieces that end at a newline (whole lines never interleave)
        let ok = true;
        let start = 0;
        while (chunk.length - start > PIPE_BUF) {
          const nl = chunk.lastIndexOf(0x0a, start + PIPE_BUF - 1);
          const end = nl >= start ? nl + 1 : chunk.length;
          if (end === chunk.length) break;
          ok = stream.write(chunk.subarray(start, end)) && ok;
          start = end;
        }
        return stream.write(chunk.subarray(start), done(flushed)) && ok;
      },
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
