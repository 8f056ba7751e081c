/**
 * Property-based fuzzing (fast-check) of what a client can send: the request line (method,
 * path pieces known to confuse decoders, version), headers (framing headers in their smuggling
 * spellings, odd whitespace, duplicates), and the body framing (chunk sizes, extensions,
 * terminators, Content-Length mismatches) — as raw bytes through a real gateway to a real
 * backend. For every case: the process is still up, whatever came back is a well-formed HTTP
 * response (or nothing), the backend never sees a request the gateway did not intend (each
 * carries the one fuzz id of its connection, once), and no path reaches the protected route's
 * backend path without the key (read as the most lenient backend would).
 *
 * A short bounded run is part of `npm test`; `node bench/fuzz.mjs [runs]` runs it longer
 * (CAUSEWAY_FUZZ_RUNS, CAUSEWAY_FUZZ_SEED).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { lenientResolve } from '../helpers/lenient.js';
import { rawExchange, send, startBackend, type Backend } from '../helpers/wire.js';

const RUNS = Number(process.env['CAUSEWAY_FUZZ_RUNS'] ?? 40);
const SEED = process.env['CAUSEWAY_FUZZ_SEED'] === undefined ? undefined : Number(process.env['CAUSEWAY_FUZZ_SEED']);
const KEY = 'fuzz-key-0123456789abcdef';

const pathPiece = fc.constantFrom(
  'public', 'internal', 'x', '..', '.', '%2e', '%2E%2e', '%2f', '%2F', '%5c', '\\', ';', ';x=1', '..;', '%3b', '%25', '%252e', '%252f',
  '%c0%ae', '%c0%af', '%e0%80%ae', '%ef%bc%8e', '%ef%bc%8f', '%e2%80%a4', '%00', '%0d%0a', '%zz', '%', '%u002f', '', ' ', '#', '?a=1', '%20', 'a%2fb',
);
const path = fc.tuple(fc.array(pathPiece, { maxLength: 7 }), fc.constantFrom('/', '')).map(([ps, joint]) => '/public/' + ps.join(joint));
const method = fc.oneof(fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE', 'PATCH', 'CONNECT', 'TRACE', 'G@T', 'get', ''), fc.stringMatching(/^[A-Z]{1,8}$/));
const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 ', '');
const sep = fc.constantFrom(': ', ':', ' : ', ':\t', ': \t');
const framingHeader = fc.oneof(
  fc.tuple(fc.constantFrom('Transfer-Encoding', 'transfer-encoding', 'Transfer-Encoding ', 'Transfer_Encoding', ' Transfer-Encoding'), sep, fc.constantFrom('chunked', 'Chunked', 'chunked, identity', 'identity', 'xchunked', 'chunked ', ' chunked', 'gzip, chunked', '\x0bchunked')),
  fc.tuple(fc.constantFrom('Content-Length', 'content-length', 'Content-Length ', 'Content_Length'), sep, fc.constantFrom('0', '5', '10', '-1', '+5', '5, 5', '5,6', '0x5', ' 5', '99999999999999999999', '')),
);
const otherHeader = fc.tuple(
  fc.constantFrom('X-Api-Key', 'Connection', 'Expect', 'Upgrade', 'X-Forwarded-For', 'X-Request-Timeout', 'Host', 'X-Evil', 'X\x00Evil', 'X Evil'),
  sep,
  fc.constantFrom('close', 'keep-alive', '100-continue', 'websocket', '1.2.3.4', '5', 'gw.test', 'a\rb', 'a\x01b', 'wrong-key', ''),
);
const chunk = fc.tuple(fc.constantFrom('5', '0', 'a', 'A', '05', 'fffffffffffffffff', 'zz', '-1', '5 ', ' 5', '5;ext', `5;${'e'.repeat(300)}`, ''), fc.constantFrom('\r\n', '\n', '\r'), fc.constantFrom('hello', 'hell', 'hello!', '', 'GET /internal/x HTTP/1.1\r\nHost: gw.test\r\n\r\n'));
const body = fc.oneof(
  fc.constant(''),
  fc
    .tuple(fc.array(chunk, { maxLength: 4 }), fc.constantFrom('0\r\n\r\n', '0\r\n', '', '0\r\nX-Trailer: 1\r\n\r\n'))
    .map(([cs, end]) => cs.map(([size, eol, data]) => `${size}${eol}${data}\r\n`).join('') + end),
  fc.constantFrom('hello', 'GET /internal/x HTTP/1.1\r\nHost: gw.test\r\n\r\n', '0\r\n\r\nGET /internal/x HTTP/1.1\r\nHost: gw.test\r\n\r\n'),
);

describe('fuzzing the request line, headers, chunked framing and paths through a real gateway', () => {
  let backend: Backend;
  let gw: TestGateway;
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  const problems: string[] = [];
  const idsSeen = new Map<string, number>();

  before(async () => {
    process.on('uncaughtException', onUncaught);
    backend = await startBackend((req, res, seen) => {
      const id = String(req.headers['x-fuzz-id'] ?? '');
      idsSeen.set(id, (idsSeen.get(id) ?? 0) + 1);
      if (!id.startsWith('fz-')) problems.push(`desync: the backend saw a request the gateway was not sent as such: ${req.method} ${req.url}`);
      if (lenientResolve((req.url ?? '').split('?')[0]!).startsWith('/internal') && req.headers['x-api-key'] !== KEY) {
        problems.push(`bypass: ${req.url} reached the backend as /internal without the key`);
      }
      res.end(`ok ${seen.method}`);
    });
    gw = await startGateway(`
log: { access: false }
server: { headersTimeout: 1s, requestTimeout: 2s }
consumers: [{ name: fuzz, keys: [${KEY}] }]
upstreams: { main: { targets: [{ url: ${backend.url} }], retries: { attempts: 1 }, timeouts: { read: 2s, total: 3s } } }
routes:
  - { name: internal, match: { path: /internal/* }, upstream: main, auth: [key] }
  - { name: public, match: { path: /public/* }, upstream: main }
`);
  });
  after(async () => {
    process.removeListener('uncaughtException', onUncaught);
    await gw?.close();
    await backend?.close();
  });

  test(`${RUNS} generated requests: survival, well-formed responses, no desync, no bypass`, { timeout: 30_000 + RUNS * 2000 }, async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(method, path, version, fc.array(fc.oneof(framingHeader, otherHeader), { maxLength: 4 }), body, async (m, p, v, headers, b) => {
        const id = `fz-${n++}`;
        const head = `${m} ${p} ${v}`.trimEnd() + '\r\nHost: gw.test\r\n' + `X-Fuzz-Id: ${id}\r\n` + headers.map(([k, s, val]) => `${k}${s}${val}\r\n`).join('') + 'Connection: close\r\n\r\n';
        const r = await rawExchange(gw.port, head + b, 3000);
        if (r.raw.length) {
          assert.match(r.raw, /^HTTP\/1\.1 [1-5]\d\d [^\r\n]*\r\n/, `not an HTTP response: ${JSON.stringify(r.raw.slice(0, 120))}`);
          assert.ok(r.raw.includes('\r\n\r\n'), 'a response head without its end');
        }
        assert.deepEqual(uncaught, [], 'an error reached the process unhandled');
        assert.deepEqual(problems, []);
        assert.ok((idsSeen.get(id) ?? 0) <= 1, `the backend saw ${id} twice`);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    const ok = await send(`${gw.url}/public/alive`, { timeout: 5000 });
    assert.equal(ok.status, 200, 'the gateway still proxies after the run');
  });
});
