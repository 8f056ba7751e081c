/**
 * RFC 9111 (and RFC 5861, RFC 9213, RFC 9110 ranges and 1xx) conformance of the response cache,
 * one test per behaviour, end to end: a real backend answering each path its own way, a real
 * gateway, a real client. docs/cache.md lists these behaviours with their RFC level.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { rawExchange, send, sleep, startBackend, until, type Backend } from '../../helpers/wire.js';

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

describe('RFC 9111 conformance, end to end', () => {
  let backend: Backend;
  let gw: TestGateway;
  const hits = new Map<string, number>();
  const paths = new Map<string, Handler>();

  /** Registers how the backend answers `path`; returns the path. */
  const on = (path: string, h: Handler) => (paths.set(path, h), path);
  const calls = (path: string) => hits.get(path) ?? 0;
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET', base = '/c') => send(`${gw.url}${base}${path}`, { headers, method });

  before(async () => {
    backend = await startBackend((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      const n = (hits.get(path) ?? 0) + 1;
      hits.set(path, n);
      const h = paths.get(path);
      if (h) return h(req, res, n);
      res.writeHead(404);
      res.end();
    });
    gw = await startGateway(`
log: { access: false }
upstreams:
  b: { targets: [{ url: ${backend.url} }], retries: { attempts: 1 } }
routes:
  - { name: c, match: { path: /c/* }, upstream: b, stripPrefix: /c, cache: { ttl: 10s } }
  - { name: none, match: { path: /none/* }, upstream: b, stripPrefix: /none, cache: { ttl: 10s, heuristic: none } }
  - { name: lm, match: { path: /lm/* }, upstream: b, stripPrefix: /lm, cache: { ttl: 1h, heuristic: last-modified } }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test('Expires in the RFC 850 and asctime formats gives freshness (RFC 9110 5.6.7: all three formats MUST be accepted)', async () => {
    const later = new Date(Date.now() + 3_600_000);
    const day = later.toUTCString().slice(0, 3);
    const full = { Sun: 'Sunday', Mon: 'Monday', Tue: 'Tuesday', Wed: 'Wednesday', Thu: 'Thursday', Fri: 'Friday', Sat: 'Saturday' }[day]!;
    const [, dd, mon, yyyy, time] = later.toUTCString().split(' ');
    const rfc850 = `${full}, ${dd}-${mon}-${yyyy!.slice(2)} ${time} GMT`;
    const asctime = `${day} ${mon} ${String(Number(dd)).padStart(2, ' ')} ${time} ${yyyy}`;
    for (const [name, expires] of [['rfc850', rfc850], ['asctime', asctime]]) {
      const p = on(`/date-${name}`, (_q, r) => (r.writeHead(200, { expires }), r.end('x')));
      await get(p);
      assert.equal((await get(p)).headers['x-cache'], 'HIT', `${name}: ${expires}`);
      assert.equal(calls(p), 1);
    }
  });

  test('an invalid Expires (including "0") means already expired, whatever the route ttl (RFC 9111 5.3 MUST)', async () => {
    for (const expires of ['0', 'tomorrow', 'Sun, 06 Nov 1994 08:49:37 UTC']) {
      const p = on(`/expires-${encodeURIComponent(expires)}`, (_q, r) => (r.writeHead(200, { expires }), r.end('x')));
      await get(p);
      assert.equal((await get(p)).headers['x-cache'], 'MISS', expires);
      assert.equal(calls(p), 2, expires);
    }
  });

  test('Age given as a list or in two lines counts by its first member (RFC 9111 5.1)', async () => {
    const p = on('/age-list', (_q, r) => {
      r.setHeader('cache-control', 'max-age=600');
      r.setHeader('age', ['100', '900']);
      r.end('x');
    });
    await get(p);
    const hit = await get(p);
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.ok(Number(hit.headers.age) >= 100 && Number(hit.headers.age) < 110, `age ${hit.headers.age}`);
  });

  test('Cache-Control in two lines is one list: a no-store in the second line wins (RFC 9111 5.2 MUST NOT store)', async () => {
    const p = on('/cc-lines', (_q, r) => {
      r.setHeader('cache-control', ['max-age=60', 'no-store']);
      r.end('x');
    });
    await get(p);
    assert.equal((await get(p)).headers['x-cache'], 'MISS');
    assert.equal(calls(p), 2);
  });

  test('Vary: * inside a list is never matched (RFC 9111 4.1 MUST)', async () => {
    const p = on('/vary-star', (_q, r) => (r.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Encoding, *' }), r.end('x')));
    await get(p);
    assert.equal((await get(p)).headers['x-cache'], 'MISS');
  });

  test('Vary: a stored response answers only requests with the same nominated header values, absent included (RFC 9111 4.1 MUST)', async () => {
    const p = on('/vary-absent', (q, r) => (r.writeHead(200, { 'cache-control': 'max-age=60', vary: 'X-Variant' }), r.end(String(q.headers['x-variant']))));
    assert.equal((await get(p)).text, 'undefined');
    assert.equal((await get(p, { 'x-variant': '' })).headers['x-cache'], 'MISS', 'an empty value is not an absent one');
    assert.equal((await get(p)).headers['x-cache'], 'HIT');
  });

  test('heuristic none: a response without freshness is stored but revalidated before every use (no freshness invented)', async () => {
    const lm = new Date(Date.now() - 100_000).toUTCString();
    const p = on('/heur-none', (q, r) => {
      if (q.headers['if-modified-since'] === lm) return r.writeHead(304).end();
      r.writeHead(200, { 'last-modified': lm });
      r.end('body');
    });
    await get(p, {}, 'GET', '/none');
    const again = await get(p, {}, 'GET', '/none');
    assert.equal(again.text, 'body');
    assert.equal(calls(p), 2, 'went upstream');
    assert.equal(backend.seen.at(-1)!.headers['if-modified-since'], lm, 'as a conditional request');
  });

  test('heuristic last-modified: fresh for 10% of the time since Last-Modified (RFC 9111 4.2.2)', async () => {
    const p = on('/heur-lm', (_q, r) => (r.writeHead(200, { 'last-modified': new Date(Date.now() - 100_000).toUTCString() }), r.end('x')));
    await get(p, {}, 'GET', '/lm');
    assert.equal((await get(p, {}, 'GET', '/lm')).headers['x-cache'], 'HIT');
    assert.equal(calls(p), 1);
  });

  test('heuristic ttl: a response with no freshness information is fresh for the route ttl', async () => {
    const p = on('/heur-ttl', (_q, r) => r.end('x'));
    await get(p);
    assert.equal((await get(p)).headers['x-cache'], 'HIT');
  });

  test('stale-while-revalidate: the stale response is served at once and refreshed in the background (RFC 5861 3)', async () => {
    const p = on('/swr', (_q, r, n) => (r.writeHead(200, { 'cache-control': 'max-age=1, stale-while-revalidate=60', age: n === 1 ? '1' : '0' }), r.end(`v${n}`)));
    assert.equal((await get(p)).text, 'v1');
    const stale = await get(p);
    assert.equal(stale.text, 'v1');
    assert.equal(stale.headers['x-cache'], 'STALE');
    await until(() => calls(p) === 2, 3000);
    await sleep(50);
    const fresh = await get(p);
    assert.equal(fresh.text, 'v2');
    assert.equal(fresh.headers['x-cache'], 'HIT');
    const bg = gw.records.filter((r) => r.path === '/c/swr');
    assert.equal(bg.length, 4, 'the background revalidation leaves its own call record');
  });

  test('stale-if-error: a stale response answers for a 503 and for a failed connection (RFC 5861 4)', async () => {
    let mode: 'ok' | '503' | 'close' = 'ok';
    const p = on('/sie', (_q, r) => {
      // A storable 503: the stale response stands in for it, and it is not stored over it.
      if (mode === '503') return r.writeHead(503, { 'cache-control': 'max-age=60' }).end('down');
      if (mode === 'close') return r.socket!.destroy();
      r.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=60', age: '1' });
      r.end('good');
    });
    await get(p);
    mode = '503';
    for (let i = 0; i < 2; i++) {
      const a = await get(p);
      assert.equal(a.status, 200);
      assert.equal(a.text, 'good');
      assert.equal(a.headers['x-cache'], 'STALE');
    }
    mode = 'close';
    const b = await get(p, { 'x-request-id': 'stale-if-error-1' });
    assert.equal(b.status, 200);
    assert.equal(b.text, 'good');
    const rec = await gw.record('stale-if-error-1');
    assert.match(String(rec.code), /^UPSTREAM_CONNECTION_(CLOSED|RESET)$/, 'the record keeps the failure');
  });

  test('must-revalidate forbids serving stale, stale-if-error or not (RFC 9111 5.2.2.2 MUST NOT)', async () => {
    let down = false;
    const p = on('/must-reval', (_q, r) => {
      if (down) return r.writeHead(503).end('down');
      r.writeHead(200, { 'cache-control': 'max-age=1, must-revalidate, stale-if-error=60, stale-while-revalidate=60', age: '1' });
      r.end('good');
    });
    await get(p);
    down = true;
    const r = await get(p);
    assert.equal(r.status, 503);
  });

  test('Range: a byte range is answered from the stored full response (RFC 9110 14)', async () => {
    const p = on('/range', (_q, r) => (r.writeHead(200, { 'cache-control': 'max-age=60', etag: '"r1"' }), r.end('0123456789')));
    await get(p);
    const r = await get(p, { range: 'bytes=2-5' });
    assert.equal(r.status, 206);
    assert.equal(r.text, '2345');
    assert.equal(r.headers['content-range'], 'bytes 2-5/10');
    assert.equal(r.headers['x-cache'], 'HIT');
    const other = await get(p, { range: 'bytes=2-5', 'if-range': '"other"' });
    assert.equal(other.status, 200, 'If-Range that does not match: the whole response');
    assert.equal(other.text, '0123456789');
    assert.equal(calls(p), 1);
  });

  test('CDN-Cache-Control governs over Cache-Control, Causeway-Cache-Control over both, and is not sent on (RFC 9213)', async () => {
    const cdn = on('/cdn', (_q, r) => (r.writeHead(200, { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }), r.end('x')));
    await get(cdn);
    assert.equal((await get(cdn)).headers['x-cache'], 'HIT');
    const own = on('/own', (_q, r) => (r.writeHead(200, { 'cdn-cache-control': 'no-store', 'causeway-cache-control': 'max-age=60' }), r.end('x')));
    const first = await get(own);
    assert.equal(first.headers['causeway-cache-control'], undefined);
    const hit = await get(own);
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['causeway-cache-control'], undefined);
    assert.equal(hit.headers['cdn-cache-control'], 'no-store', 'the CDN field passes on to caches behind');
    const bad = on('/own-bad', (_q, r) => (r.writeHead(200, { 'cache-control': 'no-store', 'causeway-cache-control': 'Max-Age=60' }), r.end('x')));
    await get(bad);
    assert.equal((await get(bad)).headers['x-cache'], 'MISS', 'an invalid targeted field is ignored');
  });

  test('an unsafe method invalidates only when it succeeds, and invalidates Location too (RFC 9111 4.4 MUST)', async () => {
    let postStatus = 500;
    const item = on('/inv', (q, r) => {
      if (q.method === 'POST') return r.writeHead(postStatus, { location: '/inv-other' }).end();
      r.writeHead(200, { 'cache-control': 'max-age=60' });
      r.end('x');
    });
    const other = on('/inv-other', (_q, r) => (r.writeHead(200, { 'cache-control': 'max-age=60' }), r.end('y')));
    await get(item);
    await get(other);
    await get(item, {}, 'POST');
    assert.equal((await get(item)).headers['x-cache'], 'HIT', 'a failed POST leaves it');
    postStatus = 201;
    await get(item, {}, 'POST');
    assert.equal((await get(item)).headers['x-cache'], 'MISS');
    assert.equal((await get(other)).headers['x-cache'], 'MISS', 'Location invalidated');
    await get(item, {}, 'OPTIONS');
    assert.equal((await get(item)).headers['x-cache'], 'HIT', 'a safe method invalidates nothing');
  });

  test('a 304 to a revalidation updates the stored headers (RFC 9111 4.3.4 MUST)', async () => {
    const p = on('/upd', (q, r, n) => {
      if (q.headers['if-none-match'] === '"u1"') return r.writeHead(304, { etag: '"u1"', 'cache-control': 'max-age=60', 'x-version': String(n) }).end();
      r.writeHead(200, { etag: '"u1"', 'cache-control': 'max-age=0', 'x-version': '1' });
      r.end('body');
    });
    await get(p);
    const r = await get(p);
    assert.equal(r.text, 'body');
    assert.equal(r.headers['x-version'], '2');
    const hit = await get(p);
    assert.equal(hit.headers['x-cache'], 'HIT', 'fresh again by the max-age the 304 carried');
    assert.equal(hit.headers['x-version'], '2');
    assert.equal(calls(p), 2);
  });

  test("a 304 to the client's own conditional request updates the stored response it validates (RFC 9111 4.3.4)", async () => {
    const p = on('/upd-client', (q, r, n) => {
      if (q.headers['if-none-match'] === '"c1"') return r.writeHead(304, { etag: '"c1"', 'x-version': String(n) }).end();
      r.writeHead(200, { etag: '"c1"', 'cache-control': 'no-cache', 'x-version': '1' });
      r.end('body');
    });
    await get(p);
    const c = await get(p, { 'if-none-match': '"c1"' });
    assert.equal(c.status, 304);
    const r = await get(p);
    assert.equal(r.headers['x-version'], '3', 'the stored headers came from the 304 (then revalidated again)');
  });

  test('qualified no-cache and private: the named fields are not stored (RFC 9111 5.2.2.4, 5.2.2.7)', async () => {
    const p = on('/qualified', (_q, r) => (r.writeHead(200, { 'cache-control': 'max-age=60, no-cache="x-secret", private="x-user"', 'x-secret': 's', 'x-user': 'u', 'x-kept': 'k' }), r.end('x')));
    const miss = await get(p);
    assert.equal(miss.headers['x-secret'], 's');
    const hit = await get(p);
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['x-secret'], undefined);
    assert.equal(hit.headers['x-user'], undefined);
    assert.equal(hit.headers['x-kept'], 'k');
  });

  test('a request max-age the stored response exceeds sends it for revalidation (RFC 9111 5.2.1.1)', async () => {
    const p = on('/req-max-age', (_q, r) => (r.writeHead(200, { 'cache-control': 'max-age=600', age: '30' }), r.end('x')));
    await get(p);
    assert.equal((await get(p, { 'cache-control': 'max-age=10' })).headers['x-cache'], 'MISS');
    assert.equal((await get(p, { 'cache-control': 'max-age=100' })).headers['x-cache'], 'HIT');
  });

  test('an incomplete response is not stored as complete (RFC 9111 3.3 MUST NOT)', async () => {
    const p = on('/cut', (_q, r, n) => {
      r.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '10' });
      if (n === 1) {
        r.write('01234');
        setTimeout(() => r.socket!.destroy(), 20);
      } else r.end('0123456789');
    });
    const cut = await rawExchange(gw.port, `GET /c${p} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
    assert.ok(cut.body.length < 10, 'the first response was cut');
    const r = await get(p);
    assert.equal(r.headers['x-cache'], 'MISS');
    assert.equal(r.text, '0123456789');
  });

  test('103 Early Hints from the backend pass through to the client before the response (RFC 9110 15.2 MUST forward 1xx)', async () => {
    const p = on('/hints', (_q, r) => {
      r.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      setTimeout(() => r.end('done'), 20);
    });
    const early: Array<{ statusCode: number; headers: http.IncomingHttpHeaders }> = [];
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.get(`${gw.url}/c${p}`, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c));
        res.on('end', () => resolve(b));
      });
      req.on('information', (info) => early.push({ statusCode: info.statusCode, headers: info.headers }));
      req.on('error', reject);
    });
    assert.equal(body, 'done');
    assert.equal(early.length, 1);
    assert.equal(early[0]!.statusCode, 103);
    assert.equal(early[0]!.headers.link, '</style.css>; rel=preload; as=style');
  });
});
