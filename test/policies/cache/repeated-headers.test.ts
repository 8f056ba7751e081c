/**
 * Repeated response header lines survive a cached route byte for byte, on a MISS and on a HIT:
 * a backend writing exact bytes, a client reading exact bytes. The same route without `cache:`
 * is the reference.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { rawExchange } from '../../helpers/wire.js';

/** Answers every request on a connection with `head` and a 2-byte body, as exact bytes. */
async function rawBackend(heads: Record<string, string>): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((socket) => {
    let buf = '';
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        const path = buf.slice(0, end).split(' ')[1]!;
        buf = buf.slice(end + 4);
        socket.write(`HTTP/1.1 200 OK\r\n${heads[path] ?? ''}Content-Length: 2\r\n\r\nok`);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const COOKIES = 'Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Path=/\r\n';
const LINKS = 'Cache-Control: public\r\nLink: </a.css>; rel=preload\r\nCache-Control: max-age=60\r\nLink: </b.js>; rel=preload\r\n';

/** The header lines of a raw response, in order, as sent. */
const lines = (raw: string) => raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n').slice(1);

describe('repeated response headers on a cached route', () => {
  let backend: Awaited<ReturnType<typeof rawBackend>>;
  let gw: TestGateway;

  before(async () => {
    backend = await rawBackend({ '/cached/cookies': COOKIES, '/plain/cookies': COOKIES, '/cached/links': LINKS, '/plain/links': LINKS });
    gw = await startGateway(`
log: { access: false }
upstreams:
  b: { targets: [{ url: http://127.0.0.1:${backend.port} }] }
routes:
  - { name: cached, match: { path: /cached/* }, upstream: b, cache: { ttl: 10s } }
  - { name: plain, match: { path: /plain/* }, upstream: b }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  const get = (path: string) => rawExchange(gw.port, `GET ${path} HTTP/1.1\r\nHost: h.example\r\nConnection: close\r\n\r\n`);

  test('two Set-Cookie lines reach the client, in order, as on a route without cache (a MISS each time: not stored)', async () => {
    const plain = lines((await get('/plain/cookies')).raw).filter((l) => /^set-cookie:/i.test(l));
    assert.deepEqual(plain, ['Set-Cookie: a=1; Path=/', 'Set-Cookie: b=2; Path=/']);
    for (let i = 0; i < 2; i++) {
      const r = await get('/cached/cookies');
      assert.equal(r.headers['x-cache'], 'MISS');
      assert.deepEqual(lines(r.raw).filter((l) => /^set-cookie:/i.test(l)), plain);
    }
  });

  test('two Link and two Cache-Control lines reach the client on the MISS and on the HIT, in order', async () => {
    const pick = (raw: string) => lines(raw).filter((l) => /^(link|cache-control):/i.test(l));
    const expected = ['Cache-Control: public', 'Link: </a.css>; rel=preload', 'Cache-Control: max-age=60', 'Link: </b.js>; rel=preload'];
    assert.deepEqual(pick((await get('/plain/links')).raw), expected);
    const miss = await get('/cached/links');
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.deepEqual(pick(miss.raw), expected);
    const hit = await get('/cached/links');
    assert.equal(hit.headers['x-cache'], 'HIT', 'both Cache-Control lines read together: public, max-age=60');
    assert.deepEqual(pick(hit.raw), expected);
    assert.equal(hit.body, 'ok');
  });
});
