import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';

/**
 * Checks on the files and directories a configuration names, run at load so
 * that `check`, `start` and every reload refuse a config the relay could not
 * run on (a TLS key it cannot read would otherwise only fail once a listener
 * or a connection needs it). Each returns what is wrong, or undefined; the
 * text names the path and the system's reason, never a file's contents.
 */

/** `ENOENT (no such file or directory)` from a Node fs error: the code and the system's words, without the path Node repeats. */
function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words = /^[A-Z]+: ([^,]+)/.exec(e.message)?.[1];
  return e.code === undefined ? e.message : words === undefined ? e.code : `${e.code} (${words})`;
}

type Read = { text: string; problem?: undefined } | { problem: string };

/** The text of a regular file the relay reads. */
function readRegularFile(file: string): Read {
  try {
    if (fs.statSync(file).isDirectory()) return { problem: `cannot read ${file}: it is a directory` };
    return { text: fs.readFileSync(file, 'utf8') };
  } catch (err) {
    return { problem: `cannot read ${file}: ${reason(err)}` };
  }
}

/** A file read once (at start, or when its part is rebuilt): it must be there and readable. */
export function unreadable(file: string): string | undefined {
  return readRegularFile(file).problem;
}

/**
 * A file re-read whenever it changes (filter lists, aggregation rules): as in
 * carbon, a missing one means an empty list until it appears, so only one
 * that exists and cannot be read is a problem.
 */
export function unreadableIfPresent(file: string): string | undefined {
  return fs.existsSync(file) ? unreadable(file) : undefined;
}

/** A PEM certificate and its private key, as a TLS server or client presents them: both readable, and a pair. */
export function unusableKeyPair(certFile: string, keyFile: string): { problem: string; at: 'cert' | 'key' } | undefined {
  const cert = readRegularFile(certFile);
  if (cert.problem !== undefined) return { problem: cert.problem, at: 'cert' };
  const key = readRegularFile(keyFile);
  if (key.problem !== undefined) return { problem: key.problem, at: 'key' };
  try {
    tls.createSecureContext({ cert: cert.text, key: key.text });
  } catch (err) {
    // OpenSSL's reason (no start line, key values mismatch) names no secret
    return { problem: `${certFile} and ${keyFile} are not a PEM certificate and its private key: ${(err as Error).message}`, at: 'cert' };
  }
  return undefined;
}

/** A CA bundle: readable and holding a PEM certificate (Node would silently trust nothing from a file that holds none). */
export function unusableCa(file: string): string | undefined {
  const ca = readRegularFile(file);
  if (ca.problem !== undefined) return ca.problem;
  try {
    new X509Certificate(ca.text);
  } catch {
    return `${file} holds no PEM certificate`;
  }
  return undefined;
}

/** A directory the relay keeps state in (dataDir): created at start when missing; one that exists must be a writable directory. */
export function unusableStateDir(dir: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : `cannot use ${dir}: ${reason(err)}`;
  }
  if (!stat.isDirectory()) return `${dir} is not a directory`;
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    return `cannot write in ${dir}: ${reason(err)}`;
  }
  return undefined;
}

/**
 * A file the relay appends to: not a directory, and writable if it exists. A
 * missing one (or a missing directory) is left to the destination, which
 * retries opening it with backoff and counts each failure, so a directory
 * mounted after start still works.
 */
export function unwritableOutputFile(file: string): string | undefined {
  try {
    if (fs.statSync(file).isDirectory()) return `cannot write to ${file}: it is a directory`;
    fs.accessSync(file, fs.constants.W_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return `cannot write to ${file}: ${reason(err)}`;
  }
  return undefined;
}
