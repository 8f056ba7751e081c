/**
 * headers: the config side (the loader leaves ${consumer} and friends for the policy while
 * still substituting environment variables; every gateway-owned name is refused, as a table),
 * the rewrite itself (pure), and end to end on requests and responses.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load.js';
import { headerRewrites } from '../../../src/policies/headers/index.js';
import { NOT_REWRITABLE } from '../../../src/proxy/reserved-headers.js';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { send, startBackend, type Backend } from '../../helpers/wire.js';

const base = 'upstreams: { b: { targets: [{ url: "http://127.0.0.1:1" }] } }\n';
const withHeaders = (h: string) => `${base}routes: [{ name: r, match: { path: / }, upstream: b, headers: ${h} }]`;

describe('headers: config', () => {
  test('${consumer} and the other request variables survive ${ENV} substitution, which still works around them', () => {
    const c = parseConfig(withHeaders('{ request: { set: { x-consumer: "${consumer}", x-tag: "${TEAM}/${route}/${request_id}/${client_ip}" } } }'), 'c.yaml', { TEAM: 'payments' });
    assert.deepEqual(c.routes[0]!.headers!.request!.set, { 'x-consumer': '${consumer}', 'x-tag': 'payments/${route}/${request_id}/${client_ip}' });
  });
  test('an environment variable of the same name does not replace a request variable', () => {
    const c = parseConfig(withHeaders('{ request: { set: { x-consumer: "${consumer}" } } }'), 'c.yaml', { consumer: 'from-env' });
    assert.equal(c.routes[0]!.headers!.request!.set['x-consumer'], '${consumer}');
  });
  test('an unknown lowercase variable is still an environment variable, and its absence an error', () => {
    assert.throws(() => parseConfig(withHeaders('{ request: { set: { x-a: "${user}" } } }'), 'c.yaml', {}), /environment variable user is not set/);
  });
  for (const name of NOT_REWRITABLE) {
    test(`${name} cannot be rewritten (set, add or remove, request or response)`, () => {
      for (const shape of [`{ request: { set: { ${name}: v } } }`, `{ response: { add: { ${name}: v } } }`, `{ request: { remove: [${name}] } }`]) {
        assert.throws(() => parseConfig(withHeaders(shape), 'c.yaml', {}), new RegExp(`${name.replace(/-/g, '\\-')} is set by the gateway or describes the connection; it cannot be rewritten`, 'i'), shape);
      }
    });
  }
  test('the check ignores the case of the name', () => {
    assert.throws(() => parseConfig(withHeaders('{ request: { set: { X-Forwarded-For: 1.2.3.4 } } }'), 'c.yaml', {}), /cannot be rewritten/);
  });
});

describe('headers: rewrite (pure)', () => {
  const vars = { request_id: 'rid-1', consumer: 'alice', client_ip: '127.0.0.1', route: 'orders' };
  test('remove, then set (replacing every copy), then add; names compared without case', () => {
    const h = headerRewrites({ request: { remove: ['X-Drop'], set: { 'x-consumer': '${consumer}' }, add: { 'x-tag': 'a', 'X-Consumer': 'second' } } });
    const raw = ['X-Drop', '1', 'X-Consumer', 'spoofed', 'x-consumer', 'again', 'Accept', '*/*'];
    h.rewriteRequest(raw, vars);
    assert.deepEqual(raw, ['Accept', '*/*', 'x-consumer', 'alice', 'x-tag', 'a', 'x-consumer', 'second']);
  });
  test('a set with an empty result removes the header: a client cannot fill in for a missing consumer', () => {
    const h = headerRewrites({ request: { remove: [], set: { 'x-consumer': '${consumer}' }, add: {} } });
    const raw = ['x-consumer', 'admin'];
    h.rewriteRequest(raw, { ...vars, consumer: null });
    assert.deepEqual(raw, []);
  });
  test('a variable carrying CR, LF or other control characters cannot split a header', () => {
    const h = headerRewrites({ request: { remove: [], set: { 'x-consumer': 'c=${consumer}' }, add: {} } });
    const raw: string[] = [];
    h.rewriteRequest(raw, { ...vars, consumer: 'evil\r\nx-admin: true\u0000' });
    assert.deepEqual(raw, ['x-consumer', 'c=evilx-admin: true']);
  });
});

