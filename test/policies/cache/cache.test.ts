/** The response cache against a real backend: HIT/MISS, RFC 9111 storage rules, Vary, Age, revalidation, conditional requests, LRU by bytes. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteLru } from '../../../src/util/byte-lru.js';
import { responseKey } from '../../../src/policies/cache/store.js';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { send, startBackend, type Backend } from '../../helpers/wire.js';

describe('the response store (pure)', () => {
  test('LRU by bytes evicts the least recently used', () => {
    const lru = new ByteLru<{ size: number }>(100);
    lru.put('a', { size: 40 }, () => true);
    lru.put('b', { size: 40 }, () => true);
    lru.get('a');
    lru.put('c', { size: 40 }, () => true);
    assert.ok(lru.get('a') && lru.get('c') && !lru.get('b'));
    assert.ok(lru.bytes <= 100);
  });
});

describe('cache on a route', () => {
  let backend: Backend;
  let gw: TestGateway;
  const hits = new Map<string, number>();

  before(async () => {
    backend = await startBackend((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const n = String(hits.get(path));
      switch (path) {
        case '/c/fresh':
          res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
          return res.end(`fresh ${n}`);
        case '/c/nostore':
          res.writeHead(200, { 'cache-control': 'no-store' });
          return res.end(n);
        case '/c/private':
          res.writeHead(200, { 'cache-control': 'private, max-age=60' });
          return res.end(n);
        case '/c/vary':
          res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' });
          return res.end(`${req.headers['accept-language']} ${n}`);
        case '/c/etag':
          if (req.headers['if-none-match'] === '"v1"') {
            res.writeHead(304, { etag: '"v1"', 'cache-control': 'no-cache' });
            return res.end();
          }
          res.writeHead(200, { etag: '"v1"', 'cache-control': 'no-cache' });
          return res.end(`etag body ${n}`);
        case '/c/default':
          res.writeHead(200, { 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT' });
          return res.end(`default ${n}`);
        case '/c/cookie':
          res.writeHead(200, { 'cache-control': 'max-age=60', 'set-cookie': 'a=b' });
          return res.end(n);
        default:
          res.writeHead(200, { 'cache-control': 'max-age=60' });
          return res.end(`${req.method} ${n}`);
      }
    });
    gw = await startGateway(`
log: { access: false }
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: cached, match: { path: /c/* }, upstream: b, cache: { ttl: 10s } }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => send(`${gw.url}${path}`, { headers, method });

  test('MISS then HIT with Age; the backend is called once; the hit is in the call log without attempts', async () => {
    const a = await get('/c/fresh');
    assert.equal(a.headers['x-cache'], 'MISS');
    const b = await get('/c/fresh', { 'x-request-id': 'cache-hit-0001' });
    assert.equal(b.headers['x-cache'], 'HIT');
    assert.equal(b.text, 'fresh 1');
    assert.ok(Number(b.headers.age) >= 0);
    assert.equal(b.headers['x-request-id'], 'cache-hit-0001');
    assert.equal(hits.get('/c/fresh'), 1);
    const rec = await gw.record('cache-hit-0001');
    assert.equal(rec.status, 200);
    assert.deepEqual(rec.attempts, []);
  });

  test('HEAD is answered from the stored GET, without a body', async () => {
    const r = await get('/c/fresh', {}, 'HEAD');
    assert.equal(r.headers['x-cache'], 'HIT');
    assert.equal(r.body.length, 0);
  });

  test('no-store, private and Set-Cookie responses are never stored', async () => {
    for (const p of ['/c/nostore', '/c/private', '/c/cookie']) {
      await get(p);
      const r = await get(p);
      assert.equal(r.headers['x-cache'], 'MISS', p);
      assert.equal(hits.get(p), 2, p);
    }
  });

  test('a request with no-cache goes upstream; a request with no-store is not stored', async () => {
    await get('/c/rq');
    const r = await get('/c/rq', { 'cache-control': 'no-cache' });
    assert.equal(r.headers['x-cache'], 'MISS');
    assert.equal(hits.get('/c/rq'), 2);
    await get('/c/rq2', { 'cache-control': 'no-store' });
    assert.equal((await get('/c/rq2')).headers['x-cache'], 'MISS');
  });

  test('Vary: each Accept-Language is its own entry', async () => {
    assert.equal((await get('/c/vary', { 'accept-language': 'en' })).text, 'en 1');
    assert.equal((await get('/c/vary', { 'accept-language': 'fr' })).text, 'fr 2');
    const en = await get('/c/vary', { 'accept-language': 'en' });
    assert.equal(en.text, 'en 1');
    assert.equal(en.headers['x-cache'], 'HIT');
  });

  test('no-cache with an ETag: revalidated upstream with If-None-Match; the 304 refreshes and the stored body is served', async () => {
    assert.equal((await get('/c/etag')).text, 'etag body 1');
    const r = await get('/c/etag');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'etag body 1', 'served from the store after a 304');
    assert.equal(r.headers['x-cache'], 'HIT');
    assert.equal(backend.seen.at(-1)!.headers['if-none-match'], '"v1"');
    assert.equal(hits.get('/c/etag'), 2);
  });

  test("a client's conditional GET on a fresh entry gets 304 from the cache", async () => {
    await get('/c/default');
    const r = await get('/c/default', { 'if-modified-since': 'Tue, 02 Jan 2024 00:00:00 GMT' });
    assert.equal(r.status, 304);
    assert.equal(r.headers['x-cache'], 'HIT');
    const older = await get('/c/default', { 'if-modified-since': 'Sun, 31 Dec 2023 00:00:00 GMT' });
    assert.equal(older.status, 200);
    assert.equal(hits.get('/c/default'), 1);
  });

  test('Authorization: a response without public/s-maxage/must-revalidate is not stored', async () => {
    await get('/c/authz', { authorization: 'Bearer x' });
    assert.equal((await get('/c/authz', { authorization: 'Bearer x' })).headers['x-cache'], 'MISS');
  });

  test('a POST to a cached URL invalidates it', async () => {
    await get('/c/inv');
    assert.equal((await get('/c/inv')).headers['x-cache'], 'HIT');
    await get('/c/inv', {}, 'POST');
    assert.equal((await get('/c/inv')).headers['x-cache'], 'MISS');
  });

  test('the stored response is in the one response store, under a key that ignores the case of the host', () => {
    const s = gw.gateway.policies.responses.find(responseKey('cached', `127.0.0.1:${gw.port}`.toUpperCase(), '/c/fresh'), {});
    assert.ok(s);
    assert.equal(s.body.toString(), 'fresh 1');
  });
});

describe('the cache and the route fallback share one store', () => {
  test('a fallback answer is never stored as the backend\'s: the next call goes upstream again', async () => {
    let up = true;
    let calls = 0;
    const backend = await startBackend((_req, res) => {
      calls++;
      if (!up) return res.socket!.destroy();
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.end(`real ${calls}`);
    });
    const gw = await startGateway(`
log: { access: false }
upstreams:
  b: { targets: [{ url: ${backend.url} }], retries: { attempts: 1 } }
routes:
  - name: r
    match: { path: /* }
    upstream: b
    cache: { ttl: 10s }
    fallback: { response: { status: 200, body: degraded } }
`);
    try {
      up = false;
      const first = await send(`${gw.url}/x`);
      assert.equal(first.text, 'degraded');
      assert.equal(first.headers['x-causeway-fallback'], 'static');
      up = true;
      const second = await send(`${gw.url}/x`);
      assert.equal(second.text, 'real 2', 'the fallback answer was not served from the cache');
      assert.equal(second.headers['x-cache'], 'MISS');
      const third = await send(`${gw.url}/x`);
      assert.equal(third.headers['x-cache'], 'HIT');
      assert.equal(third.text, 'real 2');
    } finally {
      await gw.close();
      await backend.close();
    }
  });

  test('a stale fallback answers from what the cache stored, and a cache hit is not stored again', async () => {
    let up = true;
    const backend = await startBackend((_req, res) => {
      if (!up) return res.socket!.destroy();
      res.writeHead(200, { 'cache-control': 'max-age=0' });
      res.end('kept');
    });
    const gw = await startGateway(`
log: { access: false }
upstreams:
  b: { targets: [{ url: ${backend.url} }], retries: { attempts: 1 } }
routes:
  - { name: r, match: { path: /* }, upstream: b, cache: { ttl: 10s }, fallback: { staleFor: 60s } }
`);
    try {
      assert.equal((await send(`${gw.url}/s`)).text, 'kept');
      assert.equal(gw.gateway.policies.responses.stats.keys, 1);
      up = false;
      const r = await send(`${gw.url}/s`);
      assert.equal(r.status, 200);
      assert.equal(r.text, 'kept');
      assert.equal(r.headers['x-causeway-fallback'], 'stale');
      assert.equal(gw.gateway.policies.responses.stats.keys, 1);
    } finally {
      await gw.close();
      await backend.close();
    }
  });
});
