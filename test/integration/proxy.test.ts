/**
 * End to end through a real gateway to real node:http backends: routing (stripPrefix, params,
 * prefixes, hosts, methods, target base paths), header rewriting in both directions, request ids,
 * the Host header, and the client-shortened time budget.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { echo, rawExchange, send, startBackend, type Backend } from '../helpers/wire.js';

interface Echoed {
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
  body: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('routing end to end', () => {
  let main: Backend;
  let hosted: Backend;
  let gw: TestGateway;

  before(async () => {
    main = await startBackend(echo);
    hosted = await startBackend(echo);
    gw = await startGateway(`
log: { access: false }
upstreams:
  main: { targets: [{ url: ${main.url} }] }
  based: { targets: [{ url: ${main.url}/base }] }
  hosted: { targets: [{ url: ${hosted.url} }] }
routes:
  - name: api
    match: { path: /api/* }
    upstream: main
    stripPrefix: /api
  - name: user
    match: { path: /users/:id, methods: [GET] }
    upstream: main
  - name: based
    match: { path: /b/* }
    upstream: based
    stripPrefix: /b
  - name: by-host
    match: { path: /api/*, host: api.example.com }
    upstream: hosted
`);
  });
  after(async () => {
    await gw.close();
    await main.close();
    await hosted.close();
  });

  test('stripPrefix removes the prefix and keeps the query string byte for byte', async () => {
    const r = await send(`${gw.url}/api/orders/42?x=1&y=two%20words&z=%2F`);
    assert.equal(r.status, 200);
    assert.equal(r.json<Echoed>().url, '/orders/42?x=1&y=two%20words&z=%2F');
    const root = await send(`${gw.url}/api?only=query`);
    assert.equal(root.json<Echoed>().url, '/?only=query');
  });

  test('a :param route matches one segment and passes the path unchanged', async () => {
    const r = await send(`${gw.url}/users/7?full=1`);
    assert.equal(r.status, 200);
    assert.equal(r.json<Echoed>().url, '/users/7?full=1');
    const deeper = await send(`${gw.url}/users/7/orders`);
    assert.equal(deeper.status, 404);
    assert.equal(deeper.headers['x-causeway-error'], 'ROUTE_NOT_FOUND');
  });

  test('a method the route does not allow is a 405 METHOD_NOT_ALLOWED with Allow', async () => {
    const before = main.seen.length;
    const r = await send(`${gw.url}/users/7`, { method: 'DELETE' });
    assert.equal(r.status, 405);
    assert.equal(r.headers['allow'], 'GET, HEAD');
    assert.equal(r.headers['x-causeway-error'], 'METHOD_NOT_ALLOWED');
    assert.match(String(r.headers['proxy-status']), /^causeway; error=http_request_denied; details="Method not allowed: DELETE is not allowed on \/users\/7 \(route \w+\); allowed: GET, HEAD"$/);
    const body = r.json<{ error: { code: string; message: string; requestId: string } }>();
    assert.equal(body.error.code, 'METHOD_NOT_ALLOWED');
    assert.equal(body.error.requestId, r.headers['x-request-id']);
    assert.equal(main.seen.length, before, 'the backend must not be contacted');
  });

  test('HEAD is allowed where GET is', async () => {
    const r = await send(`${gw.url}/users/9`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    assert.equal(main.seen.at(-1)!.method, 'HEAD');
  });

  test('a path no route matches is a 404 and reaches no backend', async () => {
    const before = main.seen.length + hosted.seen.length;
    const r = await send(`${gw.url}/nowhere/at/all`);
    assert.equal(r.status, 404);
    assert.equal(r.json<{ error: { code: string } }>().error.code, 'ROUTE_NOT_FOUND');
    assert.equal(main.seen.length + hosted.seen.length, before);
  });

  test("the target URL's base path is prepended to the forwarded path", async () => {
    const r = await send(`${gw.url}/b/items/3?sort=asc`);
    assert.equal(r.status, 200);
    assert.equal(r.json<Echoed>().url, '/base/items/3?sort=asc');
    const root = await send(`${gw.url}/b`);
    assert.equal(root.json<Echoed>().url, '/base/');
  });

  test('host routing: the host-bound route wins for its host (port ignored), others fall through', async () => {
    const h0 = hosted.seen.length;
    const m0 = main.seen.length;
    const a = await send(`${gw.url}/api/x?y=1`, { headers: { host: 'api.example.com' } });
    assert.equal(a.status, 200);
    assert.equal(a.json<Echoed>().url, '/api/x?y=1', 'the host route has no stripPrefix');
    const b = await send(`${gw.url}/api/x`, { headers: { host: 'API.Example.com:8443' } });
    assert.equal(b.status, 200);
    assert.equal(hosted.seen.length, h0 + 2);
    const c = await send(`${gw.url}/api/x`, { headers: { host: 'other.example.com' } });
    assert.equal(c.json<Echoed>().url, '/x');
    assert.equal(main.seen.length, m0 + 1);
  });
});

describe('header rewriting', () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend((req, res, seen) => {
      if (req.url === '/hop-response') {
        res.writeHead(200, [
          ['Content-Type', 'text/plain'],
          ['Connection', 'keep-alive, X-Bar'],
          ['X-Bar', 'must-not-pass'],
          ['Keep-Alive', 'timeout=99, max=7'],
          ['Upgrade', 'h2c'],
          ['Proxy-Connection', 'keep-alive'],
          ['TE', 'trailers'],
          ['X-Request-Id', 'backend-made-this-id'],
          ['Via', '1.1 backend-lb'],
          ['X-Kept', 'yes'],
          ['Content-Length', '2'],
        ].flat());
        res.end('ok');
        return;
      }
      echo(req, res, seen);
    });
    gw = await startGateway(`
log: { access: false }
upstreams:
  main: { targets: [{ url: ${backend.url} }] }
routes:
  - name: plain
    match: { path: /h/* }
    upstream: main
  - name: keep
    match: { path: /keep/* }
    upstream: main
    preserveHost: true
  - name: hop
    match: { path: /hop-response }
    upstream: main
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test('hop-by-hop request headers, and those named in Connection, never reach the backend', async () => {
    const r = await rawExchange(
      gw.port,
      'GET /h/x HTTP/1.1\r\n' +
        'Host: shop.example.com\r\n' +
        'Connection: close, X-Foo\r\n' +
        'X-Foo: must-not-pass\r\n' +
        'Keep-Alive: timeout=30\r\n' +
        'TE: gzip\r\n' +
        'Upgrade: h2c\r\n' +
        'Proxy-Connection: keep-alive\r\n' +
        'X-Custom: kept\r\n' +
        'Via: 1.0 corp-proxy\r\n' +
        'X-Forwarded-For: 6.6.6.6\r\n' +
        '\r\n',
    );
    assert.equal(r.status, 200, r.raw);
    const up = (JSON.parse(r.body) as Echoed).headers;
    for (const h of ['x-foo', 'keep-alive', 'te', 'upgrade', 'proxy-connection']) assert.equal(up[h], undefined, `${h} was forwarded`);
    assert.doesNotMatch(up.connection ?? '', /x-foo|close/i);
    assert.equal(up['x-custom'], 'kept');
    assert.equal(up.via, '1.0 corp-proxy, 1.1 causeway');
    assert.equal(up['x-forwarded-for'], '127.0.0.1', 'an untrusted client cannot seed X-Forwarded-For');
    assert.equal(up['x-forwarded-proto'], 'http');
    assert.equal(up['x-forwarded-host'], 'shop.example.com');
    assert.equal(up.host, `127.0.0.1:${backend.port}`, 'Host is the target by default');
    assert.ok(r.closed, 'Connection: close from the client is honoured');
  });

  test('TE: trailers is the one TE value that passes', async () => {
    const r = await send(`${gw.url}/h/te`, { headers: { te: 'deflate, trailers' } });
    assert.equal(r.json<Echoed>().headers.te, 'trailers');
  });

  test('hop-by-hop response headers, and those named in Connection, never reach the client; Via is appended', async () => {
    const r = await send(`${gw.url}/hop-response`, { headers: { 'x-request-id': 'client-id-0001' } });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ok');
    for (const h of ['x-bar', 'upgrade', 'proxy-connection', 'te']) assert.equal(r.headers[h], undefined, `${h} was passed to the client`);
    // The gateway's own server may announce its own keep-alive; the backend's must not leak.
    assert.doesNotMatch(String(r.headers['keep-alive'] ?? ''), /99|max=7/);
    assert.doesNotMatch(String(r.headers.connection ?? ''), /x-bar/i);
    assert.equal(r.headers['x-kept'], 'yes');
    assert.equal(r.headers.via, '1.1 backend-lb, 1.1 causeway');
    assert.equal(r.headers['x-request-id'], 'client-id-0001', "the backend's own request id is replaced by the call's");
    assert.equal(r.headers['x-causeway-error'], undefined, 'a backend response passes as the backend sent it');
  });

  test('Via is added to a response that had none', async () => {
    const r = await send(`${gw.url}/h/via`);
    assert.equal(r.headers.via, '1.1 causeway');
    assert.equal(r.json<Echoed>().headers.via, '1.1 causeway');
  });

  test('a valid incoming X-Request-Id is kept: sent upstream, returned, and names the call record', async () => {
    const id = 'order-7f3a.retry:2';
    const r = await send(`${gw.url}/h/id`, { headers: { 'x-request-id': id } });
    assert.equal(r.headers['x-request-id'], id);
    assert.equal(r.json<Echoed>().headers['x-request-id'], id);
    const rec = await gw.record(id);
    assert.equal(rec.status, 200);
    assert.equal(rec.route, 'plain');
  });

  test('an invalid X-Request-Id is replaced by a fresh one, the same upstream and downstream', async () => {
    for (const bad of ['short', 'has spaces in it', 'x'.repeat(200), 'semi;colon;value']) {
      const r = await send(`${gw.url}/h/id`, { headers: { 'x-request-id': bad } });
      const id = String(r.headers['x-request-id']);
      assert.match(id, UUID, `replacement for ${JSON.stringify(bad)}`);
      assert.equal(r.json<Echoed>().headers['x-request-id'], id);
    }
    const none = await send(`${gw.url}/h/id`);
    assert.match(String(none.headers['x-request-id']), UUID);
  });

  test("preserveHost sends the client's Host header upstream", async () => {
    const r = await send(`${gw.url}/keep/x`, { headers: { host: 'shop.example.com:8443' } });
    const up = r.json<Echoed>().headers;
    assert.equal(up.host, 'shop.example.com:8443');
    assert.equal(up['x-forwarded-host'], 'shop.example.com:8443');
    const plain = await send(`${gw.url}/h/x`, { headers: { host: 'shop.example.com:8443' } });
    assert.equal(plain.json<Echoed>().headers.host, `127.0.0.1:${backend.port}`);
  });
});

describe('time budget', () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend((req, res, seen) => {
      const delay = req.url === '/slow' ? 3000 : 0;
      const timer = setTimeout(() => echo(req, res, seen), delay);
      res.on('close', () => clearTimeout(timer));
    });
    gw = await startGateway(`
log: { access: false }
upstreams:
  main:
    targets: [{ url: ${backend.url} }]
    timeouts: { total: 4s, read: 10s }
routes:
  - name: all
    match: { path: /* }
    upstream: main
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test('X-Request-Timeout shortens the total: GATEWAY_TIMEOUT fast, and the backend is told the remaining budget', async () => {
    const t0 = performance.now();
    const r = await send(`${gw.url}/slow`, { headers: { 'x-request-timeout': '200' } });
    const took = performance.now() - t0;
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-causeway-error'], 'GATEWAY_TIMEOUT');
    assert.ok(took >= 150 && took < 2000, `took ${took} ms`);
    const seen = backend.seen.find((s) => s.headers['x-request-id'] === r.headers['x-request-id']);
    assert.ok(seen, 'the backend got the request');
    const sent = Number(seen.headers['x-request-timeout']);
    assert.ok(sent > 0 && sent <= 200, `backend was told ${sent} ms`);
    const rec = await gw.record(String(r.headers['x-request-id']));
    assert.equal(rec.code, 'GATEWAY_TIMEOUT');
  });

  test('without the header the backend is told the configured total (never more)', async () => {
    for (const header of [undefined, '60000', 'soon', '-5']) {
      const r = await send(`${gw.url}/fast`, { headers: header ? { 'x-request-timeout': header } : {} });
      assert.equal(r.status, 200);
      const sent = Number(r.json<Echoed>().headers['x-request-timeout']);
      assert.ok(sent > 0 && sent <= 4000, `header ${header}: backend was told ${sent} ms`);
    }
  });

  test('a client budget shorter than the total is what the backend is told', async () => {
    const r = await send(`${gw.url}/fast`, { headers: { 'x-request-timeout': '1500' } });
    const sent = Number(r.json<Echoed>().headers['x-request-timeout']);
    assert.ok(sent > 0 && sent <= 1500, `backend was told ${sent} ms`);
  });
});
