// Peer: http-proxy (node-http-proxy) on node:http with a keep-alive agent (without one it opens a
// connection per request, which would be unfair to it). Usage: node bench/peers/http-proxy.mjs UPSTREAM_URL [PORT].
import http from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const httpProxy = require('http-proxy');
const [, , upstream, port = '0'] = process.argv;
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const proxy = httpProxy.createProxyServer({ target: upstream, agent });
proxy.on('error', (err, _req, res) => {
  if (!res.headersSent) res.writeHead(502);
  res.end(String(err.message));
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1', () => console.log(server.address().port));
