import { spawn } from 'node:child_process';
import fs from 'node:fs';

/**
 * Debian's interpreter. graphite-carbon and python3-whisper are installed for
 * it only; a pyenv/venv `python3` earlier on PATH would lack both.
 */
export const PYTHON3 = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export interface RunPythonOptions {
  /** Bytes for the script's stdin (closed afterwards; empty when absent). */
  input?: Buffer | string;
  /** sys.argv[1:] */
  args?: readonly string[];
  /** The script is killed after this long. */
  timeoutMs?: number;
}

/** Run `python3 -c script args...` and resolve with its stdout; rejects (with stderr) on a non-zero exit. */
export function runPython(script: string, opts: RunPythonOptions = {}): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const child = spawn(PYTHON3, ['-c', script, ...(opts.args ?? [])], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${PYTHON3} exited with ${code ?? signal}:\n${Buffer.concat(err).toString('utf8')}`));
    });
    child.stdin.on('error', () => undefined); // EPIPE when the script fails before reading
    child.stdin.end(opts.input ?? '');
  });
}

/** runPython, with stdout parsed as JSON. */
export async function runPythonJson<T>(script: string, opts: RunPythonOptions = {}): Promise<T> {
  const out = await runPython(script, opts);
  return JSON.parse(out.toString('utf8')) as T;
}

/**
 * The double a Python float repr() stands for. repr() is the shortest string
 * that round-trips, so this is exact (and keeps -0.0 apart from 0.0).
 */
export function fromPyRepr(repr: string): number {
  switch (repr) {
    case 'inf': return Infinity;
    case '-inf': return -Infinity;
    case 'nan': return NaN;
  }
  if (!/^-?\d+(\.\d+)?(e[+-]\d+)?$/.test(repr)) throw new Error(`not a Python float repr: ${JSON.stringify(repr)}`);
  return Number(repr);
}
