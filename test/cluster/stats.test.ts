/** GET /api/upstreams over several workers: real Upstream stats merged as the lead serves them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeUpstreamStats } from '../../src/cluster/stats.js';
import { parseConfig } from '../../src/config/load.js';
import { Upstream } from '../../src/upstream/upstream.js';

test('counters and pools are summed, the latency average averaged, shared state taken from the lead', async () => {
  const config = parseConfig('upstreams:\n  orders:\n    targets: [{ url: http://127.0.0.1:19021 }, { url: http://127.0.0.1:19022 }]\n    circuitBreaker: {}\n', 'x.yaml', {}).upstreams['orders']!;
  const a = new Upstream('orders', config);
  const b = new Upstream('orders', config);
  try {
    a.targets[0]!.requests = 5;
    a.targets[0]!.inflight = 1;
    a.targets[0]!.observeLatency(10);
    a.activeRequests = 1;
    b.targets[0]!.requests = 7;
    b.targets[0]!.failures = 2;
    b.targets[0]!.inflight = 2;
    b.targets[0]!.observeLatency(30);
    b.activeRequests = 2;
    a.apply({ kind: 'ejected', upstream: 'orders', target: '127.0.0.1:19022', until: Date.now() + 60_000, ejections: 1 });
    const [merged] = mergeUpstreamStats([[a.stats()], [b.stats()]]);
    const t = merged!.targets[0]!;
    assert.equal(t.requests, 12);
    assert.equal(t.failures, 2);
    assert.equal(t.inflight, 3);
    assert.equal(t.ewmaMs, 20);
    assert.equal(t.pool.maxConnections, 256);
    assert.equal(merged!.activeRequests, 3);
    assert.equal(merged!.targets[1]!.state, 'ejected', "the lead's view of shared state");
    assert.equal(merged!.breaker!.state, 'closed');
    assert.deepEqual(mergeUpstreamStats([]), []);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
