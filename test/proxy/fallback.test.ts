import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import type { FallbackConfig } from '../../src/config/schema.js';
import { MAX_STALE_ENTRY_BYTES, StaleStore, staticFallback, withHeaders, type StoredResponse } from '../../src/proxy/fallback.js';

/** What one entry costs the store (body, key as UTF-16, and a fixed overhead). */
const cost = (key: string, bodyBytes: number) => bodyBytes + key.length * 2 + 256;

function entry(body: string | Buffer, storedAt = 0, status = 200): StoredResponse {
  return { status, headers: ['content-type', 'text/plain', 'etag', '"v1"'], body: Buffer.isBuffer(body) ? body : Buffer.from(body), storedAt };
}

describe('StaleStore', () => {
  test('keys separate route, host and path', () => {
    const keys = new Set([
      StaleStore.key('orders', 'a.example', '/x?q=1'),
      StaleStore.key('orders', 'b.example', '/x?q=1'),
      StaleStore.key('orders', 'a.example', '/x?q=2'),
      StaleStore.key('users', 'a.example', '/x?q=1'),
      StaleStore.key('orders', undefined, '/x?q=1'),
    ]);
    assert.equal(keys.size, 5);
    assert.equal(StaleStore.key('r', 'h', '/p'), StaleStore.key('r', 'h', '/p'));
  });

  test('get() returns an entry within maxAge, at the boundary too', () => {
    const s = new StaleStore();
    const e = entry('hello', 1000);
    s.set('k', e);
    assert.equal(s.get('k', 5000, 1000), e);
    assert.equal(s.get('k', 5000, 3000), e);
    assert.equal(s.get('k', 5000, 6000), e, 'exactly maxAge old is still served');
    assert.equal(s.size, 1);
    assert.equal(s.get('missing', 5000, 1000), undefined);
  });

  test('expired entries are dropped', () => {
    const s = new StaleStore();
    s.set('k', entry('hello', 1000));
    assert.equal(s.get('k', 5000, 6001), undefined);
    assert.equal(s.size, 0, 'the expired entry is removed, not only hidden');
    // Once dropped, it stays gone even for a longer maxAge.
    assert.equal(s.get('k', 60_000, 6002), undefined);
  });

  test('maxAge is the caller\'s: the same entry may be fresh for one route and expired for another', () => {
    const s = new StaleStore();
    s.set('k', entry('x', 0));
    assert.ok(s.get('k', 10_000, 5000));
    assert.equal(s.get('k', 1000, 5000), undefined);
  });

  test('defaults the clock to performance.now()', () => {
    const s = new StaleStore();
    s.set('now', entry('x', performance.now()));
    assert.ok(s.get('now', 60_000));
    s.set('old', entry('x', performance.now() - 120_000));
    assert.equal(s.get('old', 60_000), undefined);
  });

  test('setting a key again replaces its entry and its byte count', () => {
    const one = cost('k', 1000);
    const s = new StaleStore(one * 2);
    s.set('k', entry(Buffer.alloc(1000, 1), 0));
    s.set('k', entry(Buffer.alloc(1000, 2), 1));
    s.set('k', entry(Buffer.alloc(1000, 3), 2));
    assert.equal(s.size, 1);
    assert.equal(s.get('k', 1e9, 10)!.body[0], 3);
    // Replacing did not leak bytes: another entry of the same size still fits.
    s.set('j', entry(Buffer.alloc(1000), 3));
    assert.equal(s.size, 2);
    assert.ok(s.get('k', 1e9, 10));
  });

  test('evicts least recently stored first when over its byte limit', () => {
    const one = cost('k1', 1000);
    const s = new StaleStore(one * 3);
    for (const k of ['k1', 'k2', 'k3']) s.set(k, entry(Buffer.alloc(1000), 0));
    assert.equal(s.size, 3);
    s.set('k4', entry(Buffer.alloc(1000), 0));
    assert.equal(s.size, 3);
    assert.equal(s.get('k1', 1e9, 1), undefined, 'the oldest goes first');
    for (const k of ['k2', 'k3', 'k4']) assert.ok(s.get(k, 1e9, 1), k);
  });

  test('get() refreshes recency: a recently read entry outlives newer unread ones', () => {
    const one = cost('k1', 1000);
    const s = new StaleStore(one * 3);
    for (const k of ['k1', 'k2', 'k3']) s.set(k, entry(Buffer.alloc(1000), 0));
    assert.ok(s.get('k1', 1e9, 1));
    s.set('k4', entry(Buffer.alloc(1000), 0));
    assert.ok(s.get('k1', 1e9, 1), 'k1 was read last, so it stays');
    assert.equal(s.get('k2', 1e9, 1), undefined, 'k2 is now the least recently used');
    assert.ok(s.get('k3', 1e9, 1));
    assert.ok(s.get('k4', 1e9, 1));
  });

  test('a big entry evicts as many old ones as it needs', () => {
    const s = new StaleStore(cost('k1', 1000) * 4);
    for (const k of ['k1', 'k2', 'k3', 'k4']) s.set(k, entry(Buffer.alloc(1000), 0));
    s.set('bb', entry(Buffer.alloc(2000), 0));
    assert.equal(s.get('k1', 1e9, 1), undefined);
    assert.equal(s.get('k2', 1e9, 1), undefined);
    assert.ok(s.get('k3', 1e9, 1));
    assert.ok(s.get('k4', 1e9, 1));
    assert.ok(s.get('bb', 1e9, 1));
    assert.equal(s.size, 3);
  });

  test('an entry bigger than the whole store is not stored and evicts nothing', () => {
    const s = new StaleStore(4096);
    s.set('small', entry('x', 0));
    s.set('huge', entry(Buffer.alloc(5000), 0));
    assert.equal(s.get('huge', 1e9, 1), undefined);
    assert.ok(s.get('small', 1e9, 1));
    assert.equal(s.size, 1);
  });

  test('stays within its byte budget through many inserts', () => {
    const max = 50_000;
    const s = new StaleStore(max);
    for (let i = 0; i < 2000; i++) s.set(`key-${i}`, entry(Buffer.alloc((i * 37) % 3000), i));
    // Count what it holds by reading every key that could be there.
    let bytes = 0;
    let held = 0;
    for (let i = 0; i < 2000; i++) {
      const e = s.get(`key-${i}`, 1e9, 2000);
      if (e) {
        held++;
        bytes += cost(`key-${i}`, e.body.length);
      }
    }
    assert.equal(held, s.size);
    assert.ok(held > 5, `held ${held}`);
    assert.ok(bytes <= max, `${bytes} bytes held over a ${max} byte budget`);
    assert.ok(s.get('key-1999', 1e9, 2000), 'the newest is kept');
  });

  test('the per-entry limit is 1 MiB', () => {
    assert.equal(MAX_STALE_ENTRY_BYTES, 1024 * 1024);
  });
});

