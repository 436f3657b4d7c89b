// @ts-check
'use strict';
/**
 * Counting sink, run as its own process (fork) so its CPU does not compete
 * with the relay's event loop. Listens on 127.0.0.1:0 and counts the
 * datapoints of every pickle frame exactly (see pickle-count.js), or with
 * argv[4] = 'line' every plaintext line. With a name prefix as argv[2], only
 * names starting with it count toward the expected total. Pickle frames of
 * another pickler (Python's, from carbon-relay) are counted too.
 *
 * IPC, parent -> sink: {type:'expect', total}  {type:'stats'}
 * IPC, sink -> parent: {type:'listening', port}
 *                      {type:'connected', connections}   on every accepted connection
 *                      {type:'reached', ...SinkStats}    once datapoints >= total
 *                      {type:'stats', ...SinkStats}      reply to 'stats'
 * Times are process.hrtime.bigint() as decimal strings: CLOCK_MONOTONIC, comparable across processes.
 */
const net = require('node:net');
const { PickleStreamCounter, LineStreamCounter } = require('./pickle-count');
const { reportChildError } = require('./children');

/** @type {import('./pickle-count').SinkCounts} */
const counts = { datapoints: 0, otherDatapoints: 0, frames: 0, frameErrors: 0, bytes: 0, otherPicklerFrames: 0 };
/** argv[2]: count only names with this prefix toward the total (others, like the relay's self-metrics, separately). */
const prefix = process.argv[2] ? Buffer.from(process.argv[2], 'utf8') : undefined;
/** argv[4]: 'pickle' (default) or 'line'. */
const protocol = process.argv[4] === 'line' ? 'line' : 'pickle';
let connections = 0;
/** Truncated frames at connection close. */
let truncatedFrames = 0;
let expected = Infinity;
let reachedAt = '';
/** hrtime of the first and last received chunk. */
let firstByteAt = 0n;
let lastByteAt = 0n;

function stats() {
  const cpu = process.cpuUsage();
  return {
    ...counts,
    connections,
    truncatedFrames,
    reachedAt,
    firstByteAt: firstByteAt.toString(),
    lastByteAt: lastByteAt.toString(),
    cpuMicros: cpu.user + cpu.system,
  };
}

function checkReached() {
  if (reachedAt === '' && counts.datapoints >= expected) {
    reachedAt = process.hrtime.bigint().toString();
    send({ type: 'reached', ...stats() });
  }
}

/** @param {{ type: string, [k: string]: unknown }} m */
function send(m) {
  if (process.send) process.send(m);
}

const server = net.createServer((socket) => {
  connections++;
  send({ type: 'connected', connections });
  const counter = protocol === 'line' ? new LineStreamCounter(counts, prefix) : new PickleStreamCounter(counts, prefix, true);
  socket.on('data', (chunk) => {
    lastByteAt = process.hrtime.bigint();
    if (firstByteAt === 0n) firstByteAt = lastByteAt;
    counter.push(chunk);
    if (counts.datapoints >= expected) checkReached();
  });
  socket.on('end', () => {
    if (counter.pendingBytes > 0) truncatedFrames++;
    socket.end();
  });
  socket.on('error', () => undefined);
});

process.on('message', (/** @type {{ type: string, total?: number }} */ m) => {
  if (m.type === 'expect') {
    expected = Number(m.total);
    checkReached();
  } else if (m.type === 'stats') {
    send({ type: 'stats', ...stats() });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));

server.on('error', reportChildError);
// argv[3]: a port chosen by the parent (a destination that comes up after an outage); default ephemeral
server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => {
  const addr = /** @type {net.AddressInfo} */ (server.address());
  send({ type: 'listening', port: addr.port });
});
