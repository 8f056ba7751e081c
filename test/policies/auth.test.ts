/**
 * Consumers and credentials end to end: API keys (header and query), HMAC-signed requests (body
 * digest, clock skew, replay), the consumer in the call record and upstream, credentials made at
 * run time persisted across gateways, and subscriptions with approval.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signedHeaders } from '../../src/policies/auth/hmac.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { echo, send, startBackend, type Backend } from '../helpers/wire.js';

const KEY = 'mobile-key-0123456789abcdef';
const SECRET = 'app1-secret-0123456789abcdef';

interface Echoed {
  url: string;
  headers: Record<string, string>;
  body: string;
}

let nonce = 0;
const sign = (method: string, target: string, body?: string, date?: Date) => signedHeaders({ keyId: 'app1', secret: SECRET, method, target, body, date, nonce: `n-${process.pid}-${++nonce}` });

describe('auth: API keys and HMAC key pairs', () => {
  let backend: Backend;
  let gw: TestGateway;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'causeway-auth-'));
    backend = await startBackend(echo);
    gw = await startGateway(`
log: { access: false }
storage: { path: ${join(dir, 'causeway.db')} }
auth: { clockSkew: 30s }
consumers:
  - { name: mobile-app, keys: [${KEY}], hmac: [{ id: app1, secret: ${SECRET} }] }
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: keyed, match: { path: /k/* }, upstream: b, auth: [key] }
  - { name: signed, match: { path: /s/* }, upstream: b, auth: [hmac] }
  - { name: either, match: { path: /e/* }, upstream: b, auth: [key, hmac] }
  - { name: open, match: { path: /o/* }, upstream: b }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function assertUnauthorized(r: { status: number; headers: Record<string, unknown>; text: string }): void {
    assert.equal(r.status, 401, r.text);
    assert.equal(r.headers['x-causeway-error'], 'UNAUTHORIZED');
    // The same words whatever was wrong: nothing tells a guesser which part failed.
    assert.equal((JSON.parse(r.text) as { error: { message: string } }).error.message, 'Unauthorized: credentials are missing or invalid');
  }

  test('a valid X-API-Key passes; the backend gets the consumer, never the key', async () => {
    const r = await send(`${gw.url}/k/a`, { headers: { 'x-api-key': KEY, 'x-request-id': 'auth-key-ok-1' } });
    assert.equal(r.status, 200, r.text);
    const seen = r.json<Echoed>();
    assert.equal(seen.headers['x-causeway-consumer'], 'mobile-app');
    assert.equal(seen.headers['x-api-key'], undefined);
    assert.equal((await gw.record('auth-key-ok-1')).consumer, 'mobile-app');
  });

  test('?api_key= works too and is removed from the query sent upstream', async () => {
    const r = await send(`${gw.url}/k/a?x=1&api_key=${KEY}&y=2`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json<Echoed>().url, '/k/a?x=1&y=2');
  });

  test('missing, unknown and spoofed credentials → 401 from the registry, backend untouched', async () => {
    const before = backend.seen.length;
    assertUnauthorized(await send(`${gw.url}/k/a`));
    assertUnauthorized(await send(`${gw.url}/k/a`, { headers: { 'x-api-key': 'not-a-key-at-all-0000' } }));
    assertUnauthorized(await send(`${gw.url}/k/a`, { headers: { 'x-causeway-consumer': 'mobile-app' } }));
    assert.equal(backend.seen.length, before);
    const r = await send(`${gw.url}/k/a`, { headers: { 'x-request-id': 'auth-denied-01' } });
    assert.match(String(r.headers['www-authenticate']), /Signature/);
    const rec = await gw.record('auth-denied-01');
    assert.equal(rec.code, 'UNAUTHORIZED');
    assert.equal(rec.consumer, null);
  });

  test('a client cannot pass X-Causeway-Consumer through an authenticated route', async () => {
    const r = await send(`${gw.url}/k/a`, { headers: { 'x-api-key': KEY, 'x-causeway-consumer': 'admin' } });
    assert.equal(r.json<Echoed>().headers['x-causeway-consumer'], 'mobile-app');
  });

  test('an HMAC-signed GET and a signed POST with a body pass; the body reaches the backend intact', async () => {
    const g = await send(`${gw.url}/s/items?limit=5`, { headers: sign('GET', '/s/items?limit=5') });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json<Echoed>().headers.authorization, undefined, 'the signature is not forwarded');
    const body = JSON.stringify({ order: 42 });
    const p = await send(`${gw.url}/s/orders`, { method: 'POST', body, headers: { ...sign('POST', '/s/orders', body), 'content-type': 'application/json' } });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json<Echoed>().body, body);
  });

  test('HMAC failures are all the same 401: tampered body, path, query, wrong secret, stale date, replayed nonce', async () => {
    const before = backend.seen.length;
    const body = '{"amount":1}';
    const h = sign('POST', '/s/pay', body);
    assertUnauthorized(await send(`${gw.url}/s/pay`, { method: 'POST', body: '{"amount":9}', headers: h }));
    assertUnauthorized(await send(`${gw.url}/s/other`, { headers: sign('GET', '/s/items') }));
    assertUnauthorized(await send(`${gw.url}/s/items?limit=500`, { headers: sign('GET', '/s/items?limit=5') }));
    assertUnauthorized(await send(`${gw.url}/s/items`, { headers: signedHeaders({ keyId: 'app1', secret: 'wrong-secret-0123456789', method: 'GET', target: '/s/items', nonce: 'x1' }) }));
    assertUnauthorized(await send(`${gw.url}/s/items`, { headers: sign('GET', '/s/items', undefined, new Date(Date.now() - 120_000)) }));
    assertUnauthorized(await send(`${gw.url}/s/items`, { headers: signedHeaders({ keyId: 'nobody', secret: SECRET, method: 'GET', target: '/s/items', nonce: 'x2' }) }));
    assert.equal(backend.seen.length, before, 'no forged request reached the backend');
    const once = sign('GET', '/s/replay');
    assert.equal((await send(`${gw.url}/s/replay`, { headers: once })).status, 200);
    assertUnauthorized(await send(`${gw.url}/s/replay`, { headers: once }));
  });

  test('auth: [key, hmac] accepts either; a key on an hmac-only route does not count', async () => {
    assert.equal((await send(`${gw.url}/e/1`, { headers: { 'x-api-key': KEY } })).status, 200);
    assert.equal((await send(`${gw.url}/e/1`, { headers: sign('GET', '/e/1') })).status, 200);
    assertUnauthorized(await send(`${gw.url}/s/1`, { headers: { 'x-api-key': KEY } }));
  });

  test('a route without auth is untouched', async () => {
    const r = await send(`${gw.url}/o/1`, { headers: { 'x-request-id': 'auth-open-001' } });
    assert.equal(r.status, 200);
    assert.equal((await gw.record('auth-open-001')).consumer, null);
  });

  test('credentials created at run time work at once, rotate, revoke, and persist across a restart', async () => {
    const reg = gw.gateway.policies.consumers;
    assert.equal(await reg.createConsumer('partner'), true);
    const k = await reg.issue('partner', 'key');
    const h = await reg.issue('partner', 'hmac');
    assert.equal((await send(`${gw.url}/k/a`, { headers: { 'x-api-key': k.key! } })).status, 200);
    const signed = signedHeaders({ keyId: h.id, secret: h.secret!, method: 'GET', target: '/s/p', nonce: 'rt-1' });
    assert.equal((await send(`${gw.url}/s/p`, { headers: signed })).status, 200);
    const view = JSON.stringify(reg.list());
    assert.doesNotMatch(view, new RegExp(k.key!), 'the admin view never shows a key');
    assert.doesNotMatch(view, new RegExp(KEY));

    const rotated = await reg.rotate(k.id);
    assertUnauthorized(await send(`${gw.url}/k/a`, { headers: { 'x-api-key': k.key! } }));
    assert.equal((await send(`${gw.url}/k/a`, { headers: { 'x-api-key': rotated.key! } })).status, 200);

    // A second gateway on the same storage file sees what the first created.
    const gw2 = await startGateway(`
log: { access: false }
storage: { path: ${join(dir, 'causeway.db')} }
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: keyed, match: { path: /k/* }, upstream: b, auth: [key] }
`);
    try {
      assert.equal((await send(`${gw2.url}/k/a`, { headers: { 'x-api-key': rotated.key! } })).status, 200);
      assert.ok(gw2.gateway.policies.consumers.get('partner'));
      await reg.revoke(k.id);
      assertUnauthorized(await send(`${gw.url}/k/a`, { headers: { 'x-api-key': rotated.key! } }));
    } finally {
      await gw2.close();
    }
  });
});

describe('subscription: required', () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend(echo);
    gw = await startGateway(`
log: { access: false }
consumers:
  - { name: alpha, keys: [alpha-key-0123456789abcdef], subscriptions: [orders] }
  - { name: beta, keys: [beta-key-0123456789abcdefgh] }
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: orders, match: { path: /orders }, upstream: b, auth: [key], subscription: required }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  const call = (key: string) => send(`${gw.url}/orders`, { headers: { 'x-api-key': key } });
  const message = (r: { text: string }) => (JSON.parse(r.text) as { error: { message: string } }).error.message;

  test('a consumer subscribed in the config passes', async () => {
    assert.equal((await call('alpha-key-0123456789abcdef')).status, 200);
  });

  test('no subscription → 403 FORBIDDEN; requested → still 403, saying it is pending; approved → 200', async () => {
    const before = backend.seen.length;
    const none = await call('beta-key-0123456789abcdefgh');
    assert.equal(none.status, 403);
    assert.equal(none.headers['x-causeway-error'], 'FORBIDDEN');
    assert.match(message(none), /beta has no subscription to route orders/);
    const reg = gw.gateway.policies.consumers;
    assert.equal((await reg.requestSubscription('beta', 'orders')).status, 'pending');
    const pending = await call('beta-key-0123456789abcdefgh');
    assert.equal(pending.status, 403);
    assert.match(message(pending), /pending approval/);
    assert.equal(backend.seen.length, before);
    await reg.approveSubscription('beta', 'orders');
    assert.equal((await call('beta-key-0123456789abcdefgh')).status, 200);
    assert.equal(await reg.revokeSubscription('beta', 'orders'), true);
    assert.equal((await call('beta-key-0123456789abcdefgh')).status, 403);
  });
});
