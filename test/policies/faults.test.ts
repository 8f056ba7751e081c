/** Fault injection: aborts with a status or a reset, delays, header-only faults, and how the call log marks them. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { faults } from '../../src/policies/faults/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { echo, rawExchange, send, startBackend, type Backend } from '../helpers/wire.js';

describe('faults: percent (random mocked)', () => {
  test('percent picks that share of calls', () => {
    let i = 0;
    const f = faults({ abort: { status: 503, percent: 25 } }, () => (i++ % 4) / 4);
    const hits = Array.from({ length: 8 }, () => f.plan({})).filter((p) => p?.abort).length;
    assert.equal(hits, 2);
  });
});

describe('faults on routes', () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend(echo);
    gw = await startGateway(`
log: { access: false }
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: abort, match: { path: /abort }, upstream: b, faults: { abort: { status: 503, percent: 100 } } }
  - { name: teapot, match: { path: /teapot }, upstream: b, faults: { abort: { status: 418 } } }
  - { name: reset, match: { path: /reset }, upstream: b, faults: { abort: { reset: true } } }
  - { name: slow, match: { path: /slow }, upstream: b, faults: { delay: { duration: 300ms, percent: 100 } } }
  - { name: opt-in, match: { path: /opt-in }, upstream: b, faults: { abort: { status: 502 }, header: x-chaos } }
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test('an injected abort comes from the registry (FAULT_INJECTED), never reaches the backend, and is marked in the call log', async () => {
    const before = backend.seen.length;
    const r = await send(`${gw.url}/abort`, { headers: { 'x-request-id': 'fault-abort-01' } });
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-causeway-error'], 'FAULT_INJECTED');
    assert.match(r.text, /Fault injected/);
    const t = await send(`${gw.url}/teapot`);
    assert.equal(t.status, 418);
    assert.equal(t.headers['x-causeway-error'], 'FAULT_INJECTED');
    assert.equal(backend.seen.length, before);
    const rec = await gw.record('fault-abort-01');
    assert.equal(rec.code, 'FAULT_INJECTED');
    assert.equal(rec.status, 503);
    assert.deepEqual(rec.attempts, []);
  });

  test('an injected reset closes the connection with no response', async () => {
    const r = await rawExchange(gw.port, 'GET /reset HTTP/1.1\r\nHost: gw.test\r\nX-Request-Id: fault-reset-01\r\n\r\n');
    assert.equal(r.status, 0);
    assert.ok(r.closed);
    const rec = await gw.record('fault-reset-01');
    assert.equal(rec.code, 'FAULT_INJECTED');
    assert.equal(rec.status, 0);
  });

  test('an injected delay holds the call, then proxies it', async () => {
    const t0 = performance.now();
    const r = await send(`${gw.url}/slow`);
    assert.equal(r.status, 200);
    assert.ok(performance.now() - t0 >= 280, 'the delay was applied');
  });

  test('with header:, only requests carrying the header are faulted', async () => {
    assert.equal((await send(`${gw.url}/opt-in`)).status, 200);
    const r = await send(`${gw.url}/opt-in`, { headers: { 'x-chaos': '1' } });
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-causeway-error'], 'FAULT_INJECTED');
  });
});
