/**
 * Security basics beyond the parser-level shapes of security.test.ts, each sent as raw bytes:
 * URL length limit, X-Forwarded-For spoofing (trusted proxies by address and CIDR range), and
 * no internal addresses or stack traces in client bodies unless `errors.expose`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { echo, rawExchange, refusingPort, startBackend, type Backend } from '../helpers/wire.js';

interface Echoed {
  headers: Record<string, string>;
}

describe('URL length, X-Forwarded-For trust, internal details', () => {
  let backend: Backend;
  let strict: TestGateway;
  let behindProxy: TestGateway;
  let exposed: TestGateway;
  let deadPort: number;

  before(async () => {
    backend = await startBackend(echo);
    deadPort = await refusingPort();
    const routes = (extra = '') => `
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
  dead: { targets: [{ url: http://127.0.0.1:${deadPort} }], retries: { attempts: 1 } }
routes:
  - { name: echo, match: { path: /echo }, upstream: b }
  - { name: dead, match: { path: /dead }, upstream: dead }
${extra}`;
    strict = await startGateway(`log: { access: false }\nserver: { maxUrlLength: 1kb, trustedProxies: [127.10.0.0/16, "::1/128"] }\n${routes()}`);
    behindProxy = await startGateway(`log: { access: false }\nserver: { trustedProxies: [127.0.0.0/8] }\n${routes()}`);
    exposed = await startGateway(`log: { access: false }\nerrors: { expose: true }\n${routes()}`);
  });
  after(async () => {
    await strict.close();
    await behindProxy.close();
    await exposed.close();
    await backend.close();
  });

  test('a request target over server.maxUrlLength → 414 URI_TOO_LONG, nothing forwarded', async () => {
    const before = backend.seen.length;
    const r = await rawExchange(strict.port, `GET /echo?q=${'a'.repeat(2000)} HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 414, r.raw.slice(0, 200));
    assert.equal(r.headers['x-causeway-error'], 'URI_TOO_LONG');
    assert.equal(backend.seen.length, before);
    const ok = await rawExchange(strict.port, `GET /echo?q=${'a'.repeat(900)} HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n`);
    assert.equal(ok.status, 200);
  });

  test('a spoofed X-Forwarded-For from an untrusted peer is replaced by the peer address', async () => {
    const r = await rawExchange(strict.port, 'GET /echo HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-For: 127.10.0.1, 1.2.3.4\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n');
    const seen = (JSON.parse(r.body) as Echoed).headers;
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
  });

  test('a peer inside a trusted CIDR range keeps its X-Forwarded-For chain, and the gateway appends the peer', async () => {
    const r = await rawExchange(behindProxy.port, 'GET /echo HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n');
    const seen = (JSON.parse(r.body) as Echoed).headers;
    assert.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'https');
  });

  test('a failing backend: no target address, errno or stack trace in the body unless errors.expose', async () => {
    const r = await rawExchange(strict.port, 'GET /dead HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 502);
    assert.doesNotMatch(r.body, new RegExp(`127\\.0\\.0\\.1|:${deadPort}|ECONNREFUSED|\\n\\s+at `));
    const e = await rawExchange(exposed.port, 'GET /dead HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n');
    assert.match(e.body, new RegExp(`127\\.0\\.0\\.1:${deadPort}`), 'exposed bodies name the target');
    assert.doesNotMatch(e.body, /\n\s+at /, 'never a stack trace');
  });

  test('a malformed request never echoes internals either', async () => {
    const r = await rawExchange(strict.port, 'GET /echo HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
    assert.equal(r.status, 400);
    assert.doesNotMatch(r.body, /127\.0\.0\.1|\n\s+at |node:/);
  });
});