describe('headers end to end', () => {
  let backend: Backend;
  let gw: TestGateway;
  const KEY = 'key-0123456789abcdef-xyz';

  before(async () => {
    backend = await startBackend((_req, res, seen) => {
      const body = JSON.stringify(seen.headers);
      // Set-Cookie keeps a response out of the shared cache: the cached route's backend sends none.
      const cookies = seen.url.startsWith('/c/') ? {} : { 'set-cookie': ['a=1', 'b=2'] };
      res.writeHead(200, { 'content-type': 'application/json', server: 'backend/1.0 (internal-host-7)', 'x-powered-by': 'php', ...cookies });
      res.end(body);
    });
    gw = await startGateway(`
log: { access: false }
consumers: [{ name: mobile-app, keys: [${KEY}] }]
upstreams: { b: { targets: [{ url: ${backend.url} }] } }
routes:
  - name: orders
    match: { path: /o/* }
    upstream: b
    auth: [key]
    headers:
      request: { set: { x-consumer: "\${consumer}", x-route: "\${route}", x-client: "\${client_ip}", x-rid: "\${request_id}" }, add: { x-tag: canary }, remove: [cookie] }
      response: { remove: [server, x-powered-by], set: { x-served-by: "causeway/\${route}" }, add: { x-consumer: "\${consumer}" } }
  - { name: open, match: { path: /p/* }, upstream: b, headers: { request: { set: { x-consumer: "\${consumer}" } } } }
  - { name: cached, match: { path: /c/* }, upstream: b, cache: { ttl: 1m }, headers: { response: { add: { x-rid: "\${request_id}" }, remove: [server] } } }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test('request: variables filled in, headers set, added and removed; response: rewritten, repeated headers kept', async () => {
    const r = await send(`${gw.url}/o/1`, { headers: { 'x-api-key': KEY, cookie: 'session=secret', 'x-consumer': 'spoofed', 'x-request-id': 'hdr-rewrite-01' } });
    assert.equal(r.status, 200, r.text);
    const seen = r.json<Record<string, string>>();
    assert.equal(seen['x-consumer'], 'mobile-app');
    assert.equal(seen['x-route'], 'orders');
    assert.equal(seen['x-client'], '127.0.0.1');
    assert.equal(seen['x-rid'], 'hdr-rewrite-01');
    assert.equal(seen['x-tag'], 'canary');
    assert.equal(seen['cookie'], undefined);
    assert.equal(r.headers['server'], undefined);
    assert.equal(r.headers['x-powered-by'], undefined);
    assert.equal(r.headers['x-served-by'], 'causeway/orders');
    assert.equal(r.headers['x-consumer'], 'mobile-app');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2'], 'both Set-Cookie lines arrive');
    assert.equal(r.headers['x-request-id'], 'hdr-rewrite-01', 'gateway-owned headers untouched');
    assert.match(String(r.headers['via']), /causeway/);
  });

  test('on a route without auth, ${consumer} is empty: the client\'s own X-Consumer is removed, not passed', async () => {
    const r = await send(`${gw.url}/p/1`, { headers: { 'x-consumer': 'admin' } });
    assert.equal(r.json<Record<string, string>>()['x-consumer'], undefined);
  });

  test('cache hits are rewritten per call (not twice: the cache keeps the backend\'s headers as they came)', async () => {
    const before = backend.seen.length;
    for (let i = 0; i < 3; i++) {
      const r = await send(`${gw.url}/c/x`, { headers: { 'x-request-id': `hdr-cache-${i}-0000` } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-rid'], `hdr-cache-${i}-0000`, 'one x-rid, this call\'s');
      assert.equal(r.headers['server'], undefined);
      if (i > 0) assert.equal(r.headers['x-cache'], 'HIT');
    }
    assert.equal(backend.seen.length - before, 1, 'the later calls came from the cache');
  });

  test('a gateway-generated failure is not rewritten (it carries no backend headers to hide)', async () => {
    const r = await send(`${gw.url}/o/1`);
    assert.equal(r.status, 401);
    assert.equal(r.headers['x-served-by'], undefined);
  });
});
