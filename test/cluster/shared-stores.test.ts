/**
 * Rate limits and nonces shared by workers: the primary's StoreHost, asked over real IPC by
 * StoreClients in forked processes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreHost } from '../../src/cluster/shared-stores.js';
import { startPeers, type Peers } from './fixtures/peers.js';

test('StoreHost: one token bucket per key and one nonce cache, decided in order', () => {
  let now = 1_000_000;
  const host = new StoreHost(100, () => now);
  const out = host.run([
    ['take', 'r', 2, 1000],
    ['take', 'r', 2, 1000],
    ['take', 'r', 2, 1000],
    ['nonce', 'n1', now + 5000],
    ['nonce', 'n1', now + 5000],
  ]);
  assert.deepEqual(
    out.map((d) => (typeof d === 'boolean' ? d : d.allowed)),
    [true, true, false, true, false],
  );
  now += 500; // half the window: one token back
  assert.equal((host.run([['take', 'r', 2, 1000]])[0] as { allowed: boolean }).allowed, true);
});

describe('StoreClient over IPC', () => {
  let p: Peers;
  const host = new StoreHost(1000);
  const storeMessages: number[] = [];
  before(async () => {
    p = await startPeers(3);
    p.bus.on('store', (ops) => {
      storeMessages.push(ops.length);
      return host.run(ops);
    });
  });
  after(() => p.close());

  test('three workers taking from one bucket at once are granted its capacity in total, not three times it', async () => {
    const results = (await Promise.all([1, 2, 3].map((w) => p.run(w, { do: 'take', n: 20, key: 'route|all', capacity: 25, per: 60_000 })))) as Array<{ allowed: number }>;
    assert.equal(
      results.reduce((a, r) => a + r.allowed, 0),
      25,
    );
  });

  test('what one event-loop turn asks for travels in one message', async () => {
    storeMessages.length = 0;
    await p.run(1, { do: 'take', n: 50, key: 'batch', capacity: 1000, per: 1000 });
    assert.deepEqual(storeMessages, [50]);
  });

  test('a nonce used on one worker is refused on every other (no replay across workers)', async () => {
    assert.deepEqual(await p.run(1, { do: 'nonce', key: 'app1\0n-123' }), { fresh: true });
    assert.deepEqual(await p.run(2, { do: 'nonce', key: 'app1\0n-123' }), { fresh: false });
    assert.deepEqual(await p.run(3, { do: 'nonce', key: 'app1\0n-123' }), { fresh: false });
  });

  test('when the primary does not answer in time, the worker decides alone (fail-open) and counts it', async () => {
    p.bus.on('store', () => new Promise(() => undefined));
    const t0 = Date.now();
    const r = (await p.run(2, { do: 'take', n: 3, key: 'stuck', capacity: 10, per: 1000, timeout: 200 })) as { allowed: number; stats: { fallbacks: number } };
    assert.equal(r.allowed, 3);
    assert.equal(r.stats.fallbacks, 3);
    assert.ok(Date.now() - t0 < 3000);
  });
});
