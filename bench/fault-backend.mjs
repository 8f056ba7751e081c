// A misbehaving target for the soak: most calls are answered, the rest reset, stall, close
// without answering, or cut the body. With --flap MS it also closes and reopens its listener
// every MS (refused connections while closed). Usage: node bench/fault-backend.mjs [--flap 7000]
// [--fault-pct 15]. Prints its port.
import http from 'node:http';
import { setInterval } from 'node:timers';
import { parseArgs } from './lib.mjs';
const a = parseArgs();
const faultPct = Number(a['fault-pct'] ?? 15);
const body = JSON.stringify({ ok: true, items: [1, 2, 3], message: 'hello from the backend' });
const server = http.createServer((req, res) => {
  const r = Math.random() * 100;
  const slice = faultPct / 4;
  if (r >= faultPct) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    return res.end(body);
  }
  if (r < slice) return req.socket.resetAndDestroy(); // RST
  if (r < 2 * slice) return req.socket.end(); // FIN without a response
  if (r < 3 * slice) {
    // stall: no answer; give up after 10 s so the backend itself does not pile up sockets
    const t = setTimeout(() => req.socket.destroy(), 10_000);
    req.socket.once('close', () => clearTimeout(t));
    return;
  }
  // body cut: headers and half the body, then silence, then close
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.write(body.slice(0, 20));
  const t = setTimeout(() => req.socket.destroy(), 3000);
  req.socket.once('close', () => clearTimeout(t));
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  console.log(port);
  if (a.flap) {
    let up = true;
    setInterval(() => {
      if (up) {
        server.close();
        server.closeAllConnections();
      } else server.listen(port, '127.0.0.1');
      up = !up;
    }, Number(a.flap));
  }
});
process.on('SIGTERM', () => process.exit(0));
