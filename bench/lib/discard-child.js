// @ts-check
'use strict';
/**
 * A TCP server that reads its connections and throws the bytes away, counting
 * newlines: the least any Node.js receiver does per datapoint. The paced
 * scenario runs the paced load against it too, to show what merely waking up
 * and reading sockets at that rate costs on this machine (read-floor.js).
 *
 * IPC, child -> parent: {type:'listening', port}
 * IPC, parent -> child: {type:'cpu'}  ->  {type:'cpu', cpuMicros, lines}
 */
const net = require('node:net');
const { reportChildError } = require('./children');

let lines = 0;
const server = net.createServer((socket) => {
  socket.on('data', (chunk) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  });
  socket.on('error', () => socket.destroy());
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  if (process.send && addr !== null && typeof addr === 'object') process.send({ type: 'listening', port: addr.port });
});
process.on('message', (/** @type {{ type: string }} */ m) => {
  if (m.type !== 'cpu' || !process.send) return;
  const u = process.cpuUsage();
  process.send({ type: 'cpu', cpuMicros: u.user + u.system, lines });
});
process.on('uncaughtException', reportChildError);
