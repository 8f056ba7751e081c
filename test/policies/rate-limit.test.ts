/** Local token buckets end to end: 429 from the registry, Retry-After, the IETF RateLimit headers, each `by`. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalBuckets } from '../../src/policies/rate-limit/bucket.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { echo, send, startBackend, type Backend } from '../helpers/wire.js';

describe('token bucket (clock mocked)', () => {
  test('a burst of `requests`, then one token per per/requests ms', () => {
    let now = 1000;
    const b = new LocalBuckets(100, () => now);
    for (let i = 0; i < 3; i++) assert.equal(b.take('k', 3, 3000).allowed, true);
    const denied = b.take('k', 3, 3000);
    assert.equal(denied.allowed, false);
    assert.equal(denied.retryAfterMs, 1000);
    now += 999;
    assert.equal(b.take('k', 3, 3000).allowed, false);
    now += 2;
    assert.equal(b.take('k', 3, 3000).allowed, true);
    assert.equal(b.take('other', 3, 3000).allowed, true, 'keys are independent');
  });

  test('the number of buckets is bounded', () => {
    const b = new LocalBuckets(50, () => 0);
    for (let i = 0; i < 500; i++) b.take(`ip${i}`, 1, 1000);
    assert.ok((b as unknown as { buckets: Map<string, unknown> }).buckets.size <= 50);
  });
});

describe('rateLimit on routes', () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend(echo);
    gw = await startGateway(`
log: { access: false }
server: { trustedProxies: [127.10.0.0/16, 127.0.0.0/8] }
consumers:
  - { name: a, keys: [key-a-0123456789abcdef] }
  - { name: b, keys: [key-b-0123456789abcdef] }
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: per-consumer, match: { path: /c }, upstream: b, auth: [key], rateLimit: { requests: 2, per: 10s, by: consumer } }
  - { name: per-route, match: { path: /r }, upstream: b, rateLimit: { requests: 3, per: 10s, by: route } }
  - { name: per-header, match: { path: /h }, upstream: b, rateLimit: { requests: 1, per: 10s, by: "header:x-tenant" } }
  - { name: per-ip, match: { path: /i }, upstream: b, rateLimit: { requests: 1, per: 10s, by: ip } }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test('by route: the 4th call in the window is 429 RATE_LIMITED with Retry-After and RateLimit headers', async () => {
    const statuses: number[] = [];
    let last = await send(`${gw.url}/r`);
    statuses.push(last.status);
    assert.equal(last.headers['ratelimit-policy'], '"per-route";q=3;w=10');
    assert.match(String(last.headers.ratelimit), /^"per-route";r=2;t=\d+$/);
    for (let i = 0; i < 3; i++) {
      last = await send(`${gw.url}/r`, { headers: { 'x-request-id': `rl-route-${i}-xxxx` } });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.equal(last.headers['x-causeway-error'], 'RATE_LIMITED');
    const retry = Number(last.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 4, `Retry-After ${retry}`);
    assert.match(String(last.headers.ratelimit), /^"per-route";r=0;t=\d+$/);
    assert.equal((await gw.record('rl-route-2-xxxx')).code, 'RATE_LIMITED');
  });

  test('by consumer: each consumer has its own bucket', async () => {
    const a = [];
    for (let i = 0; i < 3; i++) a.push((await send(`${gw.url}/c`, { headers: { 'x-api-key': 'key-a-0123456789abcdef' } })).status);
    assert.deepEqual(a, [200, 200, 429]);
    assert.equal((await send(`${gw.url}/c`, { headers: { 'x-api-key': 'key-b-0123456789abcdef' } })).status, 200);
  });

  test('by header: each value has its own bucket', async () => {
    assert.equal((await send(`${gw.url}/h`, { headers: { 'x-tenant': 't1' } })).status, 200);
    assert.equal((await send(`${gw.url}/h`, { headers: { 'x-tenant': 't1' } })).status, 429);
    assert.equal((await send(`${gw.url}/h`, { headers: { 'x-tenant': 't2' } })).status, 200);
  });

  test('by ip behind trusted proxies: the right-most untrusted X-Forwarded-For hop is the client', async () => {
    // The peer (127.0.0.1) and 10.x are trusted proxies; 203.0.113.x are clients. A spoofed left-most entry is ignored.
    const asClient = (xff: string) => send(`${gw.url}/i`, { headers: { 'x-forwarded-for': xff } });
    assert.equal((await asClient('203.0.113.7, 127.10.2.3')).status, 200);
    assert.equal((await asClient('198.51.100.1, 203.0.113.7, 127.10.9.9')).status, 429, 'same client behind another proxy hop');
    assert.equal((await asClient('203.0.113.8')).status, 200);
  });
});
