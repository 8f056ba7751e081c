/**
 * Rate limits shared through a real redis-server by two gateways, and what happens when Redis
 * dies mid-test: fail-open keeps serving with per-gateway limits, fail-closed refuses; both
 * publish a redis.down event and count in the limiter's stats.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { echo, send, startBackend, until, type Backend } from '../helpers/wire.js';
import { redisMissing, startRedis, type RedisServer } from './redis-server.js';

const skip = redisMissing();
if (skip) console.log(`# skip: ${skip}`);

describe('rate limits shared through Redis', { skip: skip ?? false }, () => {
  let backend: Backend;
  let redis: RedisServer;
  const gateways: TestGateway[] = [];

  const config = (whenDown: string, route: string) => `
log: { access: false }
redis: { url: ${redis.url}, whenDown: ${whenDown}, timeout: 200ms }
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: ${route}, match: { path: /* }, upstream: b, rateLimit: { requests: 10, per: 1m, by: route } }
`;

  before(async () => {
    backend = await startBackend(echo);
    redis = await startRedis();
  });
  after(async () => {
    for (const g of gateways) await g.close();
    await redis.kill();
    await backend.close();
  });

  async function ready(g: TestGateway): Promise<void> {
    assert.ok(await until(() => g.gateway.policies.limiter.stats.redisUp === true, 5000), 'the gateway never connected to Redis');
  }

  test('two gateways share one limit; with Redis killed, fail-open serves on local limits and fail-closed refuses', async () => {
    const open = await startGateway(config('fail-open', 'shared'));
    const other = await startGateway(config('fail-open', 'shared'));
    const closed = await startGateway(config('fail-closed', 'closed'));
    gateways.push(open, other, closed);
    await ready(open);
    await ready(other);
    await ready(closed);

    // 16 calls alternating between the two gateways: exactly 10 pass in all.
    let passed = 0;
    for (let i = 0; i < 16; i++) {
      const r = await send(`${(i % 2 ? other : open).url}/x`);
      if (r.status === 200) passed++;
      else assert.equal(r.headers['x-causeway-error'], 'RATE_LIMITED');
    }
    assert.equal(passed, 10, 'the limit is shared, not per gateway');
    assert.equal((await send(`${closed.url}/x`)).status, 200);

    await redis.kill();
    // Fail-open: served from local buckets (a fresh local bucket of 10 per gateway).
    const r = await send(`${open.url}/x`, { timeout: 5000 });
    assert.equal(r.status, 200, r.text);
    assert.ok(open.gateway.policies.limiter.stats.failOpen >= 1);
    let localPassed = 1;
    for (let i = 0; i < 12; i++) if ((await send(`${open.url}/x`)).status === 200) localPassed++;
    assert.equal(localPassed, 10, 'fail-open still enforces the limit, per gateway');
    // Fail-closed: refused, with the reason.
    const c = await send(`${closed.url}/x`, { timeout: 5000 });
    assert.equal(c.status, 429);
    assert.match(c.text, /shared rate limit store is unreachable/);
    assert.ok(closed.gateway.policies.limiter.stats.failClosed >= 1);
    for (const g of [open, closed]) {
      assert.equal(g.gateway.policies.limiter.stats.redisUp, false);
      assert.ok(g.gateway.events.recent({ types: ['redis.down'] }).length >= 1, 'redis.down was published');
    }
  });
});
