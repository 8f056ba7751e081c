/**
 * cors: origin matching and preflight decisions as tables (pure), then end to end: preflights
 * answered at the gateway (a backend that counts calls proves it never saw one), Access-Control
 * headers on proxied answers and on the gateway's own failures, Vary: Origin, and the config
 * refusing `*` with credentials.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load.js';
import { appendVary, cors, originMatcher } from '../../../src/policies/cors/index.js';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { refusingPort, send, startBackend, type Backend } from '../../helpers/wire.js';

describe('cors: origin matching (table)', () => {
  const m = originMatcher(['https://app.example.com', 'https://*.example.com', 'http://localhost:3000']);
  const rows: Array<[string, boolean]> = [
    ['https://app.example.com', true],
    ['HTTPS://APP.EXAMPLE.COM', true],
    ['https://a.example.com', true],
    ['https://a.b.example.com', true],
    ['https://example.com', false], // the apex is not a subdomain
    ['https://evil-example.com', false],
    ['https://a.example.com.evil.com', false],
    ['https://a.example.com:8443', false], // the port is part of the origin
    ['http://a.example.com', false], // so is the scheme
    ['https://user@a.example.com', false],
    ['https://a/.example.com', false],
    ['http://localhost:3000', true],
    ['http://localhost:3001', false],
    ['null', false],
    ['', false],
  ];
  for (const [origin, ok] of rows) test(`${JSON.stringify(origin)} → ${ok ? 'allowed' : 'refused'}`, () => assert.equal(m(origin), ok));
});

describe('cors: preflight decisions (table)', () => {
  const policy = cors({ origins: ['https://app.example.com'], methods: ['GET', 'PUT'], headers: ['Content-Type', 'X-Trace'], exposeHeaders: ['X-Total'], credentials: true, maxAge: 600_000 });
  const pre = (origin: string, method: string, headers?: string) => policy.preflight({ origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) });
  test('allowed origin, method and headers → the allow headers, credentials, max-age', () => {
    const a = pre('https://app.example.com', 'PUT', 'content-type, x-trace');
    assert.ok(!('refused' in a));
    const h = Object.fromEntries(a.headers.map((_, i, l) => (i % 2 ? null : [l[i], l[i + 1]])).filter(Boolean) as Array<[string, string]>);
    assert.equal(h['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(h['access-control-allow-methods'], 'GET, PUT');
    assert.equal(h['access-control-allow-headers'], 'content-type, x-trace');
    assert.equal(h['access-control-allow-credentials'], 'true');
    assert.equal(h['access-control-max-age'], '600');
    assert.match(h['vary']!, /Origin/);
  });
  const refusals: Array<[string, string, string | undefined, RegExp]> = [
    ['https://evil.example', 'GET', undefined, /origin https:\/\/evil\.example is not allowed/],
    ['https://app.example.com', 'DELETE', undefined, /method DELETE is not allowed by the route's cors\.methods \(GET, PUT\)/],
    ['https://app.example.com', 'GET', 'authorization, x-trace', /request header authorization is not allowed/],
  ];
  for (const [origin, method, headers, why] of refusals) test(`refused: ${origin} ${method} ${headers ?? ''}`, () => {
    const a = pre(origin, method, headers);
    assert.ok('refused' in a);
    assert.match(a.refused, why);
  });
  test('* without credentials: Allow-Origin *, no Vary; the backend\'s own CORS headers are replaced', () => {
    const open = cors({ origins: ['*'], headers: [], exposeHeaders: [], credentials: false });
    const out = ['access-control-allow-origin', 'https://reflected.example', 'access-control-allow-credentials', 'true'];
    open.actual('https://anyone.example', out);
    assert.deepEqual(out, ['access-control-allow-origin', '*']);
  });
  test('appendVary keeps one Vary line and its tokens', () => {
    const l = ['Vary', 'Accept-Encoding'];
    appendVary(l, 'Origin');
    appendVary(l, 'origin');
    assert.deepEqual(l, ['Vary', 'Accept-Encoding, Origin']);
    const star = ['vary', '*'];
    appendVary(star, 'Origin');
    assert.deepEqual(star, ['vary', '*']);
  });
  test('config: origins [*] with credentials is an error naming the risk', () => {
    assert.throws(
      () => parseConfig('upstreams: { b: { targets: [{ url: "http://127.0.0.1:1" }] } }\nroutes: [{ name: r, match: { path: / }, upstream: b, cors: { origins: ["*"], credentials: true } }]'),
      /routes\[0\]\.cors\.origins: origins: \[\*\] with credentials: true would let any web site call this route/,
    );
  });
});

describe('cors end to end', () => {
  let backend: Backend;
  let gw: TestGateway;
  const APP = 'https://app.example.com';

  before(async () => {
    backend = await startBackend((_req, res) => {
      // A careless backend that reflects any origin with credentials: the gateway must not pass that on.
      res.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': 'https://evil.example', 'access-control-allow-credentials': 'true', vary: 'Accept-Encoding' });
      res.end('ok');
    });
    const down = await refusingPort();
    gw = await startGateway(`
log: { access: false }
consumers: [{ name: c, keys: [key-0123456789abcdef-xyz] }]
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
  gone: { targets: [{ url: "http://127.0.0.1:${down}" }], retries: { attempts: 1 } }
routes:
  - name: api
    match: { path: /api/*, methods: [GET, PUT] }
    upstream: b
    cors: { origins: [${APP}, "https://*.example.org"], methods: [GET, PUT], headers: [content-type], exposeHeaders: [x-total], credentials: true, maxAge: 10m }
  - { name: locked, match: { path: /locked/* }, upstream: b, auth: [key], cors: { origins: [${APP}] } }
  - { name: broken, match: { path: /broken/* }, upstream: gone, cors: { origins: [${APP}] } }
  - { name: cached, match: { path: /cached/* }, upstream: b, cache: { ttl: 1m }, cors: { origins: [${APP}, "https://*.example.org"] } }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test('a preflight is answered by the gateway (204) and never reaches the backend, even on a route that does not proxy OPTIONS', async () => {
    const before = backend.seen.length;
    const r = await send(`${gw.url}/api/orders`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'Content-Type', 'x-request-id': 'cors-pre-0001' } });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.headers['access-control-allow-origin'], APP);
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(r.headers['access-control-allow-methods'], 'GET, PUT');
    assert.equal(r.headers['access-control-allow-headers'], 'content-type');
    assert.equal(r.headers['access-control-max-age'], '600');
    assert.match(String(r.headers['vary']), /Origin/);
    assert.equal(backend.seen.length, before, 'the backend was not called');
    const rec = await gw.record('cors-pre-0001');
    assert.equal(rec.status, 204);
    assert.deepEqual(rec.attempts, []);
  });

  test('a refused preflight is 403 FORBIDDEN saying what is not allowed; the backend is not called either', async () => {
    const before = backend.seen.length;
    const r = await send(`${gw.url}/api/orders`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    assert.equal(r.status, 403);
    assert.equal(r.headers['x-causeway-error'], 'FORBIDDEN');
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.match(r.json<{ error: { message: string } }>().error.message, /origin https:\/\/evil\.example is not allowed/);
    const m = await send(`${gw.url}/api/orders`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'DELETE' } });
    assert.equal(m.status, 403);
    assert.equal(backend.seen.length, before);
  });

  test('a plain OPTIONS (no preflight) on a route that does not proxy OPTIONS is still ROUTE_NOT_FOUND', async () => {
    const r = await send(`${gw.url}/api/orders`, { method: 'OPTIONS' });
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-causeway-error'], 'ROUTE_NOT_FOUND');
  });

  test('an allowed origin gets Allow-Origin (exact and by pattern), credentials, Expose-Headers and Vary: Origin; the backend\'s own CORS headers are replaced', async () => {
    for (const origin of [APP, 'https://shop.example.org']) {
      const r = await send(`${gw.url}/api/orders`, { headers: { origin } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], origin);
      assert.equal(r.headers['access-control-allow-credentials'], 'true');
      assert.equal(r.headers['access-control-expose-headers'], 'x-total');
      assert.equal(r.headers['vary'], 'Accept-Encoding, Origin');
    }
  });

  test('an origin not on the list gets no Allow-Origin at all (never a reflection), but Vary: Origin', async () => {
    const r = await send(`${gw.url}/api/orders`, { headers: { origin: 'https://evil.example' } });
    assert.equal(r.status, 200, 'the call is proxied; the browser keeps the answer from the page');
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
    assert.equal(r.headers['vary'], 'Accept-Encoding, Origin');
  });

  test('a cached answer carries the CORS headers of the caller asking now, not of the one that filled the cache', async () => {
    const before = backend.seen.length;
    for (const origin of [APP, APP, 'https://b.example.org', 'https://b.example.org', 'https://evil.example']) {
      const r = await send(`${gw.url}/cached/x`, { headers: { origin } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], origin === 'https://evil.example' ? undefined : origin, origin);
      assert.match(String(r.headers['vary']), /Origin/);
    }
    assert.ok(backend.seen.length - before < 5, 'some answers came from the cache');
  });

  test('the gateway\'s own failures carry the CORS headers, so a page can read why (401 from auth, 502 from a dead backend)', async () => {
    const u = await send(`${gw.url}/locked/x`, { headers: { origin: APP } });
    assert.equal(u.status, 401);
    assert.equal(u.headers['access-control-allow-origin'], APP);
    const b = await send(`${gw.url}/broken/x`, { headers: { origin: APP } });
    assert.equal(b.status, 502);
    assert.equal(b.headers['x-causeway-error'], 'UPSTREAM_CONNECTION_REFUSED');
    assert.equal(b.headers['access-control-allow-origin'], APP);
  });
});
