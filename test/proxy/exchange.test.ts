/**
 * The stage contract on real sockets: stages compose in order and once per route, taps see the
 * response innermost first with its header list raw, a stage that throws or rejects becomes a
 * gateway failure, and every request leaves exactly one call record.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { compose, Exchange, type CallEnv, type Next, type Stage } from '../../src/proxy/exchange.js';
import { upstreamCall } from '../../src/proxy/call.js';
import type { CallRecord } from '../../src/observe/call-record.js';
import { startGateway } from '../helpers/gateway.js';
import { send, startBackend } from '../helpers/wire.js';

describe('compose and the response tap', () => {
  const records: CallRecord[] = [];
  const env: CallEnv = { expose: false, sink: { record: (r) => records.push(r) }, lookup: undefined, isTrustedPeer: () => false, inflight: { calls: 0 }, draining: () => false };
  let handler: Next = () => {};
  let server: http.Server;
  let url = '';

  before(async () => {
    server = http.createServer((req, res) => handler(new Exchange(req, res, env, `rid-${records.length}-xxxxxxxx`)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const answer: Next = (x) => {
    x.send(200, ['Set-Cookie', 'a=1', 'content-length', '2', 'Set-Cookie', 'b=2'], Buffer.from('ok'), 'backend');
    x.finish(200, null);
  };

  test('stages run in list order, then the last step; taps see the response innermost first and may edit it', async () => {
    const seen: string[] = [];
    const stage =
      (name: string): Stage =>
      (x, next) => {
        seen.push(name);
        x.tap({
          onHeaders: (_x, head) => {
            seen.push(`${name}:headers`);
            head.headers.push('x-stage', name);
          },
          onData: (_x, chunk) => seen.push(`${name}:data ${chunk.toString()}`),
          onEnd: () => seen.push(`${name}:end`),
        });
        next(x);
      };
    handler = compose([stage('outer'), stage('inner')], answer);
    const r = await send(url);
    assert.equal(r.text, 'ok');
    assert.deepEqual(seen, ['outer', 'inner', 'inner:headers', 'outer:headers', 'inner:data ok', 'outer:data ok', 'inner:end', 'outer:end']);
    const names = r.rawHeaders.filter((n, i) => i % 2 === 0 && /^(set-cookie|x-stage)$/i.test(n));
    assert.deepEqual(names, ['Set-Cookie', 'Set-Cookie', 'x-stage', 'x-stage']);
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  });

  test('compose with no stages is the last step itself', () => {
    assert.equal(compose([], answer), answer);
  });

  test('a stage that throws, or rejects, becomes a BAD_REQUEST from the registry with one call record', async () => {
    for (const bad of [
      (() => {
        throw new Error('boom');
      }) as Stage,
      (async () => {
        throw new Error('boom');
      }) as Stage,
    ]) {
      const before = records.length;
      handler = compose([bad], answer);
      const r = await send(url);
      assert.equal(r.status, 400);
      assert.equal(r.headers['x-causeway-error'], 'BAD_REQUEST');
      await new Promise((res) => setTimeout(res, 20));
      assert.equal(records.length, before + 1);
      assert.equal(records.at(-1)!.code, 'BAD_REQUEST');
    }
  });

  test('finish records once, however often it is called', async () => {
    const before = records.length;
    handler = (x) => {
      answer(x);
      x.finish(500, 'BAD_REQUEST');
    };
    await send(url);
    assert.equal(records.length, before + 1);
    assert.equal(records.at(-1)!.status, 200);
  });
});

describe('pipelines built at config load', () => {
  test('a route without policies runs the upstream call alone; a route with policies a composed pipeline', async () => {
    const backend = await startBackend((_req, res) => res.end('x'));
    const gw = await startGateway(`
log: { access: false }
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: plain, match: { path: /p/* }, upstream: b }
  - { name: limited, match: { path: /l/* }, upstream: b, rateLimit: { requests: 100, per: 1s, by: route } }
`);
    try {
      const [plain, limited] = gw.gateway.routes;
      assert.equal(plain!.pipeline, upstreamCall);
      assert.notEqual(limited!.pipeline, upstreamCall);
      assert.equal((await send(`${gw.url}/l/1`)).headers['ratelimit-policy'], '"limited";q=100;w=1');
    } finally {
      await gw.close();
      await backend.close();
    }
  });
});
