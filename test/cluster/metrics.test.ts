/** /metrics over several workers: real Metrics registries merged as the lead serves them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateMetrics } from '../../src/cluster/metrics.js';
import { Metrics } from '../../src/observe/metrics.js';
import { call } from '../helpers/calls.js';

/** An upstream as metrics read it, with one target in the given state. */
const upstream = (state: 'up' | 'ejected', inflight: number) => ({
  stats: () => ({
    name: 'orders',
    activeRequests: inflight,
    activeRetries: 0,
    breaker: { state: 'closed', rejected: 1 },
    targets: [{ id: 't:1', inflight, ewmaMs: inflight * 10, state, healthy: true, ejected: state === 'ejected', ejections: 1, pool: { inUse: inflight, idle: 1, queued: 0, connected: inflight + 1, maxConnections: 128, exhausted: 0 } }],
  }),
});

test('counters and per-process gauges are summed; shared state is the lead\'s; the worker count is added', async () => {
  const lead = new Metrics({ upstreams: () => [upstream('ejected', 2)] });
  const other = new Metrics({ upstreams: () => [upstream('ejected', 3)] });
  for (let i = 0; i < 3; i++) lead.record(call({ route: 'r', upstream: 'orders', status: 200 }));
  for (let i = 0; i < 4; i++) other.record(call({ route: 'r', upstream: 'orders', status: 200 }));
  other.record(call({ route: 'r', upstream: 'orders', status: 503, code: 'UPSTREAM_CONNECTION_REFUSED' }));
  const text = await aggregateMetrics([await lead.registry.getMetricsAsJSON(), await other.registry.getMetricsAsJSON()]);
  assert.match(text, /^causeway_requests_total\{route="r",upstream="orders",status="200"\} 7$/m);
  assert.match(text, /^causeway_errors_total\{route="r",upstream="orders",code="UPSTREAM_CONNECTION_REFUSED"\} 1$/m);
  assert.match(text, /^causeway_request_duration_seconds_count\{route="r",upstream="orders"\} 8$/m);
  assert.match(text, /^causeway_target_inflight\{upstream="orders",target="t:1"\} 5$/m, 'in flight: the sum of the workers');
  assert.match(text, /^causeway_pool_max_connections\{upstream="orders",target="t:1"\} 256$/m, 'each worker has its own pool');
  assert.match(text, /^causeway_target_ejected\{upstream="orders",target="t:1"\} 1$/m, 'shared state is not summed');
  assert.match(text, /^causeway_target_up\{upstream="orders",target="t:1"\} 0$/m);
  assert.match(text, /^causeway_target_ejection_streak\{upstream="orders",target="t:1"\} 1$/m);
  assert.match(text, /^causeway_breaker_state\{upstream="orders",state="closed"\} 1$/m);
  assert.match(text, /^causeway_breaker_rejected_total\{upstream="orders"\} 2$/m);
  assert.match(text, /^causeway_target_ewma_seconds\{upstream="orders",target="t:1"\} 0.025$/m, 'latency averages are averaged');
  assert.match(text, /^causeway_workers 2$/m);
  lead.close();
  other.close();
});
