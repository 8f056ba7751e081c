/**
 * Resilience end to end: real gateways in front of real backends that fail mid-load. Each
 * scenario asserts the client-visible success rate and latency, and prints the measured figures
 * (success rate, p50, p99) as test diagnostics.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { blackhole, until, type TestBackend } from '../helpers/backends.js';
import { runLoad, summary } from '../helpers/load.js';

/** A node:http backend that can be stopped (connections refused) and restarted on the same port. */
class Switchable {
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;
  hits = 0;
  delayMs = 0;
  status = 200;

  async start(port = 0): Promise<this> {
    const server = http.createServer((req, res) => {
      this.hits++;
      const answer = () => {
        res.writeHead(this.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ port: this.port, path: req.url }));
      };
      if (this.delayMs) {
        const t = setTimeout(answer, this.delayMs);
        res.on('close', () => clearTimeout(t));
      } else answer();
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops listening and cuts every connection: new connections are refused. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

async function withAll<T>(things: Array<{ close?: () => Promise<void>; stop?: () => Promise<void> }>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    for (const t of things) await (t.close ?? t.stop)!.call(t);
  }
}

const upstreamYaml = (urls: string[], extra = '') => `
log: { access: false, level: silent }
upstreams:
  svc:
    targets: [${urls.map((u) => `{ url: "${u}" }`).join(', ')}]
${extra}
routes:
  - { name: svc, match: { path: /* }, upstream: svc }
`;

/** Three targets, the middle one a black hole (its TCP handshakes never complete), behind a gateway with `extra` upstream YAML. */
async function holeBetweenTwo(extra: string): Promise<{ good: Switchable[]; hole: TestBackend; gw: TestGateway }> {
  const good = await Promise.all([new Switchable().start(), new Switchable().start()]);
  const hole = await blackhole();
  const gw = await startGateway(upstreamYaml([good[0]!.url, hole.url, good[1]!.url], extra));
  return { good, hole, gw };
}

describe('resilience scenarios under load (real sockets)', () => {
  test('one of three targets starts refusing connections mid-load: no client-visible errors', async (t) => {
    const targets = await Promise.all([new Switchable().start(), new Switchable().start(), new Switchable().start()]);
    const gw = await startGateway(
      upstreamYaml(
        targets.map((x) => x.url),
        `    timeouts: { connect: 500ms, read: 2s, total: 5s }
    healthCheck: { passive: { consecutiveFailures: 3, ejectFor: 10s } }`,
      ),
    );
    await withAll([gw, ...targets], async () => {
      let killed = false;
      const r = await runLoad({
        url: `${gw.url}/items`,
        total: 3000,
        concurrency: 20,
        capMs: 30_000,
        onProgress: (n) => {
          if (n === 1000 && !killed) {
            killed = true;
            void targets[1]!.stop();
          }
        },
      });
      t.diagnostic(summary('refusing mid-load', r));
      assert.ok(killed);
      assert.equal(r.successRate, 1, summary('refusing', r));
      const ejected = gw.gateway.events.recent({ types: ['target.ejected'] });
      assert.equal(ejected.length, 1, 'the refusing target was ejected');
      assert.equal(ejected[0]!.target, `127.0.0.1:${targets[1]!.port}`);
      assert.ok(r.p99 < 1000, `p99 ${r.p99} ms`);
    });
  });

  test('one of three targets never completes the TCP handshake: retried elsewhere within the connect timeout, then ejected', async (t) => {
    const { good, hole, gw } = await holeBetweenTwo(`    timeouts: { connect: 200ms, read: 2s, total: 5s }
    healthCheck: { passive: { consecutiveFailures: 2, ejectFor: 30s } }`);
    await withAll([gw, hole, ...good], async () => {
      const r = await runLoad({ url: `${gw.url}/x`, total: 2000, concurrency: 10, capMs: 30_000 });
      t.diagnostic(summary('blackhole target', r));
      assert.equal(r.successRate, 1, summary('blackhole', r));
      assert.ok(r.max < 1500, `no request waits much past one connect timeout (max ${r.max} ms)`);
      const timeouts = gw.records.flatMap((c) => c.attempts).filter((a) => a.outcome === 'UPSTREAM_CONNECT_TIMEOUT');
      assert.ok(timeouts.length >= 2 && timeouts.length <= 12, `connect timeouts before ejection: ${timeouts.length}`);
      assert.equal(gw.gateway.events.recent({ types: ['target.ejected'] })[0]?.target, `127.0.0.1:${hole.port}`);
    });
  });

  test('a connect that hangs is raced on another target after retries.hedgeConnect: a POST too, long before the connect timeout', async (t) => {
    const good = await new Switchable().start();
    const hole: TestBackend = await blackhole();
    // The black hole comes first, so round-robin sends the first call there.
    const gw = await startGateway(
      upstreamYaml(
        [hole.url, good.url],
        `    timeouts: { connect: 3s, read: 2s, total: 10s }
    retries: { attempts: 2, hedgeConnect: 100ms }
    healthCheck: { passive: { consecutiveFailures: 1, ejectFor: 30s } }`,
      ),
    );
    await withAll([gw, hole, good], async () => {
      const t0 = performance.now();
      const post = await fetch(`${gw.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"order":42}' });
      const elapsed = performance.now() - t0;
      assert.equal(post.status, 200);
      assert.equal(((await post.json()) as { port: number }).port, good.port, 'answered by the target that connects');
      assert.ok(elapsed < 1500, `answered after ${Math.round(elapsed)} ms, not after the 3 s connect timeout`);
      const rec = await gw.record(post.headers.get('x-request-id')!);
      assert.equal(rec.attempts.length, 2);
      const [first, second] = rec.attempts;
      assert.equal(first!.target, `127.0.0.1:${hole.port}`);
      assert.equal(first!.outcome, 'UPSTREAM_CONNECT_TIMEOUT');
      assert.equal(first!.retry, 'slow-connect');
      assert.equal(first!.timings.connect, 100);
      assert.match(first!.error ?? '', /still pending after 100 ms/);
      assert.equal(second!.outcome, 200);
      assert.equal(rec.code, null);
      // While the raced connect pends, new calls do not go to that target at all.
      for (let i = 0; i < 4; i++) {
        const r = await fetch(`${gw.url}/x${i}`);
        await r.arrayBuffer();
        const c = await gw.record(r.headers.get('x-request-id')!);
        assert.deepEqual(c.attempts.map((a) => a.target), [`127.0.0.1:${good.port}`], `call ${i} went straight to the good target`);
      }
      // When the raced connect times out, it counts against its target: ejected (consecutiveFailures 1).
      await until(() => gw.gateway.events.recent({ types: ['target.ejected'] }).length > 0, 6000);
      const ejected = gw.gateway.events.recent({ types: ['target.ejected'] })[0]!;
      assert.equal(ejected.target, `127.0.0.1:${hole.port}`);
      assert.match(String(ejected.reason), /UPSTREAM_CONNECT_TIMEOUT.*after the call had moved to another target/);
      const holeState = gw.gateway.upstreams.get('svc')!.targets.find((x) => x.target.id === `127.0.0.1:${hole.port}`)!;
      assert.equal(holeState.inflight, 0, 'the raced attempt released its slot');
      assert.equal(holeState.slowConnects, 0);
      t.diagnostic(`POST raced after 100 ms, answered in ${Math.round(elapsed)} ms (connect timeout 3 s)`);
    });
  });

  test('under load, a black-holed target costs about hedgeConnect, not the connect timeout', async (t) => {
    const { good, hole, gw } = await holeBetweenTwo(`    timeouts: { connect: 3s, read: 2s, total: 10s }
    retries: { attempts: 3, hedgeConnect: 150ms }`);
    await withAll([gw, hole, ...good], async () => {
      const r = await runLoad({ url: `${gw.url}/x`, total: 600, concurrency: 10, capMs: 30_000 });
      t.diagnostic(summary('blackhole target, hedgeConnect 150ms, no health checks', r));
      assert.equal(r.successRate, 1, summary('blackhole', r));
      assert.ok(r.max < 2000, `no call waits for the 3 s connect timeout (max ${r.max} ms)`);
      const raced = gw.records.flatMap((c) => c.attempts).filter((a) => a.retry === 'slow-connect');
      assert.ok(raced.length >= 1, 'some calls were raced');
      assert.ok(raced.length < 60, `the slow target is avoided while its connects pend: ${raced.length} raced of 600`);
    });
  });

  test('one of three targets answers after 5 s: read timeout retries elsewhere, then the slow target is ejected', async (t) => {
    const targets = await Promise.all([new Switchable().start(), new Switchable().start(), new Switchable().start()]);
    targets[2]!.delayMs = 5000;
    const gw = await startGateway(
      upstreamYaml(
        targets.map((x) => x.url),
        `    timeouts: { connect: 500ms, read: 300ms, total: 3s }
    retries: { attempts: 3, on: [connect-failure, stale-connection, reset, response-timeout] }
    healthCheck: { passive: { consecutiveFailures: 3, ejectFor: 30s } }`,
      ),
    );
    await withAll([gw, ...targets], async () => {
      const r = await runLoad({ url: `${gw.url}/slow`, total: 1500, concurrency: 10, capMs: 30_000 });
      t.diagnostic(summary('slow target (5 s)', r));
      // Retries after a read timeout may duplicate work, so the retry budget (20%, at least 3 in
      // flight) holds them: when the slow target first stalls several calls at once, one may fail.
      assert.ok(r.successRate >= 0.99, summary('slow', r));
      assert.ok(r.p99 < 1000, `p99 ${r.p99} ms stays near one read timeout`);
      assert.ok(r.max < 2000, `max ${r.max} ms`);
      assert.equal(gw.gateway.events.recent({ types: ['target.ejected'] })[0]?.target, `127.0.0.1:${targets[2]!.port}`);
    });
  });

  test('an ejected target comes back by itself when it recovers (no active check needed)', async (t) => {
    const a = await new Switchable().start();
    const b = await new Switchable().start();
    const gw = await startGateway(
      upstreamYaml([a.url, b.url], `    timeouts: { connect: 300ms }\n    healthCheck: { passive: { consecutiveFailures: 2, ejectFor: 600ms } }`),
    );
    await withAll([gw, a, b], async () => {
      const port = b.port;
      await b.stop();
      const during = await runLoad({ url: `${gw.url}/r`, total: 200, concurrency: 4 });
      t.diagnostic(summary('while b is down', during));
      assert.equal(during.successRate, 1);
      assert.equal(gw.gateway.upstreams.get('svc')!.stats().targets[1]!.state, 'ejected');
      await b.start(port);
      const hitsBefore = b.hits;
      await until(() => gw.gateway.events.recent({ types: ['target.returned'] }).length > 0, 5000, 'target.returned');
      const after = await runLoad({ url: `${gw.url}/r`, total: 200, concurrency: 4 });
      t.diagnostic(summary('after b recovered', after));
      assert.equal(after.successRate, 1);
      assert.ok(b.hits - hitsBefore >= 50, `the recovered target takes traffic again (${b.hits - hitsBefore} requests)`);
      assert.equal(gw.gateway.upstreams.get('svc')!.stats().targets[1]!.state, 'up');
    });
  });

  test('the circuit breaker opens, fails fast without touching the backend, half-opens and closes', async (t) => {
    const backend = await new Switchable().start();
    backend.status = 503;
    const gw = await startGateway(
      upstreamYaml(
        [backend.url],
        `    retries: { attempts: 1 }
    circuitBreaker: { failureRate: 50%, minRequests: 10, window: 5s, openFor: 700ms, halfOpenRequests: 2 }`,
      ),
    );
    await withAll([gw, backend], async () => {
      const failing = await runLoad({ url: `${gw.url}/b`, total: 10, concurrency: 1 });
      assert.equal(failing.byStatus['503'], 10, 'the backend 503s pass through and count as failures');
      assert.equal(gw.gateway.upstreams.get('svc')!.breaker!.state, 'open');
      const hits = backend.hits;
      const open = await runLoad({ url: `${gw.url}/b`, total: 200, concurrency: 4 });
      t.diagnostic(summary('breaker open', open));
      assert.equal(open.byCode['CIRCUIT_OPEN'], 200);
      assert.equal(backend.hits, hits, 'no call reached the backend while open');
      const gatewayMs = gw.records.filter((c) => c.code === 'CIRCUIT_OPEN').map((c) => c.durationMs).sort((x, y) => x - y);
      const median = gatewayMs[Math.floor(gatewayMs.length / 2)]!;
      t.diagnostic(`CIRCUIT_OPEN gateway time: median ${median} ms, max ${gatewayMs[gatewayMs.length - 1]} ms over ${gatewayMs.length} calls`);
      assert.ok(median < 1, `fail fast: median gateway time ${median} ms`);
      backend.status = 200;
      await new Promise((r) => setTimeout(r, 800));
      const recovered = await runLoad({ url: `${gw.url}/b`, total: 50, concurrency: 1 });
      t.diagnostic(summary('after openFor, backend healthy', recovered));
      assert.equal(recovered.successRate, 1);
      assert.equal(gw.gateway.upstreams.get('svc')!.breaker!.state, 'closed');
      const types = gw.gateway.events.recent({ upstream: 'svc' }).map((e) => e.type).reverse();
      assert.deepEqual(types, ['breaker.open', 'breaker.half-open', 'breaker.closed']);
    });
  });

  test('a failing half-open probe opens the breaker again', async () => {
    const backend = await new Switchable().start();
    backend.status = 503;
    const gw = await startGateway(
      upstreamYaml([backend.url], `    retries: { attempts: 1 }\n    circuitBreaker: { failureRate: 50%, minRequests: 4, window: 5s, openFor: 300ms, halfOpenRequests: 1 }`),
    );
    await withAll([gw, backend], async () => {
      await runLoad({ url: `${gw.url}/b`, total: 4, concurrency: 1 });
      await new Promise((r) => setTimeout(r, 400));
      const probe = await runLoad({ url: `${gw.url}/b`, total: 1, concurrency: 1 });
      assert.equal(probe.byStatus['503'], 1);
      assert.equal(gw.gateway.upstreams.get('svc')!.breaker!.state, 'open');
      const types = gw.gateway.events.recent({ upstream: 'svc' }).map((e) => e.type).reverse();
      assert.deepEqual(types, ['breaker.open', 'breaker.half-open', 'breaker.open']);
    });
  });

  test('when every target is out of rotation: NO_HEALTHY_TARGET at once', async (t) => {
    const a = await new Switchable().start();
    const gw = await startGateway(
      upstreamYaml([a.url], `    healthCheck: { active: { path: /healthz, interval: 100ms, timeout: 200ms, unhealthyAfter: 2, healthyAfter: 1 } }`),
    );
    await withAll([gw, a], async () => {
      a.status = 503;
      await until(() => gw.gateway.upstreams.get('svc')!.stats().targets[0]!.state === 'unhealthy', 5000, 'unhealthy');
      const hits = a.hits;
      const r = await runLoad({ url: `${gw.url}/x`, total: 50, concurrency: 2 });
      t.diagnostic(summary('no healthy target', r));
      assert.equal(r.byCode['NO_HEALTHY_TARGET'], 50);
      assert.ok(r.p99 < 50, `fast: p99 ${r.p99} ms`);
      assert.ok(a.hits - hits < 10, 'only health checks reach the backend');
      a.status = 200;
      await until(() => gw.gateway.upstreams.get('svc')!.stats().targets[0]!.state === 'up', 5000, 'back up');
      assert.equal((await runLoad({ url: `${gw.url}/x`, total: 5, concurrency: 1 })).successRate, 1);
    });
  });

  test('pool exhaustion never ejects a target', async () => {
    const a = await new Switchable().start();
    a.delayMs = 300;
    const gw = await startGateway(
      upstreamYaml([a.url], `    pool: { maxConnections: 1, queueTimeout: 20ms, maxQueue: 1 }\n    healthCheck: { passive: { consecutiveFailures: 2, ejectFor: 30s } }`),
    );
    await withAll([gw, a], async () => {
      const r = await runLoad({ url: `${gw.url}/x`, total: 40, concurrency: 8 });
      assert.ok((r.byCode['UPSTREAM_POOL_EXHAUSTED'] ?? 0) >= 10, JSON.stringify(r.byCode));
      assert.equal(gw.gateway.events.recent({ types: ['target.ejected'] }).length, 0);
      assert.equal(gw.gateway.upstreams.get('svc')!.stats().targets[0]!.state, 'up');
    });
  });
});

describe('fallbacks', () => {
  test('stale: the last good GET answers for a failing backend, marked, with the failure kept in the record', async () => {
    const a = await new Switchable().start();
    const gw: TestGateway = await startGateway(`
log: { access: false, level: silent }
upstreams:
  svc: { targets: [{ url: "${a.url}" }], retries: { attempts: 1 } }
routes:
  - { name: cached, match: { path: /* }, upstream: svc, fallback: { staleFor: 60s } }
`);
    await withAll([gw, a], async () => {
      const fresh = await fetch(`${gw.url}/item/1`);
      const freshBody = await fresh.text();
      assert.equal(fresh.status, 200);
      const port = a.port;
      await a.stop();
      const stale = await fetch(`${gw.url}/item/1`, { headers: { 'x-request-id': 'stale-fallback-1' } });
      assert.equal(stale.status, 200);
      assert.equal(await stale.text(), freshBody);
      assert.equal(stale.headers.get('x-causeway-fallback'), 'stale');
      assert.equal(stale.headers.get('x-causeway-error'), 'UPSTREAM_CONNECTION_REFUSED');
      assert.equal(stale.headers.get('x-request-id'), 'stale-fallback-1');
      assert.match(stale.headers.get('age') ?? '', /^\d+$/);
      const rec = await gw.record('stale-fallback-1');
      assert.equal(rec.code, 'UPSTREAM_CONNECTION_REFUSED');
      assert.equal(rec.status, 200);
      const other = await fetch(`${gw.url}/item/2`);
      assert.equal(other.status, 502, 'no stale copy of another path');
      assert.equal(other.headers.get('x-causeway-fallback'), null);
      await a.start(port);
    });
  });

  test('static: a fixed response answers for a failing backend and an open breaker', async () => {
    const a = await new Switchable().start();
    a.status = 503;
    const gw = await startGateway(`
log: { access: false, level: silent }
upstreams:
  svc:
    targets: [{ url: "${a.url}" }]
    retries: { attempts: 1 }
    timeouts: { read: 200ms }
    circuitBreaker: { minRequests: 3, failureRate: 50%, openFor: 10s }
routes:
  - name: recs
    match: { path: /* }
    upstream: svc
    fallback: { response: { status: 200, json: { recommendations: [], degraded: true } } }
`);
    await withAll([gw, a], async () => {
      a.delayMs = 1000;
      const r1 = await fetch(`${gw.url}/recs`);
      assert.equal(r1.status, 200);
      assert.deepEqual(await r1.json(), { recommendations: [], degraded: true });
      assert.equal(r1.headers.get('x-causeway-fallback'), 'static');
      assert.equal(r1.headers.get('x-causeway-error'), 'UPSTREAM_RESPONSE_TIMEOUT');
      await fetch(`${gw.url}/recs`).then((r) => r.text());
      await fetch(`${gw.url}/recs`).then((r) => r.text());
      assert.equal(gw.gateway.upstreams.get('svc')!.breaker!.state, 'open');
      const r4 = await fetch(`${gw.url}/recs`);
      assert.equal(r4.status, 200);
      assert.equal(r4.headers.get('x-causeway-error'), 'CIRCUIT_OPEN');
      assert.equal(r4.headers.get('x-causeway-fallback'), 'static');
    });
  });
});
