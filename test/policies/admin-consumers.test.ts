/** The admin API for consumers: create, issue, rotate, revoke credentials; request and approve subscriptions — and the data plane obeys at once. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { signedHeaders } from '../../src/policies/auth/hmac.js';
import { startAdmin, type AdminFixture } from '../helpers/admin.js';
import { echo, send, startBackend, type Backend } from '../helpers/wire.js';

describe('admin API: consumers, credentials, subscriptions', () => {
  let backend: Backend;
  let fx: AdminFixture;

  before(async () => {
    backend = await startBackend(echo);
    fx = await startAdmin(`
log: { access: false }
storage: { path: ":memory:" }
consumers:
  - { name: configured, keys: [configured-key-0123456789] }
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: orders, match: { path: /orders }, upstream: b, auth: [key, hmac], subscription: required }
`);
  });
  after(async () => {
    await fx.close();
    await backend.close();
  });

  const post = (path: string, body?: unknown) => fx.call(path, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });

  test('the whole life of a consumer', async () => {
    assert.equal((await post('/api/consumers', { name: 'shop' })).status, 200);
    assert.equal((await post('/api/consumers', { name: 'shop' })).status, 400, 'duplicate');
    const key = (await post('/api/consumers/shop/keys')).json<{ id: string; key: string }>();
    const pair = (await post('/api/consumers/shop/hmac')).json<{ id: string; secret: string }>();
    const withKey = (k: string) => send(`${fx.url}/orders`, { headers: { 'x-api-key': k } });

    assert.equal((await withKey(key.key)).status, 403, 'authenticated, not yet subscribed');
    const sub = await post('/api/consumers/shop/subscriptions', { route: 'orders' });
    assert.equal(sub.json<{ status: string }>().status, 'pending');
    assert.equal((await post('/api/consumers/shop/subscriptions', { route: 'nope' })).status, 404);
    assert.equal((await withKey(key.key)).status, 403);
    assert.equal((await post('/api/consumers/shop/subscriptions/orders/approve')).json<{ status: string }>().status, 'approved');
    assert.equal((await withKey(key.key)).status, 200);
    const signed = signedHeaders({ keyId: pair.id, secret: pair.secret, method: 'GET', target: '/orders', nonce: 'adm-1' });
    assert.equal((await send(`${fx.url}/orders`, { headers: signed })).status, 200);

    const listing = await fx.call('/api/consumers');
    assert.equal(listing.status, 200);
    assert.ok(!listing.text.includes(key.key) && !listing.text.includes(pair.secret), 'listings never show keys or secrets');
    assert.ok(!listing.text.includes('configured-key-0123456789'));

    const rotated = (await post(`/api/consumers/shop/credentials/${key.id}/rotate`)).json<{ id: string; key: string }>();
    assert.equal(rotated.id, key.id);
    assert.equal((await withKey(key.key)).status, 401);
    assert.equal((await withKey(rotated.key)).status, 200);
    assert.equal((await post(`/api/consumers/shop/credentials/${key.id}/revoke`)).status, 200);
    assert.equal((await withKey(rotated.key)).status, 401);
    assert.equal((await post('/api/consumers/configured/credentials/configured.key1/revoke')).status, 400, 'config credentials change in the file');
    assert.equal((await fx.call('/api/consumers/nobody')).status, 404);
    const stats = await fx.call('/api/policies');
    assert.equal(stats.json<{ rateLimit: { redisUp: null } }>().rateLimit.redisUp, null);
  });
});
