/**
 * WebSocket (and any Upgrade) through the gateway, with the `ws` library on both ends: the
 * handshake is routed, authenticated and answered from the failure registry when it fails
 * before the 101; after it, frames flow both ways; every way a session ends is recorded; the
 * gateway's own ends (idle, lifetime, shutdown) are close frames, not cut connections.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { blackhole, type TestBackend } from '../helpers/backends.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rawExchange, refusingPort, sleep } from '../helpers/wire.js';

const KEY = 'ws-key-0123456789abcdef';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Opens a WebSocket; resolves with it once open, or with the HTTP answer that refused it. */
function connect(url: string, headers: Record<string, string> = {}): Promise<WebSocket | Answer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    ws.once('error', (err) => reject(err));
  });
}

async function open(url: string, headers?: Record<string, string>): Promise<WebSocket> {
  const r = await connect(url, headers);
  if (!(r instanceof WebSocket)) throw new Error(`refused: ${r.status} ${r.body}`);
  return r;
}

const nextMessage = (ws: WebSocket) => new Promise<Buffer>((r) => ws.once('message', (d: Buffer) => r(d)));
const closed = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));

/** A plain HTTP server on 127.0.0.1:0 with a handler for upgrade requests. */
async function httpServer(onUpgrade: (req: http.IncomingMessage, socket: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end('plain'));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', onUpgrade);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('WebSocket through the gateway', () => {
  let echoServer: http.Server;
  let wss: WebSocketServer;
  let echoPort: number;
  let gw: TestGateway;
  let ws: string;
  let refused: number;
  let plain: Awaited<ReturnType<typeof httpServer>>;
  let deny: Awaited<ReturnType<typeof httpServer>>;
  let silent: Awaited<ReturnType<typeof httpServer>>;
  let hole: TestBackend;
  const seenHeaders: http.IncomingHttpHeaders[] = [];

  before(async () => {
    echoServer = http.createServer((req, res) => {
      // A request the gateway served over HTTP/1.1 (an h2c offer): say what arrived.
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(JSON.stringify({ url: req.url, upgrade: req.headers.upgrade ?? null, body: Buffer.concat(chunks).toString() })));
    });
    wss = new WebSocketServer({ server: echoServer });
    wss.on('connection', (sock, req) => {
      seenHeaders.push(req.headers);
      sock.on('message', (data, isBinary) => {
        const text = isBinary ? '' : data.toString();
        if (text.startsWith('close-me ')) sock.close(Number(text.slice(9)), 'as asked');
        else sock.send(data, { binary: isBinary });
      });
    });
    await new Promise<void>((r) => echoServer.listen(0, '127.0.0.1', r));
    echoPort = (echoServer.address() as AddressInfo).port;
    refused = await refusingPort();
    plain = await httpServer((_req, socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    deny = await httpServer((_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\nno way'));
    silent = await httpServer(() => undefined);
    hole = await blackhole();
    const up = (port: number, extra = '') => `{ targets: [{ url: "http://127.0.0.1:${port}" }], retries: { attempts: 1 }${extra} }`;
    gw = await startGateway(
      [
        'server: { websocketCloseGrace: 500ms }',
        'log: { access: false }',
        'consumers:',
        `  - { name: app, keys: [${KEY}] }`,
        'upstreams:',
        `  echo: ${up(echoPort)}`,
        `  down: ${up(refused)}`,
        `  plain: ${up(0)}`.replace(':0"', `:${plain.port}"`),
        `  deny: ${up(deny.port)}`,
        `  silent: ${up(silent.port, ', timeouts: { read: 300ms }')}`,
        `  hole: ${up(hole.port, ', timeouts: { connect: 300ms }')}`,
        'routes:',
        '  - { name: ws, match: { path: /ws/* }, upstream: echo, websocket: true }',
        '  - { name: idle, match: { path: /idle/* }, upstream: echo, websocket: { idleTimeout: 300ms } }',
        '  - { name: life, match: { path: /life/* }, upstream: echo, websocket: { maxLifetime: 400ms, idleTimeout: 10s } }',
        '  - { name: auth, match: { path: /auth/* }, upstream: echo, websocket: true, auth: [key], rateLimit: { requests: 2, per: 1m, by: ip } }',
        '  - { name: down, match: { path: /down/* }, upstream: down, websocket: true }',
        '  - { name: plain, match: { path: /plain/* }, upstream: plain, websocket: true }',
        '  - { name: deny, match: { path: /deny/* }, upstream: deny, websocket: true }',
        '  - { name: silent, match: { path: /silent/* }, upstream: silent, websocket: true }',
        '  - { name: hole, match: { path: /hole/* }, upstream: hole, websocket: true }',
        '  - { name: nows, match: { path: /* }, upstream: echo }',
      ].join('\n'),
    );
    ws = `ws://127.0.0.1:${gw.port}`;
  });

  after(async () => {
    await gw.close();
    wss.close();
    echoServer.closeAllConnections();
    await new Promise<void>((r) => echoServer.close(() => r()));
    await Promise.all([plain.close(), deny.close(), silent.close(), hole.close()]);
  });

  test('text and binary frames go both ways; the client closes; the call log has the session', async () => {
    const c = await open(`${ws}/ws/chat`, { 'x-request-id': 'ws-session-0001' });
    c.send('hello');
    assert.equal((await nextMessage(c)).toString(), 'hello');
    const bin = Buffer.from([0, 1, 2, 255]);
    c.send(bin);
    assert.deepEqual(await nextMessage(c), bin);
    const h = seenHeaders.at(-1)!;
    assert.equal(h['x-request-id'], 'ws-session-0001');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h.host, `127.0.0.1:${echoPort}`);
    const done = closed(c);
    c.close(1000, 'bye');
    assert.equal((await done).code, 1000);
    const rec = await gw.record('ws-session-0001');
    assert.equal(rec.status, 101);
    assert.equal(rec.code, null);
    assert.equal(rec.route, 'ws');
    const a = rec.attempts.at(-1)!;
    assert.equal(a.outcome, 101);
    assert.equal(a.session?.closedBy, 'client');
    assert.equal(a.session?.how, 'close frame 1000');
    assert.ok(rec.bytesIn > 'hello'.length + bin.length, `bytes in ${rec.bytesIn}`);
    assert.ok(rec.bytesOut > 'hello'.length + bin.length, `bytes out ${rec.bytesOut}`);
  });

  test('large messages both ways (backpressure through the pipes) arrive whole', async () => {
    const c = await open(`${ws}/ws/big`);
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    for (let i = 0; i < 3; i++) {
      c.send(big);
      const back = await nextMessage(c);
      assert.equal(back.length, big.length);
    }
    c.close();
    await closed(c);
  });

  test('the backend closes: the client gets its close code; the record says the backend closed', async () => {
    const c = await open(`${ws}/ws/x`, { 'x-request-id': 'ws-session-0002' });
    const done = closed(c);
    c.send('close-me 4001');
    assert.equal((await done).code, 4001);
    const rec = await gw.record('ws-session-0002');
    assert.equal(rec.attempts.at(-1)!.session?.closedBy, 'backend');
    assert.equal(rec.attempts.at(-1)!.session?.how, 'close frame 4001');
  });

  test('a route without websocket keeps the 400, and the refusal is in the call log with its request id', async () => {
    const r = await connect(`${ws}/nows/x`);
    assert.ok(!(r instanceof WebSocket));
    assert.equal(r.status, 400);
    assert.equal(r.headers['x-causeway-error'], 'BAD_REQUEST');
    assert.equal(r.headers.connection, 'close');
    const body = JSON.parse(r.body) as { error: { message: string; requestId: string } };
    assert.match(body.error.message, /route nows does not allow protocol upgrades/);
    assert.equal(body.error.requestId, r.headers['x-request-id']);
    const rec = await gw.record(body.error.requestId);
    assert.equal(rec.code, 'BAD_REQUEST');
    assert.equal(rec.route, 'nows');
  });

  const failures: { name: string; path: string; status: number; code: string; proxyStatus: RegExp; phase: string }[] = [
    { name: 'nothing listens', path: '/down/x', status: 502, code: 'UPSTREAM_CONNECTION_REFUSED', proxyStatus: /connection_refused/, phase: 'connect' },
    { name: 'the connect hangs', path: '/hole/x', status: 504, code: 'UPSTREAM_CONNECT_TIMEOUT', proxyStatus: /connection_timeout/, phase: 'connect' },
    { name: 'the backend never answers the handshake', path: '/silent/x', status: 504, code: 'UPSTREAM_RESPONSE_TIMEOUT', proxyStatus: /http_response_timeout/, phase: 'ttfb' },
    { name: 'the backend answers 200, not 101', path: '/plain/x', status: 502, code: 'UPSTREAM_INVALID_RESPONSE', proxyStatus: /http_protocol_error/, phase: 'ttfb' },
  ];
  for (const f of failures) {
    test(`before the 101, ${f.name}: ${f.status} ${f.code} with every header and the JSON body`, async () => {
      const r = await connect(`${ws}${f.path}`);
      assert.ok(!(r instanceof WebSocket), 'the handshake succeeded');
      assert.equal(r.status, f.status, r.body);
      assert.equal(r.headers['x-causeway-error'], f.code);
      assert.match(String(r.headers['proxy-status']), f.proxyStatus);
      const body = JSON.parse(r.body) as { error: { code: string; phase: string; requestId: string; upstream: string } };
      assert.equal(body.error.code, f.code);
      assert.equal(body.error.phase, f.phase);
      assert.equal(body.error.requestId, r.headers['x-request-id']);
      const rec = await gw.record(body.error.requestId);
      assert.equal(rec.code, f.code);
      assert.equal(rec.status, f.status);
      assert.equal(rec.attempts.length, 1);
    });
  }

  test("the backend's own refusal (403) passes through untouched", async () => {
    const r = await connect(`${ws}/deny/x`);
    assert.ok(!(r instanceof WebSocket));
    assert.equal(r.status, 403);
    assert.equal(r.body, 'no way');
    assert.equal(r.headers['x-causeway-error'], undefined);
  });

  test('the handshake goes through auth and rate limits', async () => {
    const anon = await connect(`${ws}/auth/x`);
    assert.ok(!(anon instanceof WebSocket));
    assert.equal(anon.status, 401);
    assert.equal(anon.headers['x-causeway-error'], 'UNAUTHORIZED');
    const ok = await open(`${ws}/auth/x`, { 'x-api-key': KEY });
    ok.send('hi');
    assert.equal((await nextMessage(ok)).toString(), 'hi');
    ok.close();
    await open(`${ws}/auth/x`, { 'x-api-key': KEY }).then((s) => s.close());
    const limited = await connect(`${ws}/auth/x`, { 'x-api-key': KEY });
    assert.ok(!(limited instanceof WebSocket));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['x-causeway-error'], 'RATE_LIMITED');
  });

  test('idleTimeout: a quiet session is closed by the gateway with 1001 to both sides', async () => {
    const c = await open(`${ws}/idle/x`, { 'x-request-id': 'ws-session-idle' });
    c.send('ping-ish');
    await nextMessage(c);
    const t0 = Date.now();
    const done = await closed(c);
    assert.equal(done.code, 1001);
    assert.ok(Date.now() - t0 >= 250, `closed after ${Date.now() - t0} ms`);
    const rec = await gw.record('ws-session-idle');
    assert.equal(rec.attempts.at(-1)!.session?.closedBy, 'gateway');
    assert.equal(rec.attempts.at(-1)!.session?.how, 'idle-timeout');
  });

  test('maxLifetime: a busy session is still closed at its end of life', async () => {
    const c = await open(`${ws}/life/x`, { 'x-request-id': 'ws-session-life' });
    const timer = setInterval(() => c.readyState === WebSocket.OPEN && c.send('busy'), 50);
    const done = await closed(c);
    clearInterval(timer);
    assert.equal(done.code, 1001);
    const rec = await gw.record('ws-session-life');
    assert.equal(rec.attempts.at(-1)!.session?.how, 'max-lifetime');
  });

  test('an h2c upgrade offer is ignored: served over HTTP/1.1, body included', async () => {
    const get = await rawExchange(gw.port, 'GET /nows/offer HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
    assert.equal(get.status, 200, get.raw);
    assert.deepEqual(JSON.parse(get.body), { url: '/nows/offer', upgrade: null, body: '' });
    const post = await rawExchange(gw.port, 'POST /nows/offer HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 11\r\n\r\nhello world');
    assert.equal(post.status, 200, post.raw);
    assert.equal(JSON.parse(post.body).body, 'hello world');
  });
});

describe('WebSocket sessions when the gateway stops', () => {
  test('SIGTERM-style stop: open sessions get a close frame (1001) and the record says shutdown', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (s) => s.on('message', (d) => s.send(d)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const gw = await startGateway(
      ['server: { websocketCloseGrace: 1s }', 'log: { access: false }', 'upstreams:', `  echo: { targets: [{ url: "http://127.0.0.1:${port}" }] }`, 'routes:', '  - { name: ws, match: { path: /* }, upstream: echo, websocket: true }'].join('\n'),
    );
    try {
      const c = await open(`ws://127.0.0.1:${gw.port}/x`, { 'x-request-id': 'ws-session-stop' });
      c.send('a');
      await nextMessage(c);
      const done = closed(c);
      const stopped = gw.close();
      assert.equal((await done).code, 1001);
      await stopped;
      const rec = await gw.record('ws-session-stop');
      assert.equal(rec.attempts.at(-1)!.session?.closedBy, 'gateway');
      assert.equal(rec.attempts.at(-1)!.session?.how, 'shutdown');
    } finally {
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await sleep(10);
    }
  });
});
