import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway } from '../helpers/gateway.js';
import { attemptSpanId, parseTraceparent } from '../../src/observe/trace.js';

/** A backend that remembers the traceparent of each request and fails the first with 503. */
async function recordingBackend() {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers.traceparent as string);
    res.statusCode = seen.length === 1 ? 503 : 200;
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

/** An OTLP/HTTP receiver collecting posted bodies. */
async function collector() {
  const bodies: Array<{ resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> }> = [];
  const server = http.createServer((req, res) => {
    let b = '';
    req.on('data', (d) => (b += d));
    req.on('end', () => {
      bodies.push(JSON.parse(b));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, bodies, server };
}

describe('trace context', () => {
  it('parses valid traceparents and rejects invalid ones', () => {
    assert.deepEqual(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: '01' });
    for (const bad of [undefined, '', 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01']) {
      assert.equal(parseTraceparent(bad), null, String(bad));
    }
    assert.ok(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future'));
  });

  it('derives distinct attempt span ids', () => {
    const ids = new Set([0, 1, 2, 3].map((n) => attemptSpanId('00f067aa0ba902b7', n)));
    assert.equal(ids.size, 4);
    assert.ok(!ids.has('00f067aa0ba902b7'));
  });
});

describe('traceparent through a real gateway, and OTLP export', () => {
  let backend: Awaited<ReturnType<typeof recordingBackend>>;
  let otlp: Awaited<ReturnType<typeof collector>>;
  before(async () => {
    backend = await recordingBackend();
    otlp = await collector();
  });
  after(async () => {
    backend.server.close();
    otlp.server.close();
  });

  it('keeps the client trace id, sends a new span id per attempt, stores the trace id and exports spans', async () => {
    const gw = await startGateway(`
log: { access: false }
tracing: { otlp: { endpoint: "${otlp.url}" } }
upstreams: { b: { targets: [{ url: "${backend.url}" }], retries: { attempts: 2, on: [503], backoff: 1ms..2ms } } }
routes: [{ name: b, match: { path: /* }, upstream: b }]
`);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`${gw.url}/x`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    assert.equal(res.status, 200);
    const rec = await gw.record(res.headers.get('x-request-id')!);
    await gw.close();

    assert.equal(backend.seen.length, 2);
    const [a, b] = backend.seen.map((h) => parseTraceparent(h)!);
    assert.equal(a!.traceId, traceId);
    assert.equal(b!.traceId, traceId);
    assert.notEqual(a!.spanId, b!.spanId);
    assert.notEqual(a!.spanId, '00f067aa0ba902b7');
    assert.equal(rec.traceId, traceId);
    assert.equal(rec.parentSpanId, '00f067aa0ba902b7');

    // stop() flushed the exporter: one server span and two attempt spans, linked.
    const spans = otlp.bodies.flatMap((x) => x.resourceSpans[0]!.scopeSpans[0]!.spans);
    const server = spans.find((s) => s['kind'] === 2)!;
    assert.equal(server['traceId'], traceId);
    assert.equal(server['parentSpanId'], '00f067aa0ba902b7');
    const children = spans.filter((s) => s['parentSpanId'] === server['spanId']);
    assert.deepEqual(children.map((s) => s['spanId']).sort(), [a!.spanId, b!.spanId].sort());
  });

  it('makes a trace when the client sends none (or an invalid one)', async () => {
    backend.seen.length = 0;
    const gw = await startGateway(`
log: { access: false }
upstreams: { b: { targets: [{ url: "${backend.url}" }], retries: { attempts: 1 } } }
routes: [{ name: b, match: { path: /* }, upstream: b }]
`);
    const res = await fetch(`${gw.url}/x`, { headers: { traceparent: 'not-a-trace' } });
    await res.arrayBuffer();
    const rec = await gw.record(res.headers.get('x-request-id')!);
    await gw.close();
    const sent = parseTraceparent(backend.seen[0]);
    assert.ok(sent);
    assert.equal(sent.traceId, rec.traceId);
    assert.equal(rec.parentSpanId, null);
  });
});
