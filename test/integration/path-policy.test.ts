/**
 * The one path policy end to end: an open route `/public/*` and a protected `/internal/*` (API
 * key) in front of two real backends that decode paths their own way — a stock nginx (decodes
 * %2F, resolves dot segments, merges slashes) and a lenient one that decodes whatever any
 * backend is known to decode (repeated percent-decoding, overlong UTF-8, Unicode compatibility
 * forms, backslashes, ;parameters). No spelling of a path reaches `/internal` on either backend
 * without the key; the shapes of the report are refused with 400. Host names are compared in
 * one form too (case, trailing dot, port).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { nginxMissing, startNginx, type Nginx } from '../helpers/nginx.js';
import { rawExchange, startBackend, type Backend } from '../helpers/wire.js';
import { lenientResolve } from '../helpers/lenient.js';

const KEY = 'k-path-policy-0123456789';

/** The bypass shapes: the report's, and every variant of them we know of. */
const SHAPES = [
  '/public/..%2finternal/x',
  '/public/..%2Finternal/x',
  '/public/%2e%2e%2finternal/x',
  '/public/%2E%2E%2Finternal/x',
  '/public/.%2e%2finternal/x',
  '/public/x/..%2f..%2finternal/x',
  '/public/..%5cinternal/x',
  '/public/%2e%2e%5cinternal/x',
  '/public/..\\internal/x',
  '/public\\..\\internal/x',
  '/public/..;/internal/x',
  '/public/..;x=1/internal/x',
  '/public/.;/../internal/x',
  '/public/..%3b/internal/x',
  '/public/%2e%2e;/internal/x',
  '/public/%252e%252e%252finternal/x',
  '/public/%252e%252e/internal/x',
  '/public/..%252finternal/x',
  '/public/%25%32%65%25%32%65/internal/x',
  '/public/%c0%ae%c0%ae/internal/x',
  '/public/%c0%ae%c0%ae%c0%afinternal/x',
  '/public/..%c0%afinternal/x',
  '/public/..%c1%9cinternal/x',
  '/public/%e0%80%ae%e0%80%ae/internal/x',
  '/public/%f0%80%80%ae%f0%80%80%ae/internal/x',
  '/public/%ef%bc%8e%ef%bc%8e/internal/x',
  '/public/%ef%bc%8e%ef%bc%8e%ef%bc%8finternal/x',
  '/public/..%ef%bc%8finternal/x',
  '/public/..%ef%bc%bcinternal/x',
  '/public/%e2%80%a4%e2%80%a4/internal/x',
  '/public/..%20/internal/x',
  '/public/..%09/internal/x',
  '/public/..%00/internal/x',
  '/public/..%u002finternal/x',
  '/public/..%2/internal/x',
  '/public/%%32%66internal/x',
  '/internal;x/secret',
  '/internal;/secret',
];

/** Spellings that are normalised (not refused) into /internal: routed there, they meet its auth. */
const NORMALISED = ['/public/../internal/x', '/public/%2e%2e/internal/x', '/public/.%2E/internal/x', '/public/./../internal/x', '//public//..//internal/x', '/%69nternal/x'];

