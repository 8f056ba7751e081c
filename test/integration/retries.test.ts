/**
 * Retries end to end: what is retried (connect failures, configured statuses, stale keep-alive
 * connections), what never is (a POST that may have reached the backend), where the retry goes
 * (another target). The keep-alive race has its own file: keepalive-race.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import type { CallRecord } from '../../src/observe/call-record.js';
import { refusingPort, send, startBackend, type Backend } from '../helpers/wire.js';

async function recordOf(gw: TestGateway, res: { headers: http.IncomingHttpHeaders }): Promise<CallRecord> {
  return gw.record(String(res.headers['x-request-id']));
}

describe('retries', () => {
  let ok: Backend;
  let unavailable: Backend;
  let closer: Backend;
  let deadPort: number;
  let gw: TestGateway;

  before(async () => {
    ok = await startBackend((_req, res) => res.end('ok'));
    unavailable = await startBackend((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' });
      res.end('backend says busy');
    });
    // Reads the whole request, then hangs up without a byte of response.
    closer = await startBackend((req) => req.socket.destroy());
    deadPort = await refusingPort();
    gw = await startGateway(`
log: { access: false }
upstreams:
  pair:
    targets: [{ url: http://127.0.0.1:${deadPort} }, { url: ${ok.url} }]
    retries: { attempts: 2, backoff: 1ms..5ms }
  closer:
    targets: [{ url: ${closer.url} }]
    retries: { attempts: 3, on: [connect-failure, stale-connection, reset], backoff: 1ms..5ms }
  flaky:
    targets: [{ url: ${unavailable.url} }, { url: ${ok.url} }]
    retries: { on: [503], backoff: 1ms..5ms }
  busy:
    targets: [{ url: ${unavailable.url} }]
    retries: { on: [503], backoff: 1ms..5ms }
routes:
  - { name: pair, match: { path: /pair/* }, upstream: pair }
  - { name: closer, match: { path: /closer/* }, upstream: closer }
  - { name: flaky, match: { path: /flaky/* }, upstream: flaky }
  - { name: busy, match: { path: /busy/* }, upstream: busy }
`);
  });
  after(async () => {
    await gw.close();
    await Promise.all([ok.close(), unavailable.close(), closer.close()]);
  });

  test('a GET to two targets, one refusing, succeeds: the record shows the refused attempt and the retry on the other target', async () => {
    let retried = 0;
    for (let i = 0; i < 4; i++) {
      const r = await send(`${gw.url}/pair/x`);
      assert.equal(r.status, 200);
      assert.equal(r.text, 'ok');
      const rec = await recordOf(gw, r);
      assert.equal(rec.status, 200);
      assert.equal(rec.code, null);
      if (rec.attempts.length === 1) {
        assert.equal(rec.attempts[0]!.target, `127.0.0.1:${ok.port}`);
        continue;
      }
      retried++;
      assert.equal(rec.attempts.length, 2);
      const [first, second] = rec.attempts as [CallRecord['attempts'][number], CallRecord['attempts'][number]];
      assert.equal(first.target, `127.0.0.1:${deadPort}`);
      assert.equal(first.outcome, 'UPSTREAM_CONNECTION_REFUSED');
      assert.equal(first.phase, 'connect');
      assert.equal(first.retry, 'connect-failure');
      assert.equal(second.target, `127.0.0.1:${ok.port}`);
      assert.equal(second.outcome, 200);
    }
    // Round-robin sends at least every other call to the refusing target first.
    assert.ok(retried >= 2, `only ${retried} of 4 calls met the refusing target`);
  });

  test('a POST without Idempotency-Key whose backend closes mid-exchange is not retried', async () => {
    const before = closer.seen.length;
    const r = await send(`${gw.url}/closer/pay`, { method: 'POST', body: '{"amount":10}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 502);
    assert.match(String(r.headers['x-causeway-error']), /^UPSTREAM_CONNECTION_(CLOSED|RESET)$/);
    assert.equal(closer.seen.length, before + 1, 'the backend must see the POST exactly once');
    const rec = await recordOf(gw, r);
    assert.equal(rec.attempts.length, 1);
    assert.equal(rec.attempts[0]!.retry, undefined);
    assert.equal(r.json<{ error: { attempts: number } }>().error.attempts, 1);
  });

  test('a bodiless POST is not retried either, unless it carries an Idempotency-Key', async () => {
    const b0 = closer.seen.length;
    const plain = await send(`${gw.url}/closer/pay`, { method: 'POST' });
    assert.equal(plain.status, 502);
    assert.equal(closer.seen.length, b0 + 1);
    const keyed = await send(`${gw.url}/closer/pay`, { method: 'POST', headers: { 'idempotency-key': 'k-123' } });
    assert.equal(keyed.status, 502);
    assert.equal(closer.seen.length, b0 + 4, 'with an Idempotency-Key the POST is repeated up to attempts: 3');
    const rec = await recordOf(gw, keyed);
    assert.deepEqual(
      rec.attempts.map((a) => a.retry),
      ['reset', 'reset', undefined],
    );
  });

  test('the same failure on a GET is retried when `reset` is a retry condition', async () => {
    const b0 = closer.seen.length;
    const r = await send(`${gw.url}/closer/list`);
    assert.equal(r.status, 502);
    assert.equal(closer.seen.length, b0 + 3);
    assert.match(r.json<{ error: { message: string } }>().error.message, /3 attempts/);
  });

  test('retries.on: [503] retries a 503 for GET, on a different target, and the client sees only the success', async () => {
    const u0 = unavailable.seen.length;
    const r = await send(`${gw.url}/flaky/x`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ok');
    const rec = await recordOf(gw, r);
    assert.equal(rec.attempts.length, 2, 'the first call of this upstream goes to its 503 target first');
    assert.equal(rec.attempts[0]!.outcome, 503);
    assert.equal(rec.attempts[0]!.retry, 'status 503');
    assert.equal(rec.attempts[0]!.target, `127.0.0.1:${unavailable.port}`);
    assert.equal(rec.attempts[1]!.outcome, 200);
    assert.notEqual(rec.attempts[1]!.target, rec.attempts[0]!.target);
    assert.equal(unavailable.seen.length, u0 + 1);
  });

  test('when every try answers 503, the last 503 passes through untouched; a POST 503 is never repeated', async () => {
    const u0 = unavailable.seen.length;
    const r = await send(`${gw.url}/busy/x`);
    assert.equal(r.status, 503);
    assert.equal(r.text, 'backend says busy');
    assert.equal(r.headers['retry-after'], '1');
    assert.equal(r.headers['x-causeway-error'], undefined, 'a backend response is not dressed up as a gateway error');
    assert.equal(unavailable.seen.length, u0 + 2);
    const rec = await recordOf(gw, r);
    assert.deepEqual(
      rec.attempts.map((a) => a.outcome),
      [503, 503],
    );
    const post = await send(`${gw.url}/busy/x`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 503);
    assert.equal(unavailable.seen.length, u0 + 3);
  });
});
