// A target of the resilience bench: the bench's small JSON answer (every path, /healthz included).
// Usage: node bench/resilience-backend.mjs PORT [KEEPALIVE_MS] — prints its port.
// SIGUSR1: start refusing connections — close the listener (new connects get RST) and answer the
//          requests already on open connections with `Connection: close`, so they drain cleanly.
// SIGUSR2: only drain (`Connection: close` from now on) — used with the iptables SYN DROP, so the
//          proxies must open new connections and meet the black hole.
import http from 'node:http';
const [, , port = '0', keepAlive = '65000'] = process.argv;
const body = JSON.stringify({ ok: true, items: [1, 2, 3], message: 'hello from the backend' });
let draining = false;
const server = http.createServer((req, res) => {
  const h = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  if (draining) h.connection = 'close';
  res.writeHead(200, h);
  res.end(body);
});
server.keepAliveTimeout = Number(keepAlive);
server.listen(Number(port), '127.0.0.1', () => console.log(server.address().port));
process.on('SIGUSR1', () => {
  draining = true;
  server.close();
  server.closeIdleConnections();
});
process.on('SIGUSR2', () => {
  draining = true;
  server.closeIdleConnections();
});
process.on('SIGTERM', () => process.exit(0));
