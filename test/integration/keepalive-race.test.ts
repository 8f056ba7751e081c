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
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway } from '../helpers/gateway.js';
import { idleDropper } from '../helpers/backends.js';

const BURSTS = 25;
const PER_BURST = 800;
const CONCURRENCY = 50;

async function bursts(url: string, n: number, gapMin: number, gapMax: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
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
      let left = PER_BURST;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
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
