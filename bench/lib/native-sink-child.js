// @ts-check
'use strict';
/**
 * sink-child.js's IPC, counted by the C sink (bench/native/pickle-sink.c):
 * this process only starts it and passes messages, so during a run the
 * sink's CPU is the C program's. argv: <binary> <name prefix> <port>.
 */
const { spawn } = require('node:child_process');
const readline = require('node:readline');
const { reportChildError } = require('./children');

const [bin, prefix, port] = process.argv.slice(2);
const sink = spawn(/** @type {string} */ (bin), [prefix ?? '', port ?? '0'], { stdio: ['pipe', 'pipe', 'inherit'] });

/** @param {{ type: string, [k: string]: unknown }} m */
function send(m) {
  if (process.send) process.send(m);
}

readline.createInterface({ input: /** @type {NodeJS.ReadableStream} */ (sink.stdout) }).on('line', (line) => {
  const sp = line.indexOf(' ');
  const kind = sp < 0 ? line : line.slice(0, sp);
  const rest = sp < 0 ? '' : line.slice(sp + 1);
  if (kind === 'listening') send({ type: 'listening', port: Number(rest) });
  else if (kind === 'connected') send({ type: 'connected', connections: Number(rest) });
  else if (kind === 'stats' || kind === 'reached') send({ type: kind, ...JSON.parse(rest) });
});
sink.on('exit', (code, signal) => reportChildError(new Error(`native sink exited (code ${code}, signal ${signal})`)));

process.on('message', (/** @type {{ type: string, total?: number }} */ m) => {
  if (m.type === 'expect') sink.stdin?.write(`expect ${Number(m.total)}\n`);
  else if (m.type === 'stats') sink.stdin?.write('stats\n');
});
const quit = () => {
  sink.removeAllListeners('exit');
  sink.kill('SIGKILL');
  process.exit(0);
};
process.on('disconnect', quit);
process.on('SIGTERM', quit);
