import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as B from '../helpers/backends.js';
import { startGateway } from '../helpers/gateway.js';
import { parseConfig } from '../../src/config/load.js';
import { AlertEngine, type AlertNotification } from '../../src/alerts/engine.js';
import { evaluateRule } from '../../src/alerts/rules.js';
import { openCallStore } from '../../src/observe/store.js';
import { call } from '../helpers/calls.js';

/** A webhook receiver: answers `failFirst` times with 500, then 200. */
async function receiver(failFirst = 0) {
  const got: AlertNotification[] = [];
  let hits = 0;
  const server = http.createServer((req, res) => {
    let b = '';
    req.on('data', (d) => (b += d));
    req.on('end', () => {
      hits++;
      if (hits <= failFirst) return void res.writeHead(500).end();
      got.push(JSON.parse(b));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, hits: () => hits, close: () => new Promise((r) => server.close(r)) };
}

async function until(cond: () => boolean, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const rulesOf = (yaml: string) => parseConfig(`upstreams: {}\n${yaml}`, 'alerts.yaml', {}).alerts;

describe('alert rules', () => {
  const now = 1_700_000_000_000;
  const store = openCallStore({ path: ':memory:', now: () => now });
  before(() => {
    // Last minute: 40 ok, 10 connect timeouts (6 s latency). The 5 minutes before: 2 gateway timeouts; an hour of quiet history.
    for (let i = 0; i < 40; i++) store.record(call({ time: now - 30_000 + i, durationMs: 20 }));
    for (let i = 0; i < 10; i++) store.record(call({ time: now - 20_000 + i, code: 'UPSTREAM_CONNECT_TIMEOUT', status: 504, durationMs: 6000 }));
    for (let i = 0; i < 2; i++) store.record(call({ time: now - 400_000 + i, code: 'GATEWAY_TIMEOUT', status: 504 }));
    for (let i = 0; i < 8; i++) store.record(call({ time: now - 200_000 + i, code: 'GATEWAY_TIMEOUT', status: 504 }));
    for (let m = 2; m < 60; m++) for (let i = 0; i < 20; i++) store.record(call({ time: now - m * 60_000 - i, durationMs: 20, ...(i === 0 && m % 3 === 0 ? { status: 500 } : {}) }));
    store.flush();
  });
  after(() => store.close());

  const check = (yaml: string) => evaluateRule(rulesOf(yaml)[0]!, store, now);

  it('error rate', async () => {
    const r = await check(`alerts: [{ name: e, when: { errorRate: '> 5%' } }]`);
    assert.equal(r.met, true);
    assert.equal(r.value, 10 / 50);
    assert.match(r.summary, /error rate 20% \(10 of 50 calls\) over the last 1m/);
    assert.equal((await check(`alerts: [{ name: e, when: { errorRate: '> 25%' } }]`)).met, false);
    assert.equal((await check(`alerts: [{ name: e, when: { errorRate: '> 5%', minRequests: 100 } }]`)).met, false);
  });

  it('one code per second', async () => {
    const r = await check(`alerts: [{ name: c, when: { code: UPSTREAM_CONNECT_TIMEOUT, rate: '> 0.1/s' }, route: orders }]`);
    assert.equal(r.met, true);
    assert.ok(Math.abs(r.value! - 10 / 60) < 1e-9);
    assert.equal((await check(`alerts: [{ name: c, when: { code: UPSTREAM_CONNECT_TIMEOUT, rate: '> 1/s' } }]`)).met, false);
  });

  it('latency percentile', async () => {
    assert.equal((await check(`alerts: [{ name: l, when: { latency: { p99: '> 2s' } } }]`)).met, true);
    assert.equal((await check(`alerts: [{ name: l, when: { latency: { p50: '> 2s' } } }]`)).met, false);
  });

  it('change over the previous window', async () => {
    const r = await check(`alerts: [{ name: g, when: { change: { code: GATEWAY_TIMEOUT, increase: 200%, window: 5m } } }]`);
    assert.equal(r.met, true, r.summary);
    assert.equal(r.value, 3);
    assert.match(r.summary, /GATEWAY_TIMEOUT: 8 in the last 5m vs 2 in the 5m before \(up 300%\)/);
    assert.equal((await check(`alerts: [{ name: g, when: { change: { code: GATEWAY_TIMEOUT, increase: 400%, window: 5m } } }]`)).met, false);
  });

  it('deviation from the baseline', async () => {
    const r = await check(`alerts: [{ name: b, when: { baseline: { deviation: 3 } } }]`);
    assert.equal(r.met, true, r.summary);
    assert.match(r.summary, /standard deviations; threshold 3/);
    assert.equal((await check(`alerts: [{ name: b, when: { baseline: { deviation: 3, metric: p99 } }, route: nothing }]`)).met, false);
  });

  it('rejects malformed thresholds with the path', () => {
    assert.throws(() => rulesOf(`alerts: [{ name: x, when: { errorRate: 'lots' } }]`), /alerts\[0\]\.when/);
  });
});

describe('alerts on a real gateway', { timeout: 30_000 }, () => {
  let down: B.TestBackend;
  before(async () => {
    down = await B.refusing();
  });
  after(() => down.close());

  it('fires once while failures last, resolves when they stop, and delivers both to the webhook (retried)', async () => {
    const hook = await receiver(1);
    const gw = await startGateway(`
log: { access: false }
upstreams: { orders: { targets: [{ url: "${down.url}" }], retries: { attempts: 1 } } }
routes: [{ name: orders, match: { path: /* }, upstream: orders }]
alerts:
  - name: orders-refused
    when: { code: UPSTREAM_CONNECTION_REFUSED, rate: '> 1/s' }
    upstream: orders
    window: 2s
    every: 100ms
    webhook: { url: "${hook.url}" }
`);
    try {
      assert.equal(gw.gateway.alerts.list()[0]!.state, 'inactive');
      for (let i = 0; i < 10; i++) await (await fetch(`${gw.url}/x`)).arrayBuffer();
      // Firing: the first POST gets 500, the retry delivers it.
      await until(() => hook.got.length >= 1, 10_000, 'the firing notification');
      const fired = hook.got[0]!;
      assert.equal(fired.status, 'firing');
      assert.equal(fired.alert, 'orders-refused');
      assert.equal(fired.upstream, 'orders');
      assert.match(fired.summary, /UPSTREAM_CONNECTION_REFUSED at [\d.]+\/s/);
      assert.equal(hook.hits(), 2);
      const listed = gw.gateway.alerts.list()[0]!;
      assert.equal(listed.state, 'firing');
      // More failures while firing: no second notification (dedup).
      for (let i = 0; i < 5; i++) await (await fetch(`${gw.url}/x`)).arrayBuffer();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(hook.got.length, 1);
      // The failures age out of the 2 s window: resolved.
      await until(() => hook.got.length >= 2, 10_000, 'the resolved notification');
      assert.equal(hook.got[1]!.status, 'resolved');
      assert.ok(hook.got[1]!.endsAt);
      assert.equal(gw.gateway.alerts.list()[0]!.state, 'inactive');
      assert.ok(gw.gateway.alerts.list()[0]!.resolvedAt);
      assert.equal(gw.gateway.events.recent({ types: ['alert.firing', 'alert.resolved'] }).length, 2);
    } finally {
      await gw.close();
      await hook.close();
    }
  });

  it('waits out `for` before firing (pending first)', async () => {
    let now = 1_700_000_000_000;
    const store = openCallStore({ path: ':memory:', now: () => now });
    for (let i = 0; i < 20; i++) store.record(call({ time: now - 1000, code: 'UPSTREAM_CONNECTION_REFUSED' }));
    store.flush();
    const engine = new AlertEngine(rulesOf(`alerts: [{ name: r, when: { errorRate: '> 50%' }, for: 30s }]`), store, { now: () => now });
    await engine.evaluate();
    assert.equal(engine.list()[0]!.state, 'pending');
    now += 31_000;
    store.record(call({ time: now - 1000, code: 'UPSTREAM_CONNECTION_REFUSED', requestId: 'later-1' }));
    for (let i = 0; i < 20; i++) store.record(call({ time: now - 500, code: 'UPSTREAM_CONNECTION_REFUSED' }));
    store.flush();
    await engine.evaluate();
    assert.equal(engine.list()[0]!.state, 'firing');
    await engine.stop();
    await store.close();
  });
});
