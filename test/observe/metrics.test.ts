import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as B from '../helpers/backends.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { metricsHandler } from '../../src/observe/metrics.js';

describe('metrics', () => {
  let good: B.TestBackend;
  let down: B.TestBackend;
  let gw: TestGateway;
  before(async () => {
    good = await B.ok();
    down = await B.refusing();
    gw = await startGateway(`
log: { access: false }
upstreams:
  good: { targets: [{ url: "${good.url}" }] }
  down: { targets: [{ url: "${down.url}" }], retries: { attempts: 1 } }
routes:
  - { name: good, match: { path: /good/* }, upstream: good }
  - { name: down, match: { path: /down/* }, upstream: down }
`);
    for (const p of ['/good/a', '/good/b', '/down/a']) await (await fetch(gw.url + p)).arrayBuffer();
  });
  after(async () => {
    await gw.close();
    await good.close();
    await down.close();
  });

  it('counts requests, errors by code, latency and attempts per target', async () => {
    const text = await gw.gateway.metrics.render();
    assert.match(text, /^causeway_requests_total\{route="good",upstream="good",status="200"\} 2$/m);
    assert.match(text, /^causeway_requests_total\{route="down",upstream="down",status="502"\} 1$/m);
    assert.match(text, /^causeway_errors_total\{route="down",upstream="down",code="UPSTREAM_CONNECTION_REFUSED"\} 1$/m);
    assert.match(text, /^causeway_request_duration_seconds_count\{route="good",upstream="good"\} 2$/m);
    assert.match(text, new RegExp(`^causeway_attempts_total\\{upstream="down",target="127.0.0.1:${down.port}",outcome="UPSTREAM_CONNECTION_REFUSED"\\} 1$`, 'm'));
  });

  it('reads pool and target state at scrape time', async () => {
    const text = await gw.gateway.metrics.render();
    const target = `127.0.0.1:${good.port}`;
    assert.match(text, new RegExp(`^causeway_pool_connected\\{upstream="good",target="${target}"\\} 1$`, 'm'));
    assert.match(text, new RegExp(`^causeway_pool_in_use\\{upstream="good",target="${target}"\\} 0$`, 'm'));
    assert.match(text, new RegExp(`^causeway_pool_max_connections\\{upstream="good",target="${target}"\\} 128$`, 'm'));
    assert.match(text, /^causeway_pool_queued\{/m);
    assert.match(text, /^causeway_target_ewma_seconds\{upstream="good"/m);
    assert.match(text, /^causeway_upstream_active_requests\{upstream="good"\} 0$/m);
  });

  it('counts gateway events by type', async () => {
    gw.gateway.events.publish({ type: 'target.ejected', upstream: 'down', target: `127.0.0.1:${down.port}`, reason: 'test' });
    const text = await gw.gateway.metrics.render();
    assert.match(text, /^causeway_events_total\{type="target.ejected",upstream="down"\} 1$/m);
  });

  it('serves the Prometheus text format over HTTP', async () => {
    const server = http.createServer(metricsHandler(gw.gateway));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^text\/plain; version=0.0.4/);
      const text = await res.text();
      assert.match(text, /# TYPE causeway_requests_total counter/);
      assert.match(text, /# TYPE causeway_request_duration_seconds histogram/);
      assert.match(text, /^process_cpu_seconds_total /m);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('metrics counted per call', () => {
  const rec = (durationMs: number, status = 200, code: string | null = null) => ({
    requestId: 'r', time: 0, route: 'r', upstream: 'u', consumer: null, method: 'GET', path: '/', status, code: code as never,
    attempts: [{ target: 't:1', outcome: code ? (code as never) : status, phase: null, reused: false, timings: { dns: 0, connect: 0, tls: 0, send: 0, ttfb: 0, body: 0 }, durationMs }],
    bytesIn: 0, bytesOut: 0, durationMs, clientIp: '127.0.0.1',
  });

  it('keeps the latency histogram cumulative across scrapes, with bounds inclusive, and counters that add up', async () => {
    const { Metrics } = await import('../../src/observe/metrics.js');
    const m = new Metrics({ upstreams: () => [] });
    // 1 ms sits in the 0.001 bucket (le is inclusive); 3 ms in 0.005; 70 s only in +Inf.
    for (const ms of [1, 3, 3, 70_000]) m.record(rec(ms));
    let text = await m.render();
    const line = (le: string) => new RegExp(`^causeway_request_duration_seconds_bucket\\{le="${le}",route="r",upstream="u"\\} (\\S+)$`, 'm').exec(text)?.[1];
    assert.equal(line('0.001'), '1');
    assert.equal(line('0.0025'), '1');
    assert.equal(line('0.005'), '3');
    assert.equal(line('60'), '3');
    assert.equal(line('\\+Inf'), '4');
    assert.match(text, /^causeway_request_duration_seconds_count\{route="r",upstream="u"\} 4$/m);
    assert.match(text, /^causeway_request_duration_seconds_sum\{route="r",upstream="u"\} 70\.007$/m);
    assert.match(text, /^causeway_requests_total\{route="r",upstream="u",status="200"\} 4$/m);
    // More calls after a scrape add to what was there.
    m.record(rec(2, 502, 'UPSTREAM_CONNECTION_REFUSED'));
    text = await m.render();
    assert.equal(line('0.0025'), '2');
    assert.equal(line('\\+Inf'), '5');
    assert.match(text, /^causeway_requests_total\{route="r",upstream="u",status="200"\} 4$/m);
    assert.match(text, /^causeway_requests_total\{route="r",upstream="u",status="502"\} 1$/m);
    assert.match(text, /^causeway_errors_total\{route="r",upstream="u",code="UPSTREAM_CONNECTION_REFUSED"\} 1$/m);
    assert.match(text, /^causeway_attempts_total\{upstream="u",target="t:1",outcome="200"\} 4$/m);
    assert.match(text, /^causeway_attempts_total\{upstream="u",target="t:1",outcome="UPSTREAM_CONNECTION_REFUSED"\} 1$/m);
    m.close();
  });
});
