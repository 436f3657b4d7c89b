import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { sendTcp, waitFor } from '../helpers/sink';

const ROOT = path.resolve(__dirname, '../..');

/**
 * The README's first command: the built CLI on the shipped config/relay.yaml,
 * with nothing else running, relays what it receives to stdout.
 */
describe('README quick start: carbon-fanout start on the shipped config', () => {
  let child: ChildProcess;
  let stdout = '';
  let stderr = '';

  beforeAll(async () => {
    child = spawn(process.execPath, ['dist/cli.js', 'start', '-c', 'config/relay.yaml'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // logged once every receiver listens, whether one process or a primary and its workers (workers: auto)
    await waitFor(() => stderr.includes('"message":"carbon-fanout started"'), 'relay listening on 2003, 2004 and 8080', 20_000);
  });

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('relays TCP lines, UDP lines, pickle and HTTP to stdout, then exits 0 on SIGTERM after flushing', async () => {
    await sendTcp(2003, 'quickstart.tcp 1 1700000000\n');
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.send('quickstart.udp 2 1700000001\n', 2003, '127.0.0.1', () => r()));
    udp.close();
    const name = Buffer.from('quickstart.pickle');
    const payload = Buffer.concat([
      Buffer.from([0x80, 2, 0x5d, 0x28, 0x58, name.length, 0, 0, 0]),
      name,
      Buffer.from([0x4a]),
      Buffer.from(new Int32Array([1700000002]).buffer),
      Buffer.from([0x4b, 3, 0x86, 0x86, 0x65, 0x2e]),
    ]);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(payload.length);
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(2004, '127.0.0.1', () => s.end(Buffer.concat([header, payload])));
      s.on('error', reject);
      s.on('close', () => resolve());
    });
    const res = await fetch('http://127.0.0.1:8080/feed/quickstart.http/4/1700000003');
    expect([res.status, await res.text()]).toEqual([200, 'ok\n']);
    await waitFor(() => stdout.split('\n').filter((l) => l.startsWith('quickstart.')).length === 4, 'four lines on stdout');

    // SIGUSR1 would open Node's unauthenticated inspector on 127.0.0.1:9229: the relay keeps it closed and keeps running
    child.kill('SIGUSR1');
    await waitFor(() => stderr.includes('SIGUSR1 ignored'), 'the SIGUSR1 warning');
    expect(stderr).not.toContain('Debugger listening');
    const inspector = await new Promise<string>((resolve) => {
      const s = net.connect(9229, '127.0.0.1', () => {
        s.destroy();
        resolve('open');
      });
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(inspector).toBe('ECONNREFUSED');
    expect(child.exitCode).toBeNull();

    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout.split('\n').filter((l) => l.startsWith('quickstart.')).sort()).toEqual([
      'quickstart.http 4 1700000003',
      'quickstart.pickle 3 1700000002',
      'quickstart.tcp 1 1700000000',
      'quickstart.udp 2 1700000001',
    ]);
    expect(stderr).toContain('shutdown complete');
  }, 30_000);
});
