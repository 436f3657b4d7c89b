import { PassThrough, Readable } from 'node:stream';
import type { CliIO } from '../../src/cli';
import { silentLogger } from '../../src/telemetry/logger';

export type CapturedIo = CliIO & { out: () => string; err: () => string };

/** IO for `main()` that records stdout and stderr; `silent` gives main() a silent logger instead of one built from the config. */
export function captureIo(opts: { stdin?: string; env?: NodeJS.ProcessEnv; silent?: boolean } = {}): CapturedIo {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    stdout,
    stderr,
    stdin: Readable.from([opts.stdin ?? '']),
    env: opts.env ?? {},
    ...(opts.silent === true && { log: silentLogger() }),
    out: () => out,
    err: () => err,
  };
}
