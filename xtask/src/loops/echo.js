// Echo server on node's event loop (libuv), speaking like tickloop-apps' servers:
// `node echo.js --port P` prints `listening on ADDR` first, and a JSON ServerReport line
// when SIGINT or SIGTERM ends it.
'use strict';
const net = require('net');

const portArg = process.argv.indexOf('--port');
const port = portArg < 0 ? 7878 : Number(process.argv[portArg + 1]);
let open = 0;

const server = net.createServer((socket) => {
  open += 1;
  socket.setNoDelay(true);
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => {});
  socket.on('close', () => { open -= 1; });
});

server.listen(port, '127.0.0.1', () => {
  const { address, port: bound } = server.address();
  process.stdout.write(`listening on ${address}:${bound}\n`);
});

function exit() {
  const cpu = process.cpuUsage();
  const report = {
    server: 'node',
    cpu_micros: cpu.user + cpu.system,
    open_connections: open,
    loop_stats: null,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
}
process.on('SIGINT', exit);
process.on('SIGTERM', exit);
