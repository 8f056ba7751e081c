// Benchmark backend: a small JSON answer on keep-alive connections. Prints its port.
import http from 'node:http';
const body = JSON.stringify({ ok: true, items: [1, 2, 3], message: 'hello from the backend' });
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => console.log(server.address().port));
