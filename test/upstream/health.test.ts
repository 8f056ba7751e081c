import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { parseConfig } from '../../src/config/load.js';
import { EventLog, type GatewayEvent } from '../../src/observe/events.js';
import { ActiveHealthChecker, type HealthSubject, type HealthTransition } from '../../src/upstream/health.js';
import { Upstream, type TargetState } from '../../src/upstream/upstream.js';
import { parseTarget } from '../../src/upstream/target.js';

/** A real backend on 127.0.0.1 whose /healthz answers `status`, or never answers when `hang`. */
interface HealthBackend {
  url: string;
  port: number;
  status: number;
  hang: boolean;
  /** Requests to the health path seen. */
  checks: number;
  /** Other requests seen. */
  other: number;
  connections: number;
  userAgents: Set<string>;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backend(status = 200): Promise<HealthBackend> {
  const sockets = new Set<Socket>();
  let closed = false;
  const b: HealthBackend = {
    url: '',
    port: 0,
    status,
    hang: false,
    checks: 0,
    other: 0,
    connections: 0,
    userAgents: new Set(),
    async close() {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/healthz') {
      b.checks++;
      b.userAgents.add(String(req.headers['user-agent']));
      if (b.hang) return; // never answers
      res.writeHead(b.status, { 'content-type': 'text/plain' });
      res.end(b.status < 300 ? 'ok' : 'not ok');
      return;
    }
    b.other++;
    res.end('hello');
  });
  server.on('connection', (s: Socket) => {
    b.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  b.port = (server.address() as AddressInfo).port;
  b.url = `http://127.0.0.1:${b.port}`;
  cleanups.push(() => b.close());
  return b;
}

/** A loopback port with nothing listening on it (bound by us, then released). */
async function refusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

const ACTIVE = '{ path: /healthz, interval: 100ms, timeout: 300ms, healthyAfter: 2, unhealthyAfter: 2 }';

/** A started Upstream over `urls` with active checks (and optional passive detection). */
function upstream(urls: string[], active = ACTIVE, passive?: string): { u: Upstream; seen: GatewayEvent[] } {
  const lines = ['upstreams:', '  svc:', '    targets:', ...urls.map((url) => `      - { url: ${url} }`), '    healthCheck:', `      active: ${active}`];
  if (passive) lines.push(`      passive: ${passive}`);
  const config = parseConfig(lines.join('\n') + '\n', 'health.yaml', {});
  const events = new EventLog();
  const seen: GatewayEvent[] = [];
  events.on('event', (e: GatewayEvent) => seen.push(e));
  const u = new Upstream('svc', config.upstreams['svc']!, undefined, events);
  cleanups.push(() => u.close());
  u.start();
  return { u, seen };
}

const ofType = (seen: GatewayEvent[], type: string, target?: TargetState) => seen.filter((e) => e.type === type && (!target || e.target === target.target.id));

function pickedIds(u: Upstream, n: number): Set<string | undefined> {
  const out = new Set<string | undefined>();
  for (let i = 0; i < n; i++) out.add(u.pick(null)?.target.id);
  return out;
}

describe('active health checks (real backends)', () => {
  test('a failing target goes unhealthy (health.down), is skipped, and comes back after passing checks (health.up)', async () => {
    const a = await backend();
    const b = await backend();
    const { u, seen } = upstream([a.url, b.url]);
    const [ta, tb] = u.targets as [TargetState, TargetState];
    await until(() => a.checks >= 2 && b.checks >= 2, 'the first checks');
    assert.equal(ofType(seen, 'health.down').length, 0);
    assert.equal(pickedIds(u, 10).size, 2);
    assert.ok(a.userAgents.has('causeway-health-check'));

    b.status = 503;
    await until(() => !tb.healthy, 'b to go unhealthy');
    const down = ofType(seen, 'health.down', tb);
    assert.equal(down.length, 1);
    assert.equal(down[0]!.upstream, 'svc');
    assert.match(down[0]!.reason, /2 health checks failed/);
    assert.match(down[0]!.reason, /503/);
    assert.deepEqual(pickedIds(u, 20), new Set([ta.target.id]), 'pick() skips the unhealthy target');
    assert.notEqual(u.pick(new Set([ta])), tb, 'even for a retry that has tried the other one');
    const st = u.stats();
    assert.deepEqual(st.healthChecks, { path: '/healthz', interval: 100 });
    assert.equal(st.targets[1]!.state, 'unhealthy');
    assert.equal(st.targets[1]!.healthy, false);
    assert.equal(st.targets[0]!.state, 'up');

    b.status = 200;
    await until(() => tb.healthy, 'b to come back');
    const up = ofType(seen, 'health.up', tb);
    assert.equal(up.length, 1);
    assert.match(up[0]!.reason, /2 health checks passed/);
    assert.equal(u.stats().targets[1]!.state, 'up');
    assert.equal(pickedIds(u, 20).size, 2, 'back in rotation');
    assert.equal(ofType(seen, 'health.down', ta).length, 0, 'the good target was never marked down');
  });

  test('one failing check below unhealthyAfter changes nothing', async () => {
    const a = await backend();
    const { u, seen } = upstream([a.url], '{ interval: 100ms, timeout: 300ms, healthyAfter: 2, unhealthyAfter: 3 }');
    await until(() => a.checks >= 1, 'first check');
    a.status = 500;
    const from = a.checks;
    await until(() => a.checks >= from + 1, 'one failing check');
    a.status = 200;
    const ok = a.checks;
    await until(() => a.checks >= ok + 3, 'more passing checks');
    assert.equal(u.targets[0]!.healthy, true);
    assert.equal(ofType(seen, 'health.down').length, 0);
  });

  test('when every target is unhealthy, pick() returns null', async () => {
    const a = await backend(503);
    const { u } = upstream([a.url]);
    await until(() => !u.targets[0]!.healthy, 'unhealthy');
    assert.equal(u.pick(null), null);
    a.status = 200;
    await until(() => u.pick(null) !== null, 'back');
  });

  test('expectedStatuses: a range ("200-299") and a single status (204)', async () => {
    const ranged = await backend(250);
    const redirect = await backend(302);
    const r = upstream([ranged.url, redirect.url], '{ interval: 100ms, timeout: 300ms, healthyAfter: 2, unhealthyAfter: 2, expectedStatuses: ["200-299"] }');
    await until(() => !r.u.targets[1]!.healthy, '302 to fail "200-299"');
    assert.match(ofType(r.seen, 'health.down')[0]!.reason, /answered 302/);
    const checked = ranged.checks;
    await until(() => ranged.checks >= checked + 2, 'more checks');
    assert.equal(r.u.targets[0]!.healthy, true, '250 is inside 200-299');

    const noContent = await backend(204);
    const plain = await backend(200);
    const s = upstream([noContent.url, plain.url], '{ interval: 100ms, timeout: 300ms, healthyAfter: 2, unhealthyAfter: 2, expectedStatuses: [204] }');
    await until(() => !s.u.targets[1]!.healthy, '200 to fail [204]');
    assert.match(ofType(s.seen, 'health.down')[0]!.reason, /answered 200/);
    assert.equal(s.u.targets[0]!.healthy, true);
    assert.equal(ofType(s.seen, 'health.down', s.u.targets[0]!).length, 0);
  });

  test('the default expectedStatuses (200-399) accept a redirect and refuse a 404', async () => {
    const redirect = await backend(301);
    const missing = await backend(404);
    const { u } = upstream([redirect.url, missing.url]);
    await until(() => !u.targets[1]!.healthy, '404 to fail');
    assert.equal(u.targets[0]!.healthy, true);
    assert.ok(redirect.checks >= 2);
  });

  test('a backend that never answers the check fails it by timeout', async () => {
    const a = await backend();
    a.hang = true;
    const { u, seen } = upstream([a.url], '{ interval: 100ms, timeout: 200ms, healthyAfter: 2, unhealthyAfter: 2 }');
    const t0 = performance.now();
    await until(() => !u.targets[0]!.healthy, 'unhealthy by timeout', 8000);
    const took = performance.now() - t0;
    assert.ok(took >= 350, `two 200 ms timeouts cannot be over after ${took} ms`);
    const reason = ofType(seen, 'health.down')[0]!.reason;
    assert.match(reason, /timeout|within 200 ms/i, reason);
    assert.doesNotMatch(reason, /failed: \d/, `the reason names the error, not a numeric DOMException code: ${reason}`);
    // A hung check is not stacked: one check at a time per target.
    assert.ok(a.checks <= Math.ceil(took / 200) + 2, `${a.checks} checks in ${took} ms`);
    a.hang = false;
    await until(() => u.targets[0]!.healthy, 'back after answering again', 8000);
  });

  test('a refused port fails the checks', async () => {
    const port = await refusedPort();
    const good = await backend();
    const { u, seen } = upstream([`http://127.0.0.1:${port}`, good.url]);
    await until(() => !u.targets[0]!.healthy, 'refused target unhealthy');
    const reason = ofType(seen, 'health.down')[0]!.reason;
    assert.match(reason, /ECONNREFUSED|refused/i, reason);
    assert.equal(u.targets[1]!.healthy, true);
    for (let i = 0; i < 10; i++) assert.equal(u.pick(null), u.targets[1]);
  });

  test('a backend that goes away goes unhealthy', async () => {
    const a = await backend();
    const b = await backend();
    const { u } = upstream([a.url, b.url]);
    await until(() => a.checks >= 2, 'checks');
    await a.close();
    await until(() => !u.targets[0]!.healthy, 'closed backend unhealthy');
    assert.equal(u.targets[1]!.healthy, true);
  });

  test('checks use their own connection, never the data pool', async () => {
    const a = await backend();
    const { u } = upstream([a.url]);
    await until(() => a.checks >= 4, 'several checks');
    assert.ok(a.connections >= 1);
    assert.ok(a.connections <= 2, `checks should reuse their connection, ${a.connections} opened for ${a.checks} checks`);
    const pool = u.stats().targets[0]!.pool;
    assert.equal(pool.size, 0);
    assert.equal(pool.connected, 0);
    assert.equal(pool.inUse, 0);
    assert.equal(pool.idle, 0);
    assert.equal(a.other, 0);
  });

  test('stop() stops checking: no more requests reach the backend', async () => {
    const a = await backend();
    const { u } = upstream([a.url]);
    await until(() => a.checks >= 2, 'checks');
    await u.close();
    await sleep(50);
    const after = a.checks;
    await sleep(400);
    assert.equal(a.checks, after, 'a check ran after stop()');
  });

  test('an ejected target that is also unhealthy stays out until both clear', async () => {
    const a = await backend();
    const b = await backend();
    const { u, seen } = upstream([a.url, b.url], ACTIVE, '{ consecutiveFailures: 1, ejectFor: 300ms, maxEjectedPercent: 50% }');
    const [ta, tb] = u.targets as [TargetState, TargetState];
    u.report(tb, 'failure', 'connection reset');
    assert.equal(tb.ejected, true);
    b.status = 503;
    await until(() => !tb.healthy, 'b unhealthy while ejected');
    await until(() => !tb.ejected, 'ejection over');
    assert.ok(ofType(seen, 'target.returned', tb).length === 1);
    assert.equal(u.stats().targets[1]!.state, 'unhealthy');
    assert.deepEqual(pickedIds(u, 20), new Set([ta.target.id]), 'still out: unhealthy');
    b.status = 200;
    await until(() => tb.healthy, 'b healthy');
    assert.equal(pickedIds(u, 20).size, 2, 'in rotation again');
    assert.equal(u.stats().targets[1]!.state, 'up');
  });

  test('an unhealthy target that is then ejected comes back when both clear', async () => {
    const a = await backend();
    const b = await backend(503);
    const { u } = upstream([a.url, b.url], ACTIVE, '{ consecutiveFailures: 1, ejectFor: 1s, maxEjectedPercent: 50% }');
    const [ta, tb] = u.targets as [TargetState, TargetState];
    await until(() => !tb.healthy, 'b unhealthy');
    u.report(tb, 'failure', 'timeout');
    assert.equal(tb.ejected, true);
    b.status = 200;
    await until(() => tb.healthy, 'b healthy again');
    assert.equal(tb.ejected, true);
    assert.deepEqual(pickedIds(u, 20), new Set([ta.target.id]), 'still ejected');
    assert.equal(u.stats().targets[1]!.state, 'ejected');
    await until(() => !tb.ejected, 'ejection over', 5000);
    assert.equal(pickedIds(u, 20).size, 2);
  });
});

describe('ActiveHealthChecker on its own', () => {
  test('reports transitions through onChange and counts its checks; the path follows the target base path', async () => {
    let seenPath = '';
    const server = http.createServer((req, res) => {
      seenPath = req.url ?? '';
      res.writeHead(req.url === '/base/healthz' ? 200 : 404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const port = (server.address() as AddressInfo).port;
    const good: HealthSubject = { target: parseTarget(`http://127.0.0.1:${port}/base`), healthy: true };
    const bad: HealthSubject = { target: parseTarget(`http://127.0.0.1:${port}/other`), healthy: true };
    const changes: HealthTransition[] = [];
    const checker = new ActiveHealthChecker(
      [good, bad],
      { path: '/healthz', interval: 100, timeout: 300, healthyAfter: 1, unhealthyAfter: 1, expectedStatuses: ['200-299'] },
      (t) => changes.push(t),
    );
    cleanups.push(() => checker.stop());
    checker.start();
    checker.start(); // idempotent
    await until(() => changes.length >= 1, 'a transition');
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.subject, bad);
    assert.equal(changes[0]!.healthy, false);
    assert.match(changes[0]!.reason, /GET \/healthz answered 404/);
    assert.equal(good.healthy, true);
    assert.ok(checker.checks >= 2);
    assert.ok(seenPath.endsWith('/healthz'));
    await checker.stop();
    const n = checker.checks;
    await sleep(300);
    assert.equal(checker.checks, n);
  });
});
