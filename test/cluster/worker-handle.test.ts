import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { workerHandle } from '../../src/cluster/worker-handle';
import { silentLogger } from '../../src/telemetry/logger';

const SCRIPT = path.join(__dirname, '../fixtures/cluster/scripted-worker.js');

describe('workerHandle: a forked worker as the primary talks to it', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('passes messages both ways', async () => {
    child = fork(SCRIPT, [], { env: { ...process.env, SCRIPTED_WORKER_INDEX: '3' }, stdio: 'ignore' });
    const handle = workerHandle(child, silentLogger(), 3);
    const messages: unknown[] = [];
    const answered = new Promise<void>((resolve) =>
      handle.onMessage((m) => {
        messages.push(m);
        if ((m as { cf: string }).cf === 'response') resolve();
      }),
    );
    handle.send({ cf: 'request', id: 7, op: 'status' });
    await answered;
    expect(handle.pid).toBe(child.pid);
    expect(messages).toEqual([{ cf: 'started' }, { cf: 'response', id: 7, ok: true, value: expect.objectContaining({ received: { total: 103 }, destinations: [] }) }]);
  });

  it('a send to a worker that died reaches onFailed, not an error event that would end the primary', async () => {
    child = fork(SCRIPT, [], { env: { ...process.env, SCRIPTED_WORKER_INDEX: '0' }, stdio: 'ignore' });
    const handle = workerHandle(child, silentLogger(), 0);
    const exited = new Promise<string | null>((resolve) => handle.onExit((_code, signal) => resolve(signal)));
    handle.kill();
    expect(await exited).toBe('SIGKILL');
    const failure = await new Promise<Error>((resolve) => handle.send({ cf: 'request', id: 1, op: 'status' }, resolve));
    expect(failure.message).toMatch(/channel closed|EPIPE/i);
  });
});
