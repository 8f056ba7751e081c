/**
 * Requests a gateway must refuse before any backend sees them, sent as raw bytes: request
 * smuggling shapes, malformed and oversized headers, slow clients (slowloris), path traversal.
 * Every refusal comes from the failure registry (X-Causeway-Error, JSON body), not node's bare 400.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { echo, rawExchange, sleep, startBackend, type Backend, type RawReply } from '../helpers/wire.js';

interface ErrorJson {
  error: { code: string; message: string; requestId: string };
}

describe('malformed and hostile requests', () => {
  let pub: Backend;
  let admin: Backend;
  let streamer: Backend;
  let gw: TestGateway;

  before(async () => {
    pub = await startBackend(echo);
    admin = await startBackend(echo);
    // Answers at once without reading the upload, then streams a chunk every 200 ms for 3 s.
    streamer = await startBackend(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('part1;');
        const tick = setInterval(() => res.write('tick;'), 200);
        const stop = setTimeout(() => res.end('end'), 3000);
        res.on('close', () => {
          clearInterval(tick);
          clearTimeout(stop);
        });
      },
      { collectBody: false },
    );
    gw = await startGateway(`
log: { access: false }
server: { headersTimeout: 500ms, requestTimeout: 1s, maxHeaderSize: 4kb }
upstreams:
  pub: { targets: [{ url: ${pub.url} }] }
  admin: { targets: [{ url: ${admin.url} }] }
  streamer: { targets: [{ url: ${streamer.url} }] }
routes:
  - name: stream
    match: { path: /stream }
    upstream: streamer
  - name: public
    match: { path: /public/* }
    upstream: pub
  - name: admin
    match: { path: /admin }
    upstream: admin
`);
  });
  after(async () => {
    await gw.close();
    await pub.close();
    await admin.close();
    await streamer.close();
  });

  const seenCount = () => pub.seen.length + admin.seen.length;

  function assertBadRequest(r: RawReply, detail: RegExp): void {
    assert.equal(r.status, 400, r.raw);
    assert.equal(r.headers['x-causeway-error'], 'BAD_REQUEST');
    assert.match(r.headers['content-type'] ?? '', /application\/json/);
    assert.match(r.headers['proxy-status'] ?? '', /error=http_request_error/);
    const body = JSON.parse(r.body) as ErrorJson;
    assert.equal(body.error.code, 'BAD_REQUEST');
    assert.match(body.error.message, detail);
    assert.equal(r.headers['x-request-id'], body.error.requestId);
    assert.ok(r.closed, 'the connection is closed after a framing error');
  }

  const smuggled = 'GET /admin HTTP/1.1\r\nHost: gw.test\r\n\r\n';
  const cases: Array<{ name: string; bytes: string; detail: RegExp }> = [
    {
      name: 'Content-Length and Transfer-Encoding together (CL.TE)',
      bytes: `POST /public/a HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
      detail: /both Content-Length and Transfer-Encoding/,
    },
    {
      name: 'Transfer-Encoding then Content-Length (TE.CL)',
      bytes: `POST /public/a HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${smuggled}`,
      detail: /both Content-Length and Transfer-Encoding/,
    },
    {
      name: 'two different Content-Lengths',
      bytes: `POST /public/a HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nContent-Length: 45\r\n\r\nhello${smuggled}`,
      detail: /Content-Length header is invalid or repeated/,
    },
    {
      name: 'Transfer-Encoding: chunked, identity',
      bytes: `POST /public/a HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
      detail: /Transfer-Encoding header is invalid/,
    },
    {
      name: 'Transfer-Encoding: xchunked',
      bytes: `POST /public/a HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`,
      detail: /Transfer-Encoding header is invalid/,
    },
    {
      name: 'a header name with a space in it',
      bytes: 'GET /public/a HTTP/1.1\r\nHost: gw.test\r\nX Evil: 1\r\n\r\n',
      detail: /characters HTTP does not allow/,
    },
    {
      name: 'a header value with a control character',
      bytes: 'GET /public/a HTTP/1.1\r\nHost: gw.test\r\nX-Evil: a\x01b\r\n\r\n',
      detail: /characters HTTP does not allow/,
    },
    {
      name: 'headers over server.maxHeaderSize',
      bytes: `GET /public/a HTTP/1.1\r\nHost: gw.test\r\nX-Big: ${'a'.repeat(6000)}\r\n\r\n`,
      detail: /exceed 4096 bytes/,
    },
    {
      name: 'an invalid method',
      bytes: 'G@T /public/a HTTP/1.1\r\nHost: gw.test\r\n\r\n',
      detail: /method|could not be parsed/,
    },
  ];

  for (const c of cases) {
    test(`${c.name} → 400 BAD_REQUEST from the registry, nothing reaches a backend`, async () => {
      const before = seenCount();
      const r = await rawExchange(gw.port, c.bytes, 5000);
      assertBadRequest(r, c.detail);
      await sleep(50);
      assert.equal(seenCount(), before, 'a backend saw the request');
    });
  }

  test('a WebSocket upgrade is refused with BAD_REQUEST', async () => {
    const before = seenCount();
    const r = await rawExchange(gw.port, 'GET /public/ws HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    assertBadRequest(r, /upgrades/);
    assert.equal(seenCount(), before);
  });

  test('path traversal is normalised before routing: /public/../admin is /admin', async () => {
    const p0 = pub.seen.length;
    for (const path of ['/public/../admin', '/public/%2e%2e/admin', '/public/./../admin', '/public/%2E%2E/admin?x=1']) {
      const a0 = admin.seen.length;
      const r = await rawExchange(gw.port, `GET ${path} HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n`);
      assert.equal(r.status, 200, `${path}: ${r.raw}`);
      assert.equal(admin.seen.length, a0 + 1, `${path} must be routed as /admin`);
      assert.match(admin.seen.at(-1)!.url, /^\/admin(\?x=1)?$/, 'the backend receives the normalised path');
    }
    assert.equal(pub.seen.length, p0, 'the public route never saw a traversal');
    const inside = await rawExchange(gw.port, 'GET /public/a/../b HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n');
    assert.equal(inside.status, 200);
    assert.equal(pub.seen.at(-1)!.url, '/public/b');
  });

  test('a path climbing above the root is a 400', async () => {
    const before = seenCount();
    const r = await rawExchange(gw.port, 'GET /public/../../etc/passwd HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 400, r.raw);
    assert.equal(r.headers['x-causeway-error'], 'BAD_REQUEST');
    assert.equal(seenCount(), before);
  });

  test('slowloris: half the headers then silence → 408 REQUEST_TIMEOUT (or a close) well within the window', async () => {
    const before = seenCount();
    const r = await rawExchange(gw.port, 'GET /public/slow HTTP/1.1\r\nHost: gw.test\r\nX-Partial: ', 8000);
    assert.ok(r.closed, 'the gateway closed the stalled connection');
    assert.ok(r.elapsed >= 300 && r.elapsed < 5000, `answered after ${r.elapsed} ms`);
    if (r.status !== 0) {
      assert.equal(r.status, 408, r.raw);
      assert.equal(r.headers['x-causeway-error'], 'REQUEST_TIMEOUT');
      assert.equal((JSON.parse(r.body) as ErrorJson).error.code, 'REQUEST_TIMEOUT');
    }
    assert.equal(seenCount(), before);
  });

  test('a stalled connection that sent nothing is closed too', async () => {
    const t0 = performance.now();
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: gw.port });
      const timer = setTimeout(() => {
        s.destroy();
        resolve(false);
      }, 8000);
      s.on('error', () => undefined);
      s.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      s.resume();
    });
    assert.ok(closed, 'an idle connection with no request was left open');
    assert.ok(performance.now() - t0 < 7000);
  });

  test('a body that stalls before any response is cut off by requestTimeout with a 408', async () => {
    const r = await rawExchange(gw.port, 'POST /public/upload HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 100\r\n\r\n0123456789', 8000);
    assert.ok(r.closed);
    assert.ok(r.elapsed >= 500 && r.elapsed < 5000, `answered after ${r.elapsed} ms`);
    assert.equal(r.status, 408, r.raw);
    assert.equal(r.headers['x-causeway-error'], 'REQUEST_TIMEOUT');
  });

  test('a body that stalls while its response streams: the connection is cut, no 408 is spliced into the body', async () => {
    const r = await rawExchange(gw.port, 'POST /stream HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 100\r\n\r\n0123456789', 8000);
    assert.ok(r.closed, 'the connection was closed');
    assert.equal(r.status, 200);
    assert.match(r.raw, /part1;/);
    assert.doesNotMatch(r.raw, /HTTP\/1\.1 408|REQUEST_TIMEOUT/, 'an error response was written into the streaming body');
    assert.doesNotMatch(r.raw, /\r\n0\r\n\r\n$/, 'the cut body must not look complete');
  });
});
