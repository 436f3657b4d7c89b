import type { ChildProcess } from 'node:child_process';

/** Every process a test helper started and that has not exited: killed if the test process exits first. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * A daemon a test started (carbon, HAProxy, ...): keeps the last `maxLog`
 * characters of what it printed, knows how it ended, and stops with SIGTERM
 * then SIGKILL.
 */
export class WatchedProcess {
  private text = '';
  private status: string | null = null;
  readonly exited: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    maxLog: number,
  ) {
    live.add(child);
    const keep = (c: Buffer): void => {
      this.text += c.toString('utf8');
      if (this.text.length > maxLog) this.text = this.text.slice(-maxLog);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.status = `exited with ${code ?? signal}`;
        live.delete(child);
        resolve();
      });
      // A failed spawn (no such program) may never emit 'exit'.
      child.once('error', (e) => {
        this.text += `\nspawn error: ${e.message}`;
        if (child.pid === undefined) {
          this.status = `failed to start: ${e.message}`;
          live.delete(child);
          resolve();
        }
      });
    });
  }

  /** Everything it printed so far (the last maxLog characters). */
  get output(): string {
    return this.text;
  }

  /** How it ended (`exited with 0`, `failed to start: ...`), or null while it runs. */
  get exitStatus(): string | null {
    return this.status;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Safe to call twice. */
  async stop(graceMs: number): Promise<void> {
    if (this.status !== null) return;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([this.exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
