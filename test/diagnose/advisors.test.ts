import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { lintConfig } from '../../src/config/lint.js';
import { adviseFromCallLog, probeHosts } from '../../src/diagnose/advisors.js';
import { openCallStore } from '../../src/observe/store.js';
import type { LookupFn } from '../../src/upstream/connector.js';
import { call } from '../helpers/calls.js';

const now = 1_700_000_000_000;

describe('check advisors from the call log', () => {
  it('read below the observed p99 of a route (the payment-service scenario)', async () => {
    const config = parseConfig(
      `upstreams: { payments: { targets: [{ url: "http://127.0.0.1:9001" }], timeouts: { read: 5s, total: 30s } } }
routes: [{ name: pay, match: { path: /pay/* }, upstream: payments }]`,
      'c.yaml',
      {},
    );
    const store = openCallStore({ path: ':memory:', now: () => now });
    // 100 calls: most fast, the slowest at 6.8 s.
    for (let i = 0; i < 100; i++) store.record(call({ route: 'pay', upstream: 'payments', time: now - 3600_000 + i * 1000, durationMs: i >= 97 ? 6800 : 300 }));
    store.flush();
    const f = await adviseFromCallLog(config, store, { now });
    assert.equal(f.length, 1);
    assert.equal(f[0]!.path, 'upstreams.payments.timeouts.read');
    assert.equal(f[0]!.severity, 'warning');
    assert.match(f[0]!.fix, /^raise read to 15s: p99 is 6\.[5-9]s/);
    assert.match(f[0]!.message, /read is 5s but the observed p99 latency is 6\.[5-9]s/);
    await store.close();
  });

  it('read timeouts in the log count as evidence even when p99 is capped at read', async () => {
    const config = parseConfig(
      `upstreams: { p: { targets: [{ url: "http://127.0.0.1:9001" }], timeouts: { read: 2s } } }
routes: [{ name: pay, match: { path: /* }, upstream: p, timeouts: { read: 2s } }]`,
      'c.yaml',
      {},
    );
    const store = openCallStore({ path: ':memory:', now: () => now });
    for (let i = 0; i < 95; i++) store.record(call({ route: 'pay', upstream: 'p', time: now - 60_000, durationMs: 100 }));
    for (let i = 0; i < 5; i++) store.record(call({ route: 'pay', upstream: 'p', time: now - 60_000, durationMs: 2000, code: 'UPSTREAM_RESPONSE_TIMEOUT', status: 504 }));
    store.flush();
    const f = await adviseFromCallLog(config, store, { now });
    assert.equal(f[0]?.path, 'routes[0].timeouts.read');
    assert.match(f[0]!.message, /5% of its 100 calls ended in UPSTREAM_RESPONSE_TIMEOUT/);
    await store.close();
  });

  it("pool smaller than the peak concurrency by Little's law", async () => {
    const config = parseConfig(
      `upstreams: { orders: { targets: [{ url: "http://127.0.0.1:9001" }, { url: "http://127.0.0.1:9002" }], pool: { maxConnections: 10 } } }
routes: [{ name: orders, match: { path: /* }, upstream: orders }]`,
      'c.yaml',
      {},
    );
    const store = openCallStore({ path: ':memory:', now: () => now });
    // A 10 s burst at 200 req/s with 400 ms latency: 80 in flight, 40 per target.
    const start = now - 600_000 - (now % 10_000);
    for (let i = 0; i < 2000; i++) store.record(call({ time: start + i * 5, durationMs: 400 }));
    store.flush();
    const f = await adviseFromCallLog(config, store, { now });
    const pool = f.find((x) => x.path === 'upstreams.orders.pool.maxConnections');
    assert.ok(pool, JSON.stringify(f));
    assert.match(pool.message, /peak concurrency by Little's law is 8\d \(200 req\/s × p95 4\d\dms/);
    assert.match(pool.message, /4\d per target over 2 target\(s\), but pool.maxConnections is 10/);
    assert.match(pool.fix, /raise pool.maxConnections to at least 6\d/);
    await store.close();
  });

  it('says nothing without enough traffic', async () => {
    const config = parseConfig(`upstreams: { u: { targets: [{ url: "http://127.0.0.1:9001" }] } }\nroutes: [{ name: r, match: { path: /* }, upstream: u }]`, 'c.yaml', {});
    const store = openCallStore({ path: ':memory:', now: () => now });
    store.record(call({ route: 'r', upstream: 'u', time: now - 1000, durationMs: 60_000 }));
    store.flush();
    assert.deepEqual(await adviseFromCallLog(config, store, { now }), []);
    await store.close();
  });
});

describe('check --probe and timeout lint', () => {
  it('reports target host names that do not resolve (injected resolver)', async () => {
    const config = parseConfig(`upstreams: { u: { targets: [{ url: "http://good.test:80" }, { url: "http://typo.tset:80" }, { url: "http://127.0.0.1:1" }] } }`, 'c.yaml', {});
    const lookup: LookupFn = (h, cb) => (h === 'good.test' ? cb(null, '127.0.0.1', 4) : cb(Object.assign(new Error('nx'), { code: 'ENOTFOUND' })));
    const f = await probeHosts(config, { lookup });
    assert.equal(f.length, 1);
    assert.equal(f[0]!.path, 'upstreams.u.targets[1].url');
    assert.equal(f[0]!.severity, 'error');
    assert.match(f[0]!.message, /typo\.tset does not resolve \(ENOTFOUND\)/);
  });

  it('total longer than the declared client timeout', () => {
    const config = parseConfig(
      `server: { clientTimeout: 10s }
upstreams: { u: { targets: [{ url: "http://127.0.0.1:9001" }], timeouts: { read: 5s, total: 15s } } }
routes:
  - { name: a, match: { path: /a }, upstream: u }
  - { name: b, match: { path: /b }, upstream: u, clientTimeout: 30s }`,
      'c.yaml',
      {},
    );
    const f = lintConfig(config).filter((x) => /clientTimeout/.test(x.path));
    assert.equal(f.length, 1);
    assert.equal(f[0]!.path, 'server.clientTimeout');
    assert.match(f[0]!.message, /route a: total \(15s\) is longer than the client's own timeout \(10s\)/);
  });

  it('retries × per-try time beyond total, when a try that timed out is retried', () => {
    const config = parseConfig(
      `upstreams: { u: { targets: [{ url: "http://127.0.0.1:9001" }], timeouts: { connect: 1s, read: 5s, total: 8s }, retries: { attempts: 3, on: [response-timeout], backoff: 100ms..1s } } }
routes: [{ name: a, match: { path: /a }, upstream: u }]`,
      'c.yaml',
      {},
    );
    const f = lintConfig(config).find((x) => x.path === 'upstreams.u.timeouts.total');
    assert.ok(f);
    assert.equal(f.severity, 'info');
    assert.match(f.message, /3 attempts × \(connect \+ read = 6s\) plus backoff need 20s, more than total \(8s\); only 1 of 3 slow tries fit/);
  });

  it('without response-timeout in retries.on a slow try is never retried: nothing to say', () => {
    const config = parseConfig(
      `upstreams: { u: { targets: [{ url: "http://127.0.0.1:9001" }], timeouts: { connect: 1s, read: 5s, total: 8s }, retries: { attempts: 3, backoff: 100ms..1s } } }
routes: [{ name: a, match: { path: /a }, upstream: u }]`,
      'c.yaml',
      {},
    );
    assert.deepEqual(lintConfig(config), []);
  });

  it('a finding names the key where the file sets the value in force, or says it is the default', () => {
    const lint = (yaml: string) => lintConfig(parseConfig(yaml, 'c.yaml', {}));
    const route = (timeouts: string) => `upstreams: { u: { targets: [{ url: "http://127.0.0.1:9001" }, { url: "http://127.0.0.1:9002" }], retries: { on: [response-timeout] }, timeouts: { connect: 1s, read: 5s } } }
routes: [{ name: a, match: { path: /a }, upstream: u }, { name: b, match: { path: /b }, upstream: u, timeouts: ${timeouts} }]`;
    // The route sets read, nobody sets total: the total in force is the default.
    const slow = lint(route('{ read: 20s }'));
    assert.deepEqual(slow.map((f) => [f.path, f.fromDefault ?? false]), [['upstreams.u.timeouts.total', true]]);
    const over = lint(route('{ read: 40s }'));
    assert.deepEqual(over.map((f) => [f.path, f.fromDefault ?? false]), [['routes[1].timeouts.read', false]]);
    const total = lint(route('{ read: 20s, total: 30s }'));
    assert.deepEqual(total.map((f) => [f.path, f.fromDefault ?? false]), [['routes[1].timeouts.total', false]]);
    // connect comes from the default (2s), read from the upstream.
    const connect = lint(`upstreams: { u: { targets: [{ url: "http://127.0.0.1:9001" }], timeouts: { read: 1s } } }
routes: [{ name: a, match: { path: /a }, upstream: u }]`);
    assert.deepEqual(connect.map((f) => [f.path, f.fromDefault ?? false]), [['upstreams.u.timeouts.connect', true]]);
  });

  it('read reaching total with retries off: total is the budget, nothing to say', () => {
    const config = parseConfig(
      `upstreams: { u: { targets: [{ url: "http://127.0.0.1:9001" }], timeouts: { read: 10s, total: 500ms }, retries: { attempts: 1 } } }
routes: [{ name: a, match: { path: /a }, upstream: u }]`,
      'c.yaml',
      {},
    );
    assert.deepEqual(lintConfig(config), []);
  });

  it('hedgeConnect not below connect: hanging connects are never raced', () => {
    const yaml = (connect: string, hedge: string, targets = 2) =>
      `upstreams: { u: { targets: [${Array.from({ length: targets }, (_, i) => `{ url: "http://127.0.0.1:900${i}" }`).join(', ')}], timeouts: { connect: ${connect} }, retries: { hedgeConnect: ${hedge} } } }
routes: [{ name: a, match: { path: /a }, upstream: u }]`;
    const finding = (y: string) => lintConfig(parseConfig(y, 'c.yaml', {})).find((x) => x.path === 'upstreams.u.retries.hedgeConnect');
    const f = finding(yaml('200ms', '250ms'));
    assert.ok(f);
    assert.equal(f.severity, 'info');
    assert.match(f.message, /route a: hedgeConnect \(250ms\) is not below connect \(200ms\)/);
    assert.equal(finding(yaml('1s', '250ms')), undefined, 'raced in time: nothing to say');
    assert.equal(finding(yaml('200ms', '0ms')), undefined, 'turned off on purpose');
    assert.equal(finding(yaml('200ms', '250ms', 1)), undefined, 'one target: nowhere to race to');
  });
});