describe('one path policy: no spelling of a path bypasses a route', { skip: nginxMissing() ?? false }, () => {
  let nginx: Nginx;
  let lenient: Backend;
  let gw: TestGateway;

  before(async () => {
    nginx = await startNginx(`
  server {
    listen 127.0.0.1:PORT default_server;
    location /internal/ { return 200 "internal $uri"; }
    location / { return 200 "other $uri"; }
  }
  server {
    listen 127.0.0.1:PORT;
    server_name admin.example;
    location / { return 200 "admin site $uri"; }
  }`);
    lenient = await startBackend((req, res) => {
      const p = lenientResolve((req.url ?? '/').split('?')[0]!);
      res.end(`${p.startsWith('/internal') ? 'internal' : 'other'} ${p} ${req.url}`);
    });
    const routes = (host: string, up: string) => `
  - { name: internal-${up}, match: { path: /internal/*, host: ${host} }, upstream: ${up}, auth: [key] }
  - { name: public-${up}, match: { path: /public/*, host: ${host} }, upstream: ${up} }`;
    gw = await startGateway(`
log: { access: false }
consumers: [{ name: ops, keys: [${KEY}] }]
upstreams:
  nginx: { targets: [{ url: ${nginx.url} }] }
  lenient: { targets: [{ url: ${lenient.url} }] }
routes:${routes('nginx.test', 'nginx')}${routes('lenient.test', 'lenient')}
  - { name: files, match: { path: /files/*, host: lenient.test }, upstream: lenient, escapedSlashes: keep }
  - { name: docs, match: { path: /docs/*, host: lenient.test }, upstream: lenient, escapedSlashes: decode }
  - { name: matrix, match: { path: /matrix/*, host: lenient.test }, upstream: lenient, pathParameters: keep }
  - { name: admin-site, match: { path: /*, host: admin.example }, upstream: nginx, auth: [key], preserveHost: true }
  - { name: anything, match: { path: /* }, upstream: nginx, preserveHost: true }
`);
  });
  after(async () => {
    await gw?.close();
    await nginx?.stop();
    await lenient?.close();
  });

  const get = (path: string, host: string, key = false) =>
    rawExchange(gw.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${key ? `X-API-Key: ${KEY}\r\n` : ''}Connection: close\r\n\r\n`, 5000);

  for (const host of ['nginx.test', 'lenient.test']) {
    for (const shape of SHAPES) {
      test(`${host}: ${shape} → 400, never the internal site`, async () => {
        const r = await get(shape, host);
        assert.doesNotMatch(r.body, /^internal/, `bypass: ${r.raw.slice(0, 300)}`);
        assert.equal(r.status, 400, r.raw.slice(0, 400));
        assert.equal(r.headers['x-causeway-error'], 'BAD_REQUEST');
      });
    }
    for (const path of NORMALISED) {
      test(`${host}: ${path} is /internal/x for routing too → 401 without the key, 200 with it`, async () => {
        const r = await get(path, host);
        assert.equal(r.status, 401, r.raw.slice(0, 400));
        const ok = await get(path, host, true);
        assert.equal(ok.status, 200, ok.raw.slice(0, 400));
        assert.match(ok.body, /^internal \/internal\/x/, 'the backend receives the normalised path');
      });
    }
  }

  test('the backends themselves serve /internal for these shapes (else this suite would prove nothing)', async () => {
    const direct = (port: number, path: string) => rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 5000);
    for (const shape of ['/public/..%2finternal/x', '/public/%2e%2e%2finternal/x', '/public/x/..%2f..%2finternal/x']) {
      assert.match((await direct(nginx.port, shape)).body, /^internal/, `nginx: ${shape}`);
    }
    const reached: string[] = [];
    for (const shape of SHAPES) if (/^internal/.test((await direct(lenient.port, shape)).body)) reached.push(shape);
    assert.ok(reached.length >= SHAPES.length - 6, `the lenient backend reached /internal with only ${reached.length} of ${SHAPES.length}`);
  });

  test('the key still opens /internal; /public is open', async () => {
    assert.equal((await get('/internal/x', 'nginx.test', true)).body, 'internal /internal/x');
    assert.equal((await get('/public/a%20b', 'nginx.test')).body, 'other /public/a b');
  });

  test('escapedSlashes: keep forwards %2F as it came', async () => {
    const r = await get('/files/a%2fb', 'lenient.test');
    assert.equal(r.status, 200, r.raw);
    assert.match(r.body, / \/files\/a%2Fb$/);
  });

  test('escapedSlashes: decode forwards /, and refuses what decoding moves to another route', async () => {
    const r = await get('/docs/a%2fb', 'lenient.test');
    assert.equal(r.status, 200, r.raw);
    assert.match(r.body, / \/docs\/a\/b$/);
    const out = await get('/docs/a/..%2f..%2finternal/x', 'lenient.test');
    assert.equal(out.status, 400, out.raw);
    assert.doesNotMatch(out.body, /^internal/);
  });

  test('pathParameters: keep passes ;parameters on, never on a dot segment', async () => {
    const r = await get('/matrix/a;v=1/b', 'lenient.test');
    assert.equal(r.status, 200, r.raw);
    assert.match(r.body, / \/matrix\/a;v=1\/b$/);
    assert.equal((await get('/matrix/..;/internal/x', 'lenient.test')).status, 400);
  });

  for (const host of ['admin.example', 'ADMIN.example', 'admin.example.', 'Admin.Example.:8080', 'admin.example:80']) {
    test(`Host: ${host} is the admin site's route (auth), never the host-less one`, async () => {
      const r = await get('/', host);
      assert.equal(r.status, 401, r.raw.slice(0, 300));
      assert.doesNotMatch(r.body, /admin site/);
      const ok = await get('/', host, true);
      assert.equal(ok.status, 200);
      assert.match(ok.body, /^admin site/);
    });
  }

  for (const host of ['admin.example/x', 'a b', 'user@admin.example', 'admin.example:abc', '..']) {
    test(`Host: ${JSON.stringify(host)} is not a host name → 400`, async () => {
      const r = await get('/', host);
      assert.ok(r.status === 400, r.raw.slice(0, 300));
    });
  }
});