/** The fallback of route `r` in a parsed config. */
function fallbackOf(yaml: string): FallbackConfig {
  const text = ['upstreams:', '  u:', '    targets: [{ url: http://127.0.0.1:9001 }]', 'routes:', '  - name: r', '    match: { path: /x }', '    upstream: u', ...yaml.split('\n').map((l) => `    ${l}`)].join('\n') + '\n';
  const f = parseConfig(text, 'fallback.yaml', {}).routes[0]!.fallback;
  assert.ok(f);
  return f;
}

describe('staticFallback', () => {
  test('renders a JSON body with a JSON content type', () => {
    const r = staticFallback(fallbackOf('fallback: { response: { status: 200, json: { items: [], degraded: true } } }'));
    assert.ok(r);
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body.toString()), { items: [], degraded: true });
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  });

  test('renders a text body with the headers given and the status given', () => {
    const r = staticFallback(fallbackOf(['fallback:', '  response:', '    status: 503', '    headers: { Retry-After: "30", Content-Type: text/plain }', '    body: come back later'].join('\n')));
    assert.ok(r);
    assert.equal(r.status, 503);
    assert.equal(r.body.toString(), 'come back later');
    assert.deepEqual(r.headers, { 'Retry-After': '30', 'Content-Type': 'text/plain' });
  });

  test('a content type of the user\'s wins over the JSON default, whatever its case', () => {
    const r = staticFallback(fallbackOf('fallback: { response: { json: { a: 1 }, headers: { Content-Type: application/problem+json } } }'));
    assert.ok(r);
    const types = Object.entries(r.headers).filter(([k]) => k.toLowerCase() === 'content-type');
    assert.deepEqual(types, [['Content-Type', 'application/problem+json']], 'exactly one content type, the configured one');
    const lower = staticFallback(fallbackOf('fallback: { response: { json: [1], headers: { content-type: application/vnd.x+json } } }'))!;
    assert.deepEqual(lower.headers, { 'content-type': 'application/vnd.x+json' });
  });

  test('status defaults to 200 and the body to empty', () => {
    const r = staticFallback(fallbackOf('fallback: { response: {} }'));
    assert.ok(r);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    assert.deepEqual(r.headers, {});
  });

  test('json null and false are rendered, not dropped', () => {
    assert.equal(staticFallback(fallbackOf('fallback: { response: { json: false } }'))!.body.toString(), 'false');
    assert.equal(staticFallback(fallbackOf('fallback: { response: { json: 0 } }'))!.body.toString(), '0');
  });

  test('a stale fallback has no static response', () => {
    assert.equal(staticFallback(fallbackOf('fallback: { staleFor: 60s }')), null);
  });

  test('does not share header objects with the config', () => {
    const f = fallbackOf('fallback: { response: { json: {}, headers: { x-a: "1" } } }');
    const r = staticFallback(f)!;
    r.headers['x-b'] = '2';
    assert.ok('response' in f);
    assert.deepEqual(f.response.headers, { 'x-a': '1' });
  });
});

