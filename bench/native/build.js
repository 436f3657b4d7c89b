// @ts-check
'use strict';
/**
 * Compiles bench/native/pickle-sink.c once (with the machine's `cc`, -O2) into
 * bench/native/.build/<the source's hash>/ (git-ignored), and returns the
 * binary's path; undefined (with the reason) when there is no C compiler or
 * the build fails: the bench then counts with the JavaScript sink.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const SOURCE = path.join(__dirname, 'pickle-sink.c');

/** @returns {{ bin: string } | { bin: undefined, why: string }} */
function nativeSink() {
  const src = fs.readFileSync(SOURCE);
  const hash = crypto.createHash('sha256').update(src).digest('hex').slice(0, 12);
  // beside the source, not in the shared temp dir, where another user could leave a binary of theirs under this name
  const dir = path.join(__dirname, '.build', hash);
  const bin = path.join(dir, 'pickle-sink');
  if (fs.existsSync(bin)) return { bin };
  try {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}`;
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-o', tmp, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    fs.renameSync(tmp, bin);
    return { bin };
  } catch (err) {
    const e = /** @type {{ stderr?: Buffer, message: string }} */ (err);
    return { bin: undefined, why: (e.stderr?.toString().trim() || e.message).split('\n')[0] ?? 'unknown' };
  }
}

module.exports = { nativeSink };
