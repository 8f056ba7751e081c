import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { VIA, acceptRequestId, clientBudget, downstreamHeaders, upstreamHeaders, type ForwardContext } from '../../src/proxy/headers.js';

/** Values of a header (any case) in a flat [name, value, ...] list, in order. */
function values(list: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (list[i]!.toLowerCase() === name) out.push(list[i + 1]!);
  return out;
}

/** Lower-cased header names of a flat list. */
function names(list: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) out.push(list[i]!.toLowerCase());
  return out;
}

const ctx: ForwardContext = { requestId: 'gw-request-0001', clientIp: '127.0.0.1', trustedPeer: false, hostHeader: '127.10.0.7:9001', budgetMs: 1234.9 };

// Requests are parsed by node's own HTTP server, exactly as the gateway receives them.
let server: http.Server;
let port: number;
let waiting: ((req: IncomingMessage) => void) | null = null;

before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      waiting?.(req);
      waiting = null;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

/** Sends a request head (lines without CRLF) and resolves with the IncomingMessage node made of it. */
function receive(...head: string[]): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    waiting = resolve;
    const s = net.connect(port, '127.0.0.1', () => {
      const chunked = head.some((h) => /^transfer-encoding:\s*chunked/i.test(h));
      s.end(head.join('\r\n') + '\r\n\r\n' + (chunked ? '0\r\n\r\n' : ''));
    });
    s.on('error', reject);
    s.resume();
  });
}