describe('withHeaders', () => {
  test('replaces names case-insensitively and appends the new values at the end', () => {
    const out = withHeaders(['Content-Type', 'text/plain', 'X-Causeway-Error', 'OLD', 'ETag', '"1"', 'age', '5'], ['x-causeway-error', 'UPSTREAM_CONNECTION_REFUSED', 'Age', '12', 'x-causeway-fallback', 'stale']);
    assert.deepEqual(out, ['Content-Type', 'text/plain', 'ETag', '"1"', 'x-causeway-error', 'UPSTREAM_CONNECTION_REFUSED', 'Age', '12', 'x-causeway-fallback', 'stale']);
  });

  test('drops every repeat of a replaced name (e.g. several Set-Cookie or Warning lines)', () => {
    const out = withHeaders(['warning', 'a', 'Warning', 'b', 'x', '1'], ['WARNING', 'c']);
    assert.deepEqual(out, ['x', '1', 'WARNING', 'c']);
  });

  test('keeps repeats of names it does not set', () => {
    const out = withHeaders(['set-cookie', 'a=1', 'set-cookie', 'b=2'], ['age', '0']);
    assert.deepEqual(out, ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'age', '0']);
  });

  test('empty lists', () => {
    assert.deepEqual(withHeaders([], []), []);
    assert.deepEqual(withHeaders([], ['a', '1']), ['a', '1']);
    assert.deepEqual(withHeaders(['a', '1'], []), ['a', '1']);
  });

  test('does not modify its inputs', () => {
    const h = ['a', '1', 'b', '2'];
    const set = ['A', '3'];
    withHeaders(h, set);
    assert.deepEqual(h, ['a', '1', 'b', '2']);
    assert.deepEqual(set, ['A', '3']);
  });
});
