/**
 * Every connection the pool opens to a backend is either carrying exchanges for undici or closed:
 * none is left open, unread and unwatched. Such a socket is what the soak (bench/soak.mjs) showed
 * as growing fds and sockets and as CLOSE-WAIT connections on the backend side that never went
 * away (the backend closed them, nobody read the FIN); and a reset on one is an 'error' without a
 * listener, which ends the process. Two ways it happened, both reproduced here on real sockets:
 *
 * 1. A stale keep-alive retry moved to another target and dropped that target's idle connection
 *    on the way: undici reported the close of the dropped connection only after the slot had
 *    opened its replacement, and the slot took that report for the replacement. From then on the
 *    slot and undici disagreed about which connection was open; the next call on that slot
 *    opened one more that undici never used.
 * 2. A call that ended (client gone) while its connection was still being opened left that
 *    connection in the idle slot, never handed to undici and read by no one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { startGateway } from '../helpers/gateway.js';
import { send, sleep, until } from '../helpers/wire.js';

const IDLE_MS = 300;

interface Conn {
  socket: Socket;
  requests: number;
  open: boolean;
}

/**
 * A keep-alive HTTP/1.1 backend on 127.0.0.1 that keeps a record of every connection. With
 * `closeSecond`, it answers the first request of a connection and closes (FIN, no answer) on the
 * second: a keep-alive connection that went stale just as the gateway reused it.
 */
async function trackingBackend(opts: { closeSecond?: boolean } = {}) {
  const conns: Conn[] = [];
  const server = net.createServer((socket) => {
    const c: Conn = { socket, requests: 0, open: true };
    conns.push(c);
    socket.on('error', () => undefined);
    socket.on('close', () => (c.open = false));
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let end;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        buf = buf.slice(end + 4);
        c.requests++;
        if (opts.closeSecond && c.requests === 2) {
          socket.end();
          return;
        }
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    conns,
    /** Connections still open on the backend's side. */
    open: () => conns.filter((c) => c.open),
    close: () =>
      new Promise<void>((r) => {
        for (const c of conns) c.socket.destroy();
        server.close(() => r());
      }),
  };
}

test('a stale-connection retry that moves to another target leaves no connection open that undici never uses', async () => {
  const stale = await trackingBackend({ closeSecond: true });
  const healthy = await trackingBackend();
  const gw = await startGateway(`
log: { access: false }
upstreams:
  pair:
    targets: [{ url: ${stale.url} }, { url: ${healthy.url} }]
    pool: { idleTimeout: ${IDLE_MS}ms }
    retries: { attempts: 2, on: [stale-connection, reset], backoff: 1ms..2ms }
routes:
  - { name: pair, match: { path: /* }, upstream: pair }
`);
  try {
    // Round-robin, one request at a time: the first two warm one keep-alive connection on each
    // target; the third reuses the stale target's connection, which closes without answering, so
    // the retry goes to the healthy target and drops its idle connection for a fresh one. The
    // rest run on whatever the pool then holds.
    for (let i = 0; i < 8; i++) {
      const r = await send(`${gw.url}/r${i}`);
      assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.text}`);
    }
    const rescued = gw.records.filter((r) => r.attempts.length === 2);
    assert.ok(rescued.length >= 1, 'the scenario needs at least one stale-connection retry onto the other target');
    assert.equal(rescued[0]!.attempts[0]!.retry, 'stale-connection');

    // Idle connections are closed after idleTimeout; every connection the gateway opened must go.
    const gone = await until(() => healthy.open().length === 0 && stale.open().length === 0, IDLE_MS + 1500);
    const describe = (b: typeof healthy) => b.conns.map((c) => `${c.requests} req, ${c.open ? 'open' : 'closed'}`).join('; ');
    assert.ok(gone, `connections left open by the gateway — healthy target: [${describe(healthy)}], stale target: [${describe(stale)}]`);
    const unused = healthy.conns.filter((c) => c.requests === 0).length;
    assert.equal(unused, 0, `the gateway opened ${unused} connection(s) to the healthy target that never carried a request: [${describe(healthy)}]`);
  } finally {
    await gw.close();
    await Promise.all([stale.close(), healthy.close()]);
  }
});

test('a connection that finishes opening after its client left is closed, not kept unread in the pool', async () => {
  const backend = await trackingBackend();
  // A resolver that answers after 300 ms, so the client is gone before the TCP connection exists.
  const lookup = (_host: string, cb: (err: NodeJS.ErrnoException | null, address?: string, family?: number) => void) => {
    setTimeout(() => cb(null, '127.0.0.1', 4), 300);
  };
  const gw = await startGateway(
    `
log: { access: false }
upstreams:
  slow:
    targets: [{ url: "http://slow-dns.test:${backend.port}" }]
    timeouts: { connect: 2s, total: 5s }
    pool: { idleTimeout: ${IDLE_MS}ms }
routes:
  - { name: slow, match: { path: /* }, upstream: slow }
`,
    { lookup },
  );
  try {
    const req = http.get(`${gw.url}/gone`, { agent: false });
    req.on('error', () => undefined);
    await sleep(100);
    req.destroy();
    assert.ok(await until(() => gw.records.length === 1, 2000), 'the call was not recorded');
    assert.equal(gw.records[0]!.status, 499);
    assert.ok(await until(() => backend.conns.length === 1, 2000), 'the connection was never opened');
    // No exchange will ever use it: it must be closed (it used to stay open, unread, for good).
    const closed = await until(() => backend.open().length === 0, IDLE_MS + 1500);
    assert.ok(closed, 'the gateway kept a connection no exchange asked for');
    // And the next call still works.
    const r = await send(`${gw.url}/next`);
    assert.equal(r.status, 200);
  } finally {
    await gw.close();
    await backend.close();
  }
});
