// The floor: the thinnest correct proxy Node.js can run — node:http in front of an undici Pool
// driven through dispatch() with no per-request streams. Causeway is measured against it.
// With --headers (`floor-headers` in the bench table) it also adds the headers every Causeway
// response and upstream request carries (X-Forwarded-For/-Proto/-Host, Via, X-Request-Id,
// X-Request-Timeout, traceparent upstream; Via, X-Request-Id downstream), with ids made by
// Causeway's own generators (needs `npm run build`): what those headers cost, and nothing else.
import http from 'node:http';
import { Pool } from 'undici';
const [, , upstream, port = '0', flag] = process.argv;
const ids = flag === '--headers' ? await import('../dist/src/util/random.js') : null;
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);
const server = http.createServer((req, res) => {
  const headers = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (!HOP.has(req.rawHeaders[i].toLowerCase())) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const id = ids?.uuidv7();
  if (ids) {
    const traceparent = `00-${ids.randomHex(16)}-${ids.randomHex(8)}-01`;
    headers.push('x-forwarded-for', req.socket.remoteAddress, 'x-forwarded-proto', 'http', 'x-forwarded-host', req.headers.host, 'via', '1.1 causeway');
    headers.push('x-request-id', id, 'x-request-timeout', '30000', 'traceparent', traceparent);
  }
  pool.dispatch(
    { path: req.url, method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
    {
      onConnect() {},
      onHeaders(status, raw, resume) {
        const out = [];
        for (let i = 0; i < raw.length; i += 2) {
          const k = raw[i].toString('latin1');
          if (!HOP.has(k.toLowerCase())) out.push(k, raw[i + 1].toString('latin1'));
        }
        if (ids) out.push('via', '1.1 causeway', 'x-request-id', id);
        res.writeHead(status, out);
        res.on('drain', resume);
        return true;
      },
      onData(chunk) {
        return res.write(chunk);
      },
      onComplete() {
        res.end();
      },
      onError(err) {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(err.message));
      },
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1', () => console.log(server.address().port));