describe('upstreamHeaders', () => {
  test('hop-by-hop headers are dropped; end-to-end ones pass in order, with their case and repeats', async () => {
    const req = await receive(
      'POST /x HTTP/1.1',
      'Host: api.example.com',
      'Accept: application/json',
      'Connection: keep-alive',
      'Keep-Alive: timeout=5',
      'Proxy-Connection: keep-alive',
      'Proxy-Authorization: Basic Zm9vOmJhcg==',
      'Proxy-Authenticate: Basic',
      'Trailer: X-Checksum',
      'Transfer-Encoding: chunked',
      'Upgrade: h2c',
      'TE: gzip',
      'X-Custom: one',
      'x-custom: two',
      'Authorization: Bearer t',
      'Expect: 100-continue',
    );
    const out = upstreamHeaders(req, ctx);
    for (const h of ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'trailer', 'transfer-encoding', 'upgrade', 'te', 'expect']) {
      assert.deepEqual(values(out, h), [], `${h} must not be forwarded`);
    }
    assert.deepEqual(out.slice(0, 8), ['Accept', 'application/json', 'X-Custom', 'one', 'x-custom', 'two', 'Authorization', 'Bearer t']);
  });

  test('headers named in Connection are dropped too', async () => {
    const req = await receive('GET /x HTTP/1.1', 'Host: a', 'Connection: keep-alive, X-Secret,  x-Other ', 'X-Secret: s', 'X-Other: o', 'X-Kept: k');
    const out = upstreamHeaders(req, ctx);
    assert.deepEqual(values(out, 'x-secret'), []);
    assert.deepEqual(values(out, 'x-other'), []);
    assert.deepEqual(values(out, 'x-kept'), ['k']);
  });

  test('TE: trailers is the one TE value kept', async () => {
    assert.deepEqual(values(upstreamHeaders(await receive('GET / HTTP/1.1', 'Host: a', 'TE: trailers'), ctx), 'te'), ['trailers']);
    assert.deepEqual(values(upstreamHeaders(await receive('GET / HTTP/1.1', 'Host: a', 'TE: gzip, trailers'), ctx), 'te'), ['trailers']);
    assert.deepEqual(values(upstreamHeaders(await receive('GET / HTTP/1.1', 'Host: a', 'TE: Trailers '), ctx), 'te'), ['trailers']);
    assert.deepEqual(values(upstreamHeaders(await receive('GET / HTTP/1.1', 'Host: a', 'TE: gzip, deflate'), ctx), 'te'), []);
    assert.deepEqual(values(upstreamHeaders(await receive('GET / HTTP/1.1', 'Host: a', 'TE: trailersx'), ctx), 'te'), []);
  });

  test('from an untrusted peer, X-Forwarded-For/-Proto/-Host are replaced, never passed through', async () => {
    const req = await receive('GET / HTTP/1.1', 'Host: api.example.com', 'X-Forwarded-For: 6.6.6.6', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: evil.example');
    const out = upstreamHeaders(req, { ...ctx, clientIp: '203.0.113.9' });
    assert.deepEqual(values(out, 'x-forwarded-for'), ['203.0.113.9']);
    assert.deepEqual(values(out, 'x-forwarded-proto'), ['http']);
    assert.deepEqual(values(out, 'x-forwarded-host'), ['api.example.com']);
  });

  test('from a trusted proxy, X-Forwarded-For is appended to and -Proto/-Host are kept', async () => {
    const req = await receive('GET / HTTP/1.1', 'Host: internal', 'X-Forwarded-For: 1.1.1.1', 'X-Forwarded-For: 2.2.2.2', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: api.example.com');
    const out = upstreamHeaders(req, { ...ctx, clientIp: '127.10.0.2', trustedPeer: true });
    assert.deepEqual(values(out, 'x-forwarded-for'), ['1.1.1.1, 2.2.2.2, 127.10.0.2']);
    assert.deepEqual(values(out, 'x-forwarded-proto'), ['https']);
    assert.deepEqual(values(out, 'x-forwarded-host'), ['api.example.com']);
  });

  test('a trusted proxy that sent no X-Forwarded-* gets them set', async () => {
    const out = upstreamHeaders(await receive('GET / HTTP/1.1', 'Host: api.example.com'), { ...ctx, clientIp: '127.10.0.2', trustedPeer: true });
    assert.deepEqual(values(out, 'x-forwarded-for'), ['127.10.0.2']);
    assert.deepEqual(values(out, 'x-forwarded-proto'), ['http']);
    assert.deepEqual(values(out, 'x-forwarded-host'), ['api.example.com']);
  });

  test('Via is appended to, once, after the earlier hops in order', async () => {
    assert.deepEqual(values(upstreamHeaders(await receive('GET / HTTP/1.1', 'Host: a'), ctx), 'via'), [VIA]);
    const req = await receive('GET / HTTP/1.1', 'Host: a', 'Via: 1.0 fred', 'Via: 1.1 p.example.net');
    assert.deepEqual(values(upstreamHeaders(req, ctx), 'via'), [`1.0 fred, 1.1 p.example.net, ${VIA}`]);
  });

  test("the client's X-Request-Id and X-Request-Timeout never pass through: the gateway's replace them", async () => {
    const req = await receive('GET / HTTP/1.1', 'Host: a', 'X-Request-Id: client-chosen-id', 'X-Request-Timeout: 999999', 'x-request-id: second');
    const out = upstreamHeaders(req, ctx);
    assert.deepEqual(values(out, 'x-request-id'), ['gw-request-0001']);
    assert.deepEqual(values(out, 'x-request-timeout'), ['1234']);
  });

  test('the budget sent upstream is whole milliseconds, at least 1', async () => {
    const req = await receive('GET / HTTP/1.1', 'Host: a');
    assert.deepEqual(values(upstreamHeaders(req, { ...ctx, budgetMs: 0.2 }), 'x-request-timeout'), ['1']);
    assert.deepEqual(values(upstreamHeaders(req, { ...ctx, budgetMs: -5 }), 'x-request-timeout'), ['1']);
    assert.deepEqual(values(upstreamHeaders(req, { ...ctx, budgetMs: 30_000 }), 'x-request-timeout'), ['30000']);
  });

  test('Host is the one given (target or preserved), sent once', async () => {
    const out = upstreamHeaders(await receive('GET / HTTP/1.1', 'Host: api.example.com'), ctx);
    assert.deepEqual(values(out, 'host'), ['127.10.0.7:9001']);
    assert.equal(names(out).filter((n) => n === 'host').length, 1);
  });

  test('the list is flat name/value pairs with no empty names', async () => {
    const out = upstreamHeaders(await receive('GET / HTTP/1.1', 'Host: a', 'X-A: 1'), ctx);
    assert.equal(out.length % 2, 0);
    assert.ok(names(out).every((n) => n.length > 0));
  });
});

describe('downstreamHeaders', () => {
  const raw = (...pairs: string[]) => pairs.map((s) => Buffer.from(s, 'latin1'));

  test('hop-by-hop headers from the backend are dropped; the rest pass in order, repeats kept', () => {
    const out = downstreamHeaders(
      raw(
        'Content-Type', 'text/plain',
        'Connection', 'keep-alive',
        'Keep-Alive', 'timeout=5',
        'Transfer-Encoding', 'chunked',
        'Upgrade', 'h2c',
        'Proxy-Authenticate', 'Basic',
        'Trailer', 'X-Checksum',
        'Set-Cookie', 'a=1',
        'Set-Cookie', 'b=2',
        'Content-Length', '5',
      ),
      'rid-12345678',
    );
    for (const h of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'trailer']) assert.deepEqual(values(out, h), [], h);
    assert.deepEqual(out.slice(0, 8), ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Length', '5']);
  });

  test('headers named in Connection are dropped, wherever Connection appears', () => {
    const out = downstreamHeaders(raw('X-Internal', 'secret', 'Connection', 'close, X-Internal, x-debug', 'X-Debug', '1', 'X-Public', 'ok'), 'rid-12345678');
    assert.deepEqual(values(out, 'x-internal'), []);
    assert.deepEqual(values(out, 'x-debug'), []);
    assert.deepEqual(values(out, 'x-public'), ['ok']);
  });

  test("the backend's X-Request-Id is replaced by the call's", () => {
    const out = downstreamHeaders(raw('X-Request-Id', 'backend-made', 'x-request-id', 'again'), 'rid-12345678');
    assert.deepEqual(values(out, 'x-request-id'), ['rid-12345678']);
  });

  test('Via is appended to, keeping every earlier hop', () => {
    assert.deepEqual(values(downstreamHeaders(raw(), 'rid-12345678'), 'via'), [VIA]);
    assert.deepEqual(values(downstreamHeaders(raw('Via', '1.1 backend-lb'), 'rid-12345678'), 'via'), [`1.1 backend-lb, ${VIA}`]);
    assert.deepEqual(values(downstreamHeaders(raw('Via', '1.0 a', 'Via', '1.1 b'), 'rid-12345678'), 'via'), [`1.0 a, 1.1 b, ${VIA}`]);
  });

  test('latin1 header values survive byte for byte', () => {
    const out = downstreamHeaders([Buffer.from('X-Name'), Buffer.from([0x63, 0x61, 0x66, 0xe9])], 'rid-12345678');
    assert.deepEqual(values(out, 'x-name'), ['caf\u00e9']);
  });
});

describe('acceptRequestId', () => {
  const ok = ['abcdefgh', '7f3c2a9e-4b1d-4c8e-9a51-0d6e2f8b1c44', 'trace.span:01_02-03', 'a'.repeat(128), 'ABCdef12'];
  for (const v of ok) test(`keeps ${JSON.stringify(v.length > 40 ? `${v.slice(0, 10)}…(${v.length})` : v)}`, () => assert.equal(acceptRequestId(v), v));

  const bad: Array<[string, string | string[] | undefined]> = [
    ['absent', undefined],
    ['empty', ''],
    ['7 characters', 'abcdefg'],
    ['129 characters', 'a'.repeat(129)],
    ['a space', 'abc defgh'],
    ['a slash', 'abc/defgh'],
    ['a newline at the end', 'abcdefgh\n'],
    ['a CR LF inside', 'abcd\r\nX-Evil: 1'],
    ['a quote', 'abcdefgh"'],
    ['non-ASCII', 'abcdéfgh'],
    ['repeated headers', ['abcdefgh', 'ijklmnop']],
  ];
  for (const [why, v] of bad) test(`refuses ${why}`, () => assert.equal(acceptRequestId(v), undefined));
});

describe('clientBudget', () => {
  const ok: Array<[string, number]> = [
    ['1500', 1500],
    ['1', 1],
    ['30000', 30_000],
    ['250.5', 250.5],
  ];
  for (const [v, n] of ok) test(`${JSON.stringify(v)} is ${n} ms`, () => assert.equal(clientBudget(v), n));

  const bad: Array<[string, string | string[] | undefined]> = [
    ['absent', undefined],
    ['empty', ''],
    ['blank', '   '],
    ['zero', '0'],
    ['negative', '-100'],
    ['not a number', 'soon'],
    ['a unit', '5s'],
    ['Infinity', 'Infinity'],
    ['NaN', 'NaN'],
    ['an overflow', '1e400'],
    ['repeated headers', ['100', '200']],
  ];
  for (const [why, v] of bad) test(`refuses ${why}`, () => assert.equal(clientBudget(v), undefined));
});
