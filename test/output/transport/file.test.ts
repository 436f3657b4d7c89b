import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FileTransport } from '../../../src/output/transport/file';
import type { Connection } from '../../../src/output/transport/transport';
import { seededBytes } from '../../helpers/fixtures';
import { tempDirsRemovedAfterAll } from '../../helpers/relay';
import { waitFor } from '../../helpers/sink';
import { TransportRecorder as Recorder } from '../../helpers/transport-recorder';


const newDir = tempDirsRemovedAfterAll();
const codeOf = (e: Error | undefined): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

function connect(file: string): { conn: Connection; rec: Recorder } {
  const rec = new Recorder();
  return { conn: new FileTransport(file).connect(rec), rec };
}

/** One connection that writes `chunks`, then end() and wait for onClose. */
async function writeSession(file: string, ...chunks: string[]): Promise<Recorder> {
  const { conn, rec } = connect(file);
  await waitFor(() => rec.has('connect'), 'onConnect');
  for (const c of chunks) conn.write(Buffer.from(c));
  conn.end();
  await waitFor(() => rec.has('close'), 'onClose');
  return rec;
}

describe('FileTransport.description', () => {
  it('is file:<path> for a file and stdout for "-"', () => {
    expect(new FileTransport('/var/log/carbon-fanout/out.txt').description).toBe('file:/var/log/carbon-fanout/out.txt');
    expect(new FileTransport('relative/out.txt').description).toBe('file:relative/out.txt');
    expect(new FileTransport('-').description).toBe('stdout');
  });
});

describe('FileTransport on a file', () => {
  it('reports onConnect once the file is open, writes what it is given, and end() closes it: onClose(undefined)', async () => {
    const file = path.join(newDir(), 'out.txt');
    const { conn, rec } = connect(file);
    await waitFor(() => rec.has('connect'), 'onConnect');
    expect(fs.existsSync(file)).toBe(true);
    expect(conn.write(Buffer.from('a.b 1 1700000000\n'))).toBe(true);
    expect(conn.write(Buffer.from('c.d 2 1700000001\n'))).toBe(true);
    conn.end();
    await waitFor(() => rec.has('close'), 'onClose');
    expect(rec.events).toEqual(['connect', 'close']);
    expect(rec.closeError).toBeUndefined();
    expect(fs.readFileSync(file, 'utf8')).toBe('a.b 1 1700000000\nc.d 2 1700000001\n');
  });

  it('appends, never truncates: what was there and what each connection wrote are all kept, in order', async () => {
    const file = path.join(newDir(), 'out.txt');
    fs.writeFileSync(file, 'already.there 0 1700000000\n');
    expect((await writeSession(file, 'first.session 1 1700000001\n')).events).toEqual(['connect', 'close']);
    expect((await writeSession(file, 'second.session 2 1700000002\n', 'second.session 3 1700000003\n')).events).toEqual(['connect', 'close']);
    expect(fs.readFileSync(file, 'utf8')).toBe('already.there 0 1700000000\nfirst.session 1 1700000001\nsecond.session 2 1700000002\nsecond.session 3 1700000003\n');
  });

  it('after write() returns false, onDrain follows once the data is in the file', async () => {
    const file = path.join(newDir(), 'big.bin');
    const { conn, rec } = connect(file);
    await waitFor(() => rec.has('connect'), 'onConnect');
    const data = seededBytes(9, 1024 * 1024);
    expect(conn.write(data)).toBe(false);
    expect(conn.pendingBytes).toBe(data.length);
    await waitFor(() => rec.has('drain'), 'onDrain');
    expect(rec.events).toEqual(['connect', 'drain']);
    expect(conn.pendingBytes).toBe(0);
    conn.end();
    await waitFor(() => rec.has('close'), 'onClose');
    expect(fs.readFileSync(file).equals(data)).toBe(true);
  });

  it.each<[string, (dir: string) => string, string]>([
    ['a directory', (dir) => dir, 'EISDIR'],
    ['a file in a directory that does not exist', (dir) => path.join(dir, 'missing', 'out.txt'), 'ENOENT'],
  ])('a path that cannot be opened (%s) reports onClose with the error and never onConnect', async (_what, pathIn, code) => {
    const { rec } = connect(pathIn(newDir()));
    await waitFor(() => rec.has('close'), 'onClose');
    expect(rec.events).toEqual(['close']);
    expect(codeOf(rec.closeError)).toBe(code);
  });

  it('destroy() before the file is open reports onClose(undefined) and never onConnect afterwards', async () => {
    // Opening a FIFO for writing blocks until a reader opens it, so the open is still pending when destroy() is called.
    const fifo = path.join(newDir(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    const { conn, rec } = connect(fifo);
    conn.destroy();
    expect(rec.events).toEqual(['close']);
    expect(rec.closeError).toBeUndefined();
    // Let the open complete: the reader sees EOF only after the transport's stream closed the fd it opened.
    const reader = fs.createReadStream(fifo);
    reader.resume();
    let eof = false;
    reader.on('end', () => (eof = true));
    await waitFor(() => eof, 'the write end of the FIFO opened and closed again');
    expect(rec.events).toEqual(['close']);
  });
});

describe('FileTransport on stdout ("-")', () => {
  it('reports onConnect without opening anything; end() reports onClose(undefined) and leaves stdout open', async () => {
    const { conn, rec } = connect('-');
    await waitFor(() => rec.has('connect'), 'onConnect');
    conn.end();
    expect(rec.events).toEqual(['connect', 'close']);
    expect(rec.closeError).toBeUndefined();
    expect(process.stdout.destroyed).toBe(false);
    expect(process.stdout.writable).toBe(true);
  });

  it('a closed stdout connection leaves no listeners behind on process.stdout', async () => {
    const before = { drain: process.stdout.listenerCount('drain'), error: process.stdout.listenerCount('error') };
    const { conn, rec } = connect('-');
    await waitFor(() => rec.has('connect'), 'onConnect');
    conn.end();
    expect(rec.has('close')).toBe(true);
    expect({ drain: process.stdout.listenerCount('drain'), error: process.stdout.listenerCount('error') }).toEqual(before);
  });
});
