import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { freePorts } from '../helpers/carbon';
import { tempDirsRemovedAfterAll } from '../helpers/relay';
import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';
import { spoolSegmentBytes } from '../helpers/spool';

const ROOT = path.resolve(__dirname, '../..');
const newDir = tempDirsRemovedAfterAll();

/** The built relay as a real process, so it can be killed with SIGKILL. */
async function startRelayProcess(configFile: string): Promise<{ child: ChildProcess; stderr: () => string }> {
  let stderr = '';
  const child = spawn(process.execPath, ['dist/cli.js', 'start', '-c', configFile], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitFor(() => stderr.includes('"message":"carbon-fanout started"') || child.exitCode !== null, 'relay listening', 20_000);
  if (child.exitCode !== null) throw new Error(`relay exited: ${stderr}`);
  return { child, stderr: () => stderr };
}


describe.each(['always', 'overflow'] as const)('spool: SIGKILL with mode %s and the destination down', (mode) => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('what was synced before the kill is delivered after the restart, every datapoint exactly once', async () => {
    const dir = newDir();
    const [listenPort, destPort] = await freePorts(2);
    const file = path.join(dir, 'relay.yaml');
    fs.writeFileSync(
      file,
      YAML.stringify({
        logLevel: 'info',
        dataDir: 'state',
        selfMetrics: { interval: 0 },
        // one process: this is the crash of a whole relay (test/interop/workers.test.ts kills a worker)
        workers: 1,
        admin: { port: 0 },
        listen: { line: { tcp: { host: '127.0.0.1', port: listenPort } } },
        destinations: [{ name: 'cache', host: '127.0.0.1', port: destPort, protocol: 'line', reconnect: { initialDelay: '50ms', maxDelay: '100ms' }, spool: { mode, syncInterval: '100ms' } }],
        rules: [{ default: true, destinations: ['cache'] }],
      }),
    );
    const dataDir = path.join(dir, 'state');
    const first = await startRelayProcess(file);
    children.push(first.child);
    const sent = 50_000;
    let body = '';
    for (let i = 0; i < sent; i++) body += `crash.m${i % 100} ${i} ${1_700_000_000 + i}\n`;
    await sendTcp(listenPort, body);
    // every record on disk and synced: the segment files stop growing for several sync intervals
    let last = -1;
    let stableSince = Date.now();
    await waitFor(() => {
      const now = spoolSegmentBytes(dataDir);
      if (now !== last) {
        last = now;
        stableSince = Date.now();
      }
      return now > 0 && Date.now() - stableSince > 1000;
    }, 'spool written and synced', 20_000);
    // SIGHUP reloads the configuration; it never kills the relay (and its queues) on the spot
    first.child.kill('SIGHUP');
    await waitFor(() => /reload: configuration unchanged/.test(first.stderr()), 'SIGHUP reloads (nothing changed)');
    expect(first.child.exitCode).toBeNull();
    const killed = new Promise<void>((r) => first.child.once('exit', () => r()));
    first.child.kill('SIGKILL');
    await killed;

    const sink = new CaptureServer('line');
    await sink.listen(destPort);
    const second = await startRelayProcess(file);
    children.push(second.child);
    try {
      await waitFor(() => sink.datapoints.length >= sent, 'everything delivered after the restart', 30_000);
      expect(sink.datapoints.length).toBe(sent);
      expect(new Set(sink.datapoints.map((p) => p.value)).size).toBe(sent);
      expect(second.stderr()).toMatch(/stale|lock/i); // the dead process's lock was taken over, with a warning
    } finally {
      second.child.kill('SIGTERM');
      await new Promise<void>((r) => (second.child.exitCode !== null ? r() : second.child.once('exit', () => r())));
      await sink.close();
    }
  }, 60_000);
});
