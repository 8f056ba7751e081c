/** The admin API over real sockets: every endpoint, its filters, its error envelope and its auth. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoopback, tokenMatches } from '../../src/admin/auth.js';
import { AdminServer } from '../../src/admin/server.js';
import pino from 'pino';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';
import * as backends from '../helpers/backends.js';
import { startAdmin, type AdminFixture } from '../helpers/admin.js';
import { send } from '../helpers/wire.js';

interface Envelope {
  error: { code: string; message: string; details?: unknown[] };
}

function yaml(okUrl: string, downUrl: string): string {
  return `
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, token: "s3cret-token" }
log: { level: silent, access: false }
upstreams:
  ok:   { targets: [{ url: "${okUrl}" }] }
  down: { targets: [{ url: "${downUrl}" }], retries: { attempts: 1 } }
routes:
  - { name: ok,   match: { path: /ok/* },   upstream: ok,   stripPrefix: /ok, timeouts: { read: 3s } }
  - { name: down, match: { path: /down/* }, upstream: down }
`;
}

describe('admin API', () => {
  let ok: backends.TestBackend, down: backends.TestBackend, f: AdminFixture;
  before(async () => {
    ok = await backends.ok();
    down = await backends.refusing();
    f = await startAdmin(yaml(ok.url, down.url), { token: 's3cret-token' });
    for (const p of ['/ok/a', '/ok/b', '/down/a', '/down/b', '/down/c', '/nowhere']) await send(f.url + p);
    await f.logged(6);
  });
  after(async () => {
    await f.close();
    await ok.close();
    await down.close();
  });

  test('GET /api/routes lists the routes in force with their effective timeouts', async () => {
    const r = await f.call('/api/routes');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type']!, /^application\/json/);
    const { routes } = r.json<{ routes: Array<{ name: string; upstream: string; stripPrefix: string | null; timeouts: { read: number; total: number } }> }>();
    assert.deepEqual(routes.map((x) => x.name), ['ok', 'down']);
    assert.equal(routes[0]!.stripPrefix, '/ok');
    assert.equal(routes[0]!.timeouts.read, 3000, 'the route override applies');
    assert.equal(routes[1]!.stripPrefix, null);
  });

  test('GET /api/upstreams shows live per-target state', async () => {
    const { upstreams } = (await f.call('/api/upstreams')).json<{ upstreams: Array<{ name: string; targets: Array<{ url: string; requests: number; failures: number; inflight: number; pool: { inUse: number; maxConnections: number } }> }> }>();
    const byName = new Map(upstreams.map((u) => [u.name, u]));
    assert.equal(byName.get('ok')!.targets[0]!.url, ok.url);
    assert.equal(byName.get('ok')!.targets[0]!.requests, 2);
    assert.equal(byName.get('down')!.targets[0]!.failures, 3);
    assert.equal(byName.get('ok')!.targets[0]!.pool.inUse, 0);
  });

  test('GET /api/consumers answers a list', async () => {
    const r = await f.call('/api/consumers');
    assert.equal(r.status, 200);
    assert.ok(Array.isArray(r.json<{ consumers: unknown[] }>().consumers));
  });

  test('GET /api/calls filters by code, status, route and limit, newest first', async () => {
    const refused = (await f.call('/api/calls?code=UPSTREAM_CONNECTION_REFUSED')).json<{ calls: Array<{ code: string; route: string; time: number }> }>().calls;
    assert.equal(refused.length, 3);
    assert.ok(refused.every((c) => c.code === 'UPSTREAM_CONNECTION_REFUSED' && c.route === 'down'));
    assert.ok(refused[0]!.time >= refused[2]!.time, 'newest first');
    assert.equal((await f.call('/api/calls?status=404')).json<{ calls: unknown[] }>().calls.length, 1);
    assert.equal((await f.call('/api/calls?route=ok')).json<{ calls: unknown[] }>().calls.length, 2);
    assert.equal((await f.call('/api/calls?limit=2')).json<{ calls: unknown[] }>().calls.length, 2);
    assert.equal((await f.call('/api/calls?since=1h')).json<{ calls: unknown[] }>().calls.length, 6, 'since takes a duration ago');
    assert.equal((await f.call(`/api/calls?until=${Date.now() - 3_600_000}`)).json<{ calls: unknown[] }>().calls.length, 0);
  });

  test('GET /api/calls rejects bad filters with the error envelope', async () => {
    for (const q of ['limit=0', 'limit=5000', 'status=abc', 'since=yesterday-ish']) {
      const r = await f.call(`/api/calls?${q}`);
      assert.equal(r.status, 400, q);
      const e = r.json<Envelope>().error;
      assert.equal(e.code, 'BAD_REQUEST');
      assert.match(e.message, new RegExp(q.split('=')[0]!));
    }
  });

  test('GET /api/calls/{requestId} returns the call with its attempts; an unknown id is 404', async () => {
    const [first] = (await f.call('/api/calls?route=down&limit=1')).json<{ calls: Array<{ requestId: string }> }>().calls;
    const r = await f.call(`/api/calls/${first!.requestId}`);
    assert.equal(r.status, 200);
    const { call } = r.json<{ call: { requestId: string; attempts: Array<{ phase: string; outcome: string }> }; explanation: unknown }>();
    assert.equal(call.requestId, first!.requestId);
    assert.equal(call.attempts[0]!.phase, 'connect');
    assert.equal(call.attempts[0]!.outcome, 'UPSTREAM_CONNECTION_REFUSED');
    const missing = await f.call('/api/calls/no-such-call');
    assert.equal(missing.status, 404);
    assert.equal(missing.json<Envelope>().error.code, 'NOT_FOUND');
  });

  test('GET /api/stats breaks errors down by code and names the top failing route', async () => {
    const s = (await f.call('/api/stats?since=10m&bucket=10s')).json<{ bucket: number; buckets: unknown[]; totals: { requests: number; errors: number; byCode: Record<string, number> }; topFailingRoutes: Array<{ route: string; errors: number }> }>();
    assert.equal(s.bucket, 10_000);
    assert.equal(s.buckets.length, 60);
    assert.equal(s.totals.requests, 6);
    assert.equal(s.totals.byCode['UPSTREAM_CONNECTION_REFUSED'], 3);
    assert.equal(s.totals.byCode['ROUTE_NOT_FOUND'], 1);
    assert.equal(s.topFailingRoutes[0]!.route, 'down');
    const bad = await f.call('/api/stats?bucket=10ms');
    assert.equal(bad.status, 400);
  });

  test('GET /api/events, /api/config (secrets masked) and /healthz', async () => {
    assert.ok(Array.isArray((await f.call('/api/events')).json<{ events: unknown[] }>().events));
    const c = await f.call('/api/config');
    assert.equal(c.status, 200);
    assert.ok(!c.text.includes('s3cret-token'), 'the admin token never leaves the gateway');
    assert.equal(c.json<{ config: { admin: { token: string } } }>().config.admin.token, '***');
    const h = await send(f.adminUrl + '/healthz');
    assert.equal(h.status, 200, '/healthz needs no token');
    assert.equal(h.json<{ status: string }>().status, 'ok');
  });

  test('a token is required: missing or wrong is 401 with WWW-Authenticate, in the same envelope', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 's3cret-token' }] as Array<Record<string, string>>) {
      const r = await send(f.adminUrl + '/api/routes', { headers });
      assert.equal(r.status, 401);
      assert.match(r.headers['www-authenticate']!, /^Bearer/);
      assert.equal(r.json<Envelope>().error.code, 'UNAUTHORIZED');
    }
    assert.equal((await send(f.adminUrl + '/metrics')).status, 401, '/metrics is protected too');
    assert.equal((await send(f.adminUrl + '/api/routes', { headers: { authorization: 'bearer s3cret-token' } })).status, 200);
    const page = await send(f.adminUrl + '/');
    assert.equal(page.status, 200, 'the dashboard files carry no data and need no token');
    assert.match(page.headers['content-type']!, /text\/html/);
  });

  test('unknown paths are 404 and wrong methods 405, in the envelope', async () => {
    const r = await f.call('/api/nothing');
    assert.equal(r.status, 404);
    assert.equal(r.json<Envelope>().error.code, 'NOT_FOUND');
    const m = await f.call('/api/routes', { method: 'DELETE' });
    assert.equal(m.status, 405);
    assert.equal(m.headers['allow'], 'GET');
    assert.equal(m.json<Envelope>().error.code, 'METHOD_NOT_ALLOWED');
  });

  test('without a call log, call and stats endpoints answer 503 and say why', async () => {
    const g = await startAdmin(yaml(ok.url, down.url), { store: false });
    try {
      for (const p of ['/api/calls', '/api/calls/x', '/api/stats']) {
        const r = await g.call(p);
        assert.equal(r.status, 503, p);
        assert.match(r.json<Envelope>().error.message, /no call log.*storage\.enabled/);
      }
      assert.equal((await g.call('/api/routes')).status, 200, 'loopback without a token: open');
    } finally {
      await g.close();
    }
  });

  test('/metrics serves the Prometheus exposition with the calls made', async () => {
    const m = await f.call('/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers['content-type']!, /^text\/plain/);
    assert.match(m.text, /UPSTREAM_CONNECTION_REFUSED/);
  });

  test('/api/alerts lists the alert rules with their state', async () => {
    const g = await startAdmin(yaml(ok.url, down.url) + 'alerts:\n  - { name: refused, when: { errorRate: "> 50%" }, upstream: down }\n');
    try {
      const { alerts } = (await g.call('/api/alerts')).json<{ alerts: Array<{ name: string; state: string }> }>();
      assert.deepEqual(alerts.map((a) => a.name), ['refused']);
      assert.match(alerts[0]!.state, /^(inactive|pending|firing)$/);
    } finally {
      await g.close();
    }
  });
});

describe('admin listener safety', () => {
  test('loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.8.9.1', '::1', 'localhost', '::ffff:127.0.0.1']) assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '::', 'example.com']) assert.ok(!isLoopback(h), h);
  });

  test('token comparison needs the exact bearer token', () => {
    assert.ok(tokenMatches('Bearer abc', 'abc'));
    assert.ok(!tokenMatches('Bearer abcd', 'abc'));
    assert.ok(!tokenMatches('Bearer ab', 'abc'));
    assert.ok(!tokenMatches('Basic abc', 'abc'));
    assert.ok(!tokenMatches(undefined, 'abc'));
  });

  test('a non-loopback admin host without a token is a config error naming file, line and path', () => {
    const text = 'upstreams: {}\nadmin:\n  host: 0.0.0.0\n';
    assert.throws(
      () => parseConfig(text, 'gw.yaml', {}),
      (err: unknown) => err instanceof ConfigError && /^gw\.yaml:3:\d+ admin\.host: .*without a token.*admin\.token/.test(err.message),
    );
    assert.doesNotThrow(() => parseConfig('upstreams: {}\nadmin: { host: 0.0.0.0, token: t }\n', 'gw.yaml', {}));
  });

  test('the admin server refuses to start on a non-loopback address without a token', () => {
    const gateway = new Gateway(parseConfig('upstreams: {}\n', 'x.yaml', {}), { logger: pino({ level: 'silent' }) });
    assert.throws(() => new AdminServer({ gateway }, { host: '0.0.0.0', port: 0 }), /admin\.token/);
  });
});
