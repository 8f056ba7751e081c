/**
 * The keep-alive race at scale: the backend gives up on idle keep-alive connections after 1 s
 * and does not say so (no Keep-Alive hint), the gateway keeps idle connections 4 s, and traffic
 * comes in bursts separated by idle gaps just over that 1 s. Half the backend's idle connections
 * are closed with a FIN, half dropped silently as a NAT or load balancer does (the next request
 * on them meets a reset) — on loopback a FIN arrives before the next request is sent, so the
 * silent drops are what make the race happen every burst. A request sent on such a connection is
 * the "random 502" of every gateway issue tracker. Causeway must show none of them to clients:
 * at least 20,000 requests, 0 errors.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway } from '../helpers/gateway.js';
import { idleDropper } from '../helpers/backends.js';
import { startBackend } from '../helpers/wire.js';

const BURSTS = 25;
const PER_BURST = 800;
const CONCURRENCY = 50;

/** `n` bursts of `perBurst` GETs over `concurrency` keep-alive connections, with idle gaps in [gapMin, gapMax] ms. */
async function bursts(url: string, n: number, gapMin: number, gapMax: number, perBurst = PER_BURST, concurrency = CONCURRENCY) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let ok = 0;
  const failures = new Map<string, number>();
  const one = () =>
    new Promise<void>((resolve) => {
      http
        .get(url, { agent }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200 && res.headers['x-causeway-error'] === undefined) ok++;
            else {
              const k = `${res.statusCode} ${res.headers['x-causeway-error'] ?? ''}`;
              failures.set(k, (failures.get(k) ?? 0) + 1);
            }
            resolve();
          });
        })
        .on('error', (e: NodeJS.ErrnoException) => {
          failures.set(e.code ?? e.message, (failures.get(e.code ?? e.message) ?? 0) + 1);
          resolve();
        });
    });
  try {
    for (let b = 0; b < n; b++) {
      let left = perBurst;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (left > 0) {
            left--;
            await one();
          }
        }),
      );
      if (b < n - 1) await new Promise((r) => setTimeout(r, gapMin + Math.random() * (gapMax - gapMin)));
    }
  } finally {
    agent.destroy();
  }
  return { ok, failures: Object.fromEntries(failures) };
}

const yaml = (url: string, retries = '') => `
log: { access: false, level: silent }
upstreams:
  main:
    targets: [{ url: "${url}" }]
    pool: { idleTimeout: 4s }
${retries}
routes:
  - { name: all, match: { path: /* }, upstream: main }
`;

test(`${BURSTS * PER_BURST} requests in bursts against a backend with a 1 s keep-alive timeout: 0 client-visible errors`, async (t) => {
  const backend = await idleDropper(1000);
  const gw = await startGateway(yaml(backend.url));
  try {
    const r = await bursts(`${gw.url}/ping`, BURSTS, 1050, 1200);
    const stale = gw.records.filter((c) => c.attempts.some((a) => a.retry === 'stale-connection')).length;
    t.diagnostic(`${r.ok}/${BURSTS * PER_BURST} ok, failures ${JSON.stringify(r.failures)}; ${stale} calls met a connection the backend had dropped and were retried on a fresh one; backend: ${JSON.stringify(backend.stats)}`);
    assert.deepEqual(r.failures, {});
    assert.equal(r.ok, BURSTS * PER_BURST);
    assert.ok(backend.stats.resetOnReuse > 0 && stale > 0, 'the race never happened');
  } finally {
    await gw.close();
    await backend.close();
  }
});

test('control: the same race with retries off does reach clients (so the test above can fail)', async (t) => {
  const backend = await idleDropper(300);
  const gw = await startGateway(yaml(backend.url, '    retries: { attempts: 1 }'));
  try {
    const r = await bursts(`${gw.url}/ping`, 5, 350, 400);
    const errors = Object.values(r.failures).reduce((a, b) => a + b, 0);
    t.diagnostic(`without retries: ${errors} of ${5 * PER_BURST} requests failed (${JSON.stringify(r.failures)})`);
    assert.ok(errors > 0, 'the race never happened: this setup cannot tell a fix from no fix');
  } finally {
    await gw.close();
    await backend.close();
  }
});

describe('the keep-alive race, small bursts (a FIN-closing and a silently dropping backend)', () => {
  test('bursts after idle gaps longer than the backend keep-alive: no client-visible errors, stale connections retried', async () => {
    const backend = await idleDropper(200);
    const gw = await startGateway(`
log: { access: false }
upstreams:
  main:
    targets: [{ url: ${backend.url} }]
    pool: { idleTimeout: 4s }
routes:
  - { name: all, match: { path: /* }, upstream: main }
`);
    try {
      const { ok: okCount, failures } = await bursts(`${gw.url}/ping`, 10, 250, 400, 20, 20);
      assert.deepEqual(failures, {}, 'client-visible errors');
      assert.equal(okCount, 200);
      assert.ok(backend.stats.resetOnReuse > 0, 'the backend never met a reused dropped connection: the test did not exercise the race');
      const stale = gw.records.filter((r) => r.attempts.some((a) => a.retry === 'stale-connection'));
      assert.ok(stale.length > 0, 'no stale-connection retry in the call records');
      for (const r of stale) {
        assert.equal(r.status, 200);
        const first = r.attempts[0]!;
        assert.equal(first.reused, true, 'only a reused connection can be stale');
        assert.match(String(first.outcome), /^UPSTREAM_CONNECTION_(CLOSED|RESET)$/);
        assert.equal(r.attempts.at(-1)!.outcome, 200);
      }
      assert.ok(gw.records.every((r) => r.status === 200 && r.code === null));
    } finally {
      await gw.close();
      await backend.close();
    }
  });

  test('a node:http backend with keepAliveTimeout 200 ms and no Keep-Alive hint, gaps around the timeout: no client-visible errors', async () => {
    const backend = await startBackend(
      (_req, res) => {
        // Setting Connection ourselves stops node from advertising `Keep-Alive: timeout=0`.
        res.writeHead(200, { connection: 'keep-alive', 'content-type': 'text/plain', 'content-length': '2' });
        res.end('ok');
      },
      { keepAliveTimeout: 200, collectBody: false },
    );
    const gw = await startGateway(`
log: { access: false }
upstreams:
  main:
    targets: [{ url: ${backend.url} }]
    pool: { idleTimeout: 4s }
routes:
  - { name: all, match: { path: /* }, upstream: main }
`);
    try {
      const { ok: okCount, failures } = await bursts(`${gw.url}/ping`, 10, 190, 400, 20, 20);
      assert.deepEqual(failures, {}, 'client-visible errors');
      assert.equal(okCount, 200);
      assert.ok(gw.records.every((r) => r.status === 200 && r.code === null));
      for (const r of gw.records) for (const a of r.attempts.slice(0, -1)) assert.equal(a.retry, 'stale-connection');
    } finally {
      await gw.close();
      await backend.close();
    }
  });
});
