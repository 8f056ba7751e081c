/**
 * gRPC end to end: a @grpc/grpc-js client, an h2c front handing requests to the gateway, and
 * real HTTP/2 backends (a @grpc/grpc-js server, or a bare node:http2 one misbehaving on purpose).
 * Every failure class is checked by the status the client library reports and by the call record.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { CERT_FILE, blackhole, ok as httpBackend, refusing, tlsServer, until, type TestBackend } from '../helpers/backends.js';
import { startGateway } from '../helpers/gateway.js';
import {
  HealthClient,
  afterBody,
  echoClient,
  grpc,
  grpcBackend,
  grpcOk,
  rawH2Backend,
  unary,
  type Client,
  type EchoReply,
  type EchoRequest,
  type GrpcBackend,
  type RawH2Backend,
  type UnaryResult,
} from '../helpers/grpc.js';
import { explainCall, formatExplanation } from '../../src/diagnose/explain.js';

const Status = grpc.status;

/** A gateway (h2c next to HTTP/1.1 on its listener) in front of `targets`, and a client; `extra` is YAML for the upstream. */
async function setup(targets: string[], extra = '', route = '') {
  const gw = await startGateway(`
listen: { host: 127.0.0.1, port: 0, h2c: true }
upstreams:
  echo:
    targets: [${targets.map((t) => `{ url: "${t}" }`).join(', ')}]
${extra
  .split('\n')
  .filter(Boolean)
  .map((l) => `    ${l}`)
  .join('\n')}
routes:
  - name: echo
    match: { path: /causeway.test.Echo/* }
    upstream: echo
${route
  .split('\n')
  .filter(Boolean)
  .map((l) => `    ${l}`)
  .join('\n')}
`);
  const address = `127.0.0.1:${gw.port}`;
  const client = echoClient(address);
  return {
    gw,
    address,
    client,
    async close() {
      client.close();
      await gw.close();
    },
  };
}

const requestIdOf = (md: grpc.Metadata | null | undefined) => md?.get('x-request-id')[0]?.toString() ?? '';

describe('gRPC: the four call kinds through the gateway', () => {
  let backend: GrpcBackend;
  let s: Awaited<ReturnType<typeof setup>>;
  before(async () => {
    backend = await grpcBackend('a');
    s = await setup([backend.url]);
  });
  after(async () => {
    await s.close();
    await backend.close();
  });

  test('unary: reply, client metadata, response headers and trailers intact; the call record knows the method', async () => {
    const md = new grpc.Metadata();
    md.set('x-client-header', 'hello');
    const r = await unary(s.client, { text: 'hi' }, { metadata: md });
    assert.equal(r.err, null, r.err?.message);
    assert.equal(r.reply?.text, 'hi');
    assert.equal(r.headers?.get('x-echo-header')[0], 'hello');
    assert.equal(r.trailers?.get('x-trailer')[0], 'from-a');
    assert.equal(backend.lastMetadata?.get('x-client-header')[0], 'hello');
    const rec = await s.gw.record(requestIdOf(r.headers));
    assert.equal(rec.status, 200);
    assert.equal(rec.code, null);
    assert.deepEqual(rec.grpc, { service: 'causeway.test.Echo', method: 'Unary', status: 0, sent: 1, received: 1 });
    assert.equal(rec.attempts[0]!.grpc?.status, 0);
  });

  test('client streaming: every message arrives, one reply, trailers intact', async () => {
    const { reply, trailers } = await new Promise<{ reply: EchoReply; trailers: grpc.Metadata }>((resolve, reject) => {
      let reply: EchoReply | null = null;
      const call = (s.client.ClientStream as (cb: (e: grpc.ServiceError | null, r: EchoReply) => void) => grpc.ClientWritableStream<EchoRequest>)((err, r) => {
        if (err) reject(err);
        reply = r;
      });
      call.on('status', (st: grpc.StatusObject) => setImmediate(() => resolve({ reply: reply!, trailers: st.metadata })));
      for (const text of ['a', 'b', 'c']) call.write({ text });
      call.end();
    });
    assert.equal(reply.text, 'a,b,c');
    assert.equal(reply.index, 3);
    assert.equal(trailers.get('x-trailer')[0], 'from-a');
    const rec = s.gw.records.find((r) => r.grpc?.method === 'ClientStream')!;
    assert.equal(rec.grpc?.sent, 3);
    assert.equal(rec.grpc?.received, 1);
  });

  test('server streaming: every message in order, then the trailers', async () => {
    const got: EchoReply[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = (s.client.ServerStream as (r: EchoRequest) => grpc.ClientReadableStream<EchoReply>)({ text: 'n', count: 5 });
      call.on('data', (r: EchoReply) => got.push(r));
      call.on('error', () => undefined);
      call.on('status', resolve);
    });
    assert.equal(status.code, Status.OK);
    assert.deepEqual(
      got.map((r) => r.text),
      ['n-0', 'n-1', 'n-2', 'n-3', 'n-4'],
    );
    assert.equal(status.metadata.get('x-trailer')[0], 'from-a');
    await until(() => s.gw.records.some((r) => r.grpc?.method === 'ServerStream'), 2000, 'the record');
    const rec = s.gw.records.find((r) => r.grpc?.method === 'ServerStream')!;
    assert.equal(rec.grpc?.received, 5);
  });

  test('bidirectional: each reply arrives before the next request is written (true interleaving)', async () => {
    const call = (s.client.Bidi as () => grpc.ClientDuplexStream<EchoRequest, EchoReply>)();
    const replies: string[] = [];
    const next = () => new Promise<EchoReply>((resolve) => call.once('data', resolve));
    for (const text of ['x', 'y', 'z']) {
      const p = next();
      call.write({ text });
      replies.push((await p).text);
    }
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.end();
    assert.deepEqual(replies, ['echo:x', 'echo:y', 'echo:z']);
    const st = await status;
    assert.equal(st.code, Status.OK);
    assert.equal(st.metadata.get('x-trailer')[0], 'from-a');
  });

  test('grpc-timeout: the backend gets the remaining budget as grpc-timeout and X-Request-Timeout', async () => {
    const r = await unary(s.client, { text: 't' }, { deadlineMs: 5000 });
    assert.equal(r.err, null);
    const sent = backend.lastMetadata?.get('x-request-timeout')[0]?.toString();
    assert.ok(sent && Number(sent) <= 5000 && Number(sent) > 3000, `x-request-timeout ${sent}`);
  });

  test('a backend status that is the caller\'s (INVALID_ARGUMENT) passes through and does not count against the target', async () => {
    const r = await unary(s.client, { text: 'x', mode: 'status:3' });
    assert.equal(r.err?.code, Status.INVALID_ARGUMENT);
    assert.equal(r.err?.details, 'backend says status:3');
    assert.equal(r.trailers?.get('x-causeway-error').length, 0);
    const up = s.gw.gateway.upstreams.get('echo')!;
    assert.equal(up.targets[0]!.consecutiveFailures, 0);
    const rec = s.gw.records.at(-1)!;
    assert.equal(rec.code, null);
    assert.equal(rec.grpc?.status, Status.INVALID_ARGUMENT);
  });

  test('a backend UNAVAILABLE passes through as the backend said it, and counts against the target like a 503', async () => {
    const r = await unary(s.client, { text: 'x', mode: 'status:14' });
    assert.equal(r.err?.code, Status.UNAVAILABLE);
    assert.equal(r.err?.details, 'backend says status:14');
    assert.equal(r.trailers?.get('x-causeway-error').length, 0);
    const rec = s.gw.records.at(-1)!;
    assert.equal(rec.status, 200);
    assert.equal(rec.code, null);
    assert.equal(rec.grpc?.status, Status.UNAVAILABLE);
    assert.equal(rec.attempts[0]!.grpc?.message, 'backend says status:14');
    assert.equal(s.gw.gateway.upstreams.get('echo')!.targets[0]!.consecutiveFailures, 1);
    await unary(s.client, { text: 'ok' });
  });
});

describe('gRPC: every failure class, as the client library reports it', () => {
  const backends: Array<{ close(): Promise<void> }> = [];
  after(async () => {
    for (const b of backends) await b.close();
  });

  /** One unary call through a gateway to `target`; returns what the client saw and the record. */
  async function callThrough(target: string, extra = '', req: EchoRequest = { text: 'x' }, deadlineMs?: number) {
    const s = await setup([target], extra);
    try {
      const r = await unary(s.client, req, deadlineMs ? { deadlineMs } : {});
      const md = r.status?.metadata;
      const id = requestIdOf(md) || requestIdOf(r.headers);
      const rec = id ? await s.gw.record(id) : s.gw.records.at(-1);
      return { r, md, rec };
    } finally {
      await s.close();
    }
  }

  test('refused: UNAVAILABLE, UPSTREAM_CONNECTION_REFUSED, trailers-only with Proxy-Status and request id', async () => {
    const b = await refusing();
    backends.push(b);
    const { r, md, rec } = await callThrough(`h2c://127.0.0.1:${b.port}`);
    assert.equal(r.err?.code, Status.UNAVAILABLE);
    assert.match(r.err!.details, /^Backend unavailable: connection refused by echo/);
    assert.equal(md?.get('x-causeway-error')[0], 'UPSTREAM_CONNECTION_REFUSED');
    assert.match(String(md?.get('proxy-status')[0]), /^causeway; error=connection_refused; details="Backend unavailable: connection refused by echo/);
    assert.equal(r.headers, null, 'trailers-only: no separate response headers');
    assert.equal(rec?.code, 'UPSTREAM_CONNECTION_REFUSED');
    assert.equal(rec?.status, 200);
    assert.equal(rec?.grpc?.status, Status.UNAVAILABLE);
  });

  test('connect timeout: UNAVAILABLE, UPSTREAM_CONNECT_TIMEOUT', async () => {
    let hole: TestBackend;
    try {
      hole = await blackhole();
    } catch (err) {
      if (process.env.CI) throw err;
      test.skip(`no blackhole on this machine: ${(err as Error).message}`);
      return;
    }
    backends.push(hole);
    const { r, md } = await callThrough(`h2c://127.0.0.1:${hole.port}`, 'timeouts: { connect: 200ms }');
    assert.equal(r.err?.code, Status.UNAVAILABLE);
    assert.match(r.err!.details, /timeout connecting to echo within 200 ms/);
    assert.equal(md?.get('x-causeway-error')[0], 'UPSTREAM_CONNECT_TIMEOUT');
  });

  test('a port that does not speak HTTP/2: INTERNAL, UPSTREAM_PROTOCOL_MISMATCH', async () => {
    const b = await httpBackend();
    backends.push(b);
    const { r, md, rec } = await callThrough(`h2c://127.0.0.1:${b.port}`);
    assert.equal(r.err?.code, Status.INTERNAL);
    assert.equal(md?.get('x-causeway-error')[0], 'UPSTREAM_PROTOCOL_MISMATCH');
    assert.equal(rec?.attempts[0]?.phase, 'connect');
  });

  test('reset before the response: UNAVAILABLE, UPSTREAM_CONNECTION_RESET', async () => {
    const b = await rawH2Backend((stream) => afterBody(stream, () => stream.destroy(new Error('crash'))));
    backends.push(b);
    const { r, md, rec } = await callThrough(b.url);
    assert.equal(r.err?.code, Status.UNAVAILABLE);
    assert.equal(md?.get('x-causeway-error')[0], 'UPSTREAM_CONNECTION_RESET');
    assert.equal(rec?.attempts[0]?.error, 'H2_RST_INTERNAL_ERROR');
  });

  test('reset mid-stream (after headers and a message): the client gets UNAVAILABLE in trailers, with the code', async () => {
    const b = await rawH2Backend((stream) =>
      afterBody(stream, () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
        const msg = Buffer.from([0x0a, 1, 0x41]);
        const frame = Buffer.alloc(5);
        frame.writeUInt32BE(msg.length, 1);
        stream.write(Buffer.concat([frame, msg]));
        // destroy(err) sends RST_STREAM INTERNAL_ERROR at once; close(code) would end the stream cleanly first.
        setTimeout(() => stream.destroy(new Error('crash')), 30);
      }),
    );
    backends.push(b);
    const s = await setup([b.url]);
    try {
      const got: EchoReply[] = [];
      const status = await new Promise<grpc.StatusObject>((resolve) => {
        const call = (s.client.ServerStream as (r: EchoRequest) => grpc.ClientReadableStream<EchoReply>)({ text: 'n' });
        call.on('data', (r: EchoReply) => got.push(r));
        call.on('error', () => undefined);
        call.on('status', resolve);
      });
      assert.equal(got.length, 1, 'the message sent before the reset arrived');
      assert.equal(status.code, Status.UNAVAILABLE);
      assert.match(status.details, /connection reset by echo/);
      assert.equal(status.metadata.get('x-causeway-error')[0], 'UPSTREAM_CONNECTION_RESET');
      const rec = s.gw.records.at(-1)!;
      assert.equal(rec.code, 'UPSTREAM_CONNECTION_RESET');
      assert.equal(rec.attempts[0]?.phase, 'body');
    } finally {
      await s.close();
    }
  });

  test('deadline exceeded (the client\'s grpc-timeout): DEADLINE_EXCEEDED, whoever gives up first', async () => {
    const b = await grpcBackend('slow');
    backends.push(b);
    const { r } = await callThrough(b.url, '', { text: 'x', delay_ms: 1500 }, 300);
    assert.equal(r.err?.code, Status.DEADLINE_EXCEEDED);
  });

  test('deadline exceeded, the gateway\'s own: a raw grpc-timeout of 300m ends in a trailers-only GATEWAY_TIMEOUT', async () => {
    const b = await rawH2Backend((stream) => afterBody(stream, () => setTimeout(() => grpcOk(stream), 1500)));
    backends.push(b);
    const s = await setup([b.url]);
    try {
      const session = http2.connect(`http://${s.address}`);
      const req = session.request({ ':method': 'POST', ':path': '/causeway.test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m' });
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      const t0 = Date.now();
      const [headers, flags] = await new Promise<[http2.IncomingHttpHeaders, number]>((resolve) => req.once('response', (h, f) => resolve([h, f])));
      const took = Date.now() - t0;
      req.resume();
      session.close();
      assert.equal(headers[':status'], 200);
      assert.ok(flags & http2.constants.NGHTTP2_FLAG_END_STREAM, 'trailers-only: END_STREAM on the headers');
      assert.equal(headers['grpc-status'], String(Status.DEADLINE_EXCEEDED));
      assert.equal(headers['x-causeway-error'], 'GATEWAY_TIMEOUT');
      assert.match(String(headers['grpc-message']), /^Backend timeout: the 300 ms budget for this request ran out calling echo/);
      assert.ok(took >= 250 && took < 1400, `answered after ${took} ms`);
      // A deadline the client chose does not count against the backend.
      assert.equal(s.gw.gateway.upstreams.get('echo')!.targets[0]!.consecutiveFailures, 0);
    } finally {
      await s.close();
    }
  });

  test('backend UNAVAILABLE with retries.on [unavailable]: retried on the other target, the client sees OK', async () => {
    const bad = await rawH2Backend((stream) =>
      afterBody(stream, () => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'draining' }, { endStream: true })),
    );
    const good = await grpcBackend('good');
    backends.push(bad, good);
    const s = await setup([bad.url, good.url], 'retries: { attempts: 2, on: [unavailable] }\nbalance: round-robin');
    try {
      for (let i = 0; i < 4; i++) {
        const r = await unary(s.client, { text: `r${i}` });
        assert.equal(r.err, null, r.err?.message);
        assert.equal(r.reply?.served_by, 'good');
      }
      const retried = s.gw.records.filter((r) => r.attempts.length === 2);
      assert.ok(retried.length >= 1);
      assert.equal(retried[0]!.attempts[0]!.retry, 'grpc-status UNAVAILABLE');
      assert.equal(retried[0]!.attempts[0]!.grpc?.status, Status.UNAVAILABLE);
    } finally {
      await s.close();
    }
  });

  test('backend UNAVAILABLE without a retry listed: the client gets the backend\'s status and message', async () => {
    const bad = await rawH2Backend((stream) =>
      afterBody(stream, () => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'draining%20now' }, { endStream: true })),
    );
    backends.push(bad);
    const { r, md, rec } = await callThrough(bad.url, 'retries: { attempts: 2, on: [connect-failure] }');
    assert.equal(r.err?.code, Status.UNAVAILABLE);
    assert.equal(r.err?.details, 'draining now');
    assert.equal(md?.get('x-causeway-error').length, 0);
    assert.equal(rec?.attempts.length, 1);
  });

  test('GOAWAY: the session drains (the call in flight finishes) and new calls go to a fresh session', async () => {
    // Session 1 takes one stream, sends GOAWAY, and answers it late; streams after it are refused.
    const b = await rawH2Backend((stream, _h, info) =>
      afterBody(stream, () => {
        if (info.session === 1 && info.stream === 1) {
          stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR);
          setTimeout(() => grpcOk(stream, 'first'), 150);
        } else grpcOk(stream, `s${info.session}`);
      }),
    );
    backends.push(b);
    const s = await setup([b.url]);
    try {
      const first = unary(s.client, { text: 'a' });
      await until(() => b.streams >= 1, 2000, 'the first stream');
      const second = await unary(s.client, { text: 'b' });
      const r1 = await first;
      assert.equal(r1.err, null, r1.err?.message);
      assert.equal(r1.reply?.text, 'first');
      assert.equal(second.err, null, second.err?.message);
      assert.equal(second.reply?.text, 's2', 'served by a second session');
      assert.equal(b.sessions, 2);
    } finally {
      await s.close();
    }
  });

  test('GOAWAY racing a stream: REFUSED_STREAM is retried (the backend did no work), for a POST', async () => {
    let refused = 0;
    const b = await rawH2Backend((stream, _h, info) => {
      if (info.stream === 1) {
        refused++;
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      afterBody(stream, () => grpcOk(stream, 'second'));
    });
    backends.push(b);
    const s = await setup([b.url]);
    try {
      const r = await unary(s.client, { text: 'a' });
      assert.equal(r.err, null, r.err?.message);
      assert.equal(r.reply?.text, 'second');
      assert.equal(refused, 1);
      const rec = await s.gw.record(requestIdOf(r.headers));
      assert.equal(rec.attempts[0]!.error, 'H2_RST_REFUSED_STREAM');
      assert.equal(rec.attempts[0]!.retry, 'refused-stream');
    } finally {
      await s.close();
    }
  });

  test('a graceful backend shutdown (grpc-js tryShutdown: GOAWAY) loses no call: in flight finishes, the next goes elsewhere', async () => {
    const a = await grpcBackend('a');
    const other = await grpcBackend('b');
    backends.push(a, other);
    const s = await setup([a.url, other.url], 'balance: round-robin\nretries: { attempts: 3, on: [connect-failure, unavailable] }');
    try {
      // Warm a session to each, then start a slow call on a and shut a down under it.
      await unary(s.client, { text: 'w1' });
      await unary(s.client, { text: 'w2' });
      const slow = unary(s.client, { text: 'slow', delay_ms: 300 });
      await until(() => (a.calls.Unary ?? 0) + (other.calls.Unary ?? 0) >= 3, 2000, 'the slow call');
      const target = (a.calls.Unary ?? 0) === 2 ? a : other;
      await new Promise<void>((resolve) => target.server.tryShutdown(() => resolve()));
      const r = await slow;
      assert.equal(r.err, null, r.err?.message);
      for (let i = 0; i < 4; i++) {
        const q = await unary(s.client, { text: `after${i}` });
        assert.equal(q.err, null, q.err?.message);
        assert.notEqual(q.reply?.served_by, target === a ? 'a' : 'b');
      }
    } finally {
      await s.close();
    }
  });
});

describe('gRPC: h2:// targets (TLS with ALPN h2) and failures the gateway decides before any backend', () => {
  const backends: Array<{ close(): Promise<void> }> = [];
  after(async () => {
    for (const b of backends) await b.close();
  });

  test('h2://: a TLS backend agreed on h2 by ALPN; the connect time includes the TLS handshake', async () => {
    const b = await grpcBackend('tls', { tls: true });
    backends.push(b);
    const s = await setup([b.url], `tls: { ca: "${CERT_FILE}", servername: localhost }`);
    try {
      const r = await unary(s.client, { text: 'secure' });
      assert.equal(r.err, null, r.err?.message);
      assert.equal(r.reply?.served_by, 'tls');
      const rec = await s.gw.record(requestIdOf(r.headers));
      assert.ok(rec.attempts[0]!.timings.tls > 0, 'TLS handshake timed');
    } finally {
      await s.close();
    }
  });

  test('h2:// to a TLS backend that only speaks HTTP/1.1: INTERNAL, UPSTREAM_PROTOCOL_MISMATCH', async () => {
    const b = await tlsServer();
    backends.push(b);
    const s = await setup([`h2://127.0.0.1:${b.port}`], `tls: { ca: "${CERT_FILE}", servername: localhost }`);
    try {
      const r = await unary(s.client, { text: 'x' });
      assert.equal(r.err?.code, Status.INTERNAL);
      assert.equal(r.status?.metadata.get('x-causeway-error')[0], 'UPSTREAM_PROTOCOL_MISMATCH');
      assert.equal(s.gw.records.at(-1)!.attempts[0]!.phase, 'tls');
    } finally {
      await s.close();
    }
  });

  test('no route for the method: UNIMPLEMENTED, ROUTE_NOT_FOUND, trailers-only', async () => {
    const s = await setup(['h2c://127.0.0.1:9']);
    try {
      const other = new HealthClient(s.address, grpc.credentials.createInsecure());
      const { err, status } = await new Promise<{ err: grpc.ServiceError | null; status: grpc.StatusObject }>((resolve) => {
        let e: grpc.ServiceError | null = null;
        const call = (other as unknown as Client).Check({ service: '' }, (x: grpc.ServiceError | null) => (e = x)) as grpc.ClientUnaryCall;
        call.on('status', (st: grpc.StatusObject) => setImmediate(() => resolve({ err: e, status: st })));
      });
      other.close();
      assert.equal(err?.code, Status.UNIMPLEMENTED);
      assert.match(err!.details, /^No route: no route matches POST \/grpc.health.v1.Health\/Check/);
      assert.equal(status.metadata.get('x-causeway-error')[0], 'ROUTE_NOT_FOUND');
      const rec = s.gw.records.at(-1)!;
      assert.equal(rec.status, 200);
      assert.deepEqual(rec.grpc, { service: 'grpc.health.v1.Health', method: 'Check', status: Status.UNIMPLEMENTED, sent: 0, received: 0 });
    } finally {
      await s.close();
    }
  });

  test('active health checks over HTTP/2 with grpc.health.v1: NOT_SERVING takes the target out (UNAVAILABLE, NO_HEALTHY_TARGET), SERVING brings it back', async () => {
    const b = await grpcBackend('hc');
    backends.push(b);
    const s = await setup([b.url], 'healthCheck: { active: { path: /grpc.health.v1.Health/Check, interval: 100ms, timeout: 1s, healthyAfter: 1, unhealthyAfter: 1 } }');
    try {
      const target = s.gw.gateway.upstreams.get('echo')!.targets[0]!;
      await until(() => (b.calls.Check ?? 0) >= 1, 3000, 'a health check');
      assert.equal(target.healthy, true);
      b.health = 'NOT_SERVING';
      await until(() => !target.healthy, 3000, 'the target out of rotation');
      const r = await unary(s.client, { text: 'x' });
      assert.equal(r.err?.code, Status.UNAVAILABLE);
      assert.equal(r.status?.metadata.get('x-causeway-error')[0], 'NO_HEALTHY_TARGET');
      b.health = 'SERVING';
      await until(() => target.healthy, 3000, 'the target back');
      assert.equal((await unary(s.client, { text: 'y' })).err, null);
    } finally {
      await s.close();
    }
  });

  test('an open circuit breaker: UNAVAILABLE, CIRCUIT_OPEN, without calling the backend', async () => {
    const b = await rawH2Backend((stream) =>
      afterBody(stream, () => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '13', 'grpc-message': 'boom' }, { endStream: true })),
    );
    backends.push(b);
    const s = await setup([b.url], 'circuitBreaker: { failureRate: 50%, minRequests: 3, window: 10s, openFor: 30s }');
    try {
      for (let i = 0; i < 3; i++) assert.equal((await unary(s.client, { text: 'x' })).err?.code, Status.INTERNAL);
      const before = b.streams;
      const r = await unary(s.client, { text: 'x' });
      assert.equal(r.err?.code, Status.UNAVAILABLE);
      assert.equal(r.status?.metadata.get('x-causeway-error')[0], 'CIRCUIT_OPEN');
      assert.equal(b.streams, before, 'the backend was not called');
    } finally {
      await s.close();
    }
  });
});

describe('gRPC calls in the call log, explain and metrics', () => {
  test('explain tells the backend\'s own UNAVAILABLE from a gateway failure, with the method and message counts; metrics count by grpc-status', async () => {
    const b = await grpcBackend('x');
    const s = await setup([b.url, 'h2c://127.0.0.1:9'], 'balance: round-robin\nretries: { attempts: 1 }');
    try {
      const results: UnaryResult[] = [];
      for (let i = 0; i < 4; i++) results.push(await unary(s.client, { text: 'x', mode: 'status:14' }));
      const byBackend = results.find((r) => r.status?.metadata.get('x-causeway-error').length === 0)!;
      const byGateway = results.find((r) => r.status?.metadata.get('x-causeway-error')[0] === 'UPSTREAM_CONNECTION_REFUSED')!;
      assert.ok(byBackend && byGateway, 'one call of each kind');
      const store = s.gw.gateway.store!;
      await until(() => s.gw.records.length >= 4, 2000, 'the records');
      store.flush();
      const backendId = requestIdOf(byBackend.headers) || requestIdOf(byBackend.status!.metadata);
      const e1 = (await explainCall(store, backendId))!;
      assert.equal(e1.verdict, 'backend-error');
      assert.deepEqual(e1.grpc, { service: 'causeway.test.Echo', method: 'Unary', status: 'UNAVAILABLE', message: 'backend says status:14', sent: 1, received: 0 });
      assert.match(e1.headline, /^gRPC causeway.test.Echo\/Unary → UNAVAILABLE "backend says status:14": the backend's own status, passed through unchanged \(counted as a backend failure/);
      assert.match(formatExplanation(e1), /answered 200, grpc-status UNAVAILABLE "backend says status:14"; 1 message\(s\) sent, 0 received/);
      const e2 = (await explainCall(store, requestIdOf(byGateway.status!.metadata)))!;
      assert.equal(e2.verdict, 'failure');
      assert.equal(e2.grpc?.status, 'UNAVAILABLE');
      assert.match(e2.headline, /→ UNAVAILABLE \(HTTP 200\) UPSTREAM_CONNECTION_REFUSED/);
      const text = await s.gw.gateway.metrics.render();
      assert.match(text, /causeway_grpc_calls_total\{route="echo",upstream="echo",grpc_status="UNAVAILABLE"\} 4/);
    } finally {
      await s.close();
      await b.close();
    }
  });
});

describe('HTTP/2 pool: streams multiplexed within the backend\'s limits', () => {
  let b: RawH2Backend;
  after(async () => b?.close());

  test('SETTINGS_MAX_CONCURRENT_STREAMS is honoured; past maxConnections sessions calls queue, then UPSTREAM_POOL_EXHAUSTED', async () => {
    b = await rawH2Backend((stream) => afterBody(stream, () => setTimeout(() => grpcOk(stream), 400)), { maxConcurrentStreams: 2 });
    const s = await setup([b.url], 'pool: { maxConnections: 2, queueTimeout: 100ms }');
    try {
      const calls = Array.from({ length: 5 }, (_, i) => unary(s.client, { text: `c${i}` }));
      const results = await Promise.all(calls);
      const okCount = results.filter((r) => r.err === null).length;
      const exhausted = results.filter((r) => r.status?.metadata.get('x-causeway-error')[0] === 'UPSTREAM_POOL_EXHAUSTED');
      assert.equal(okCount, 4, 'two sessions of two streams');
      assert.equal(exhausted.length, 1);
      assert.equal(exhausted[0]!.err?.code, Status.UNAVAILABLE);
      assert.equal(b.sessions, 2);
      assert.ok(b.maxOpenStreams <= 2, `at most 2 streams per session, saw ${b.maxOpenStreams}`);
    } finally {
      await s.close();
    }
  });

  test('a call that waits for a stream gets one when a stream ends', async () => {
    const s = await setup([b.url], 'pool: { maxConnections: 1, queueTimeout: 2s }');
    try {
      const results = await Promise.all(Array.from({ length: 4 }, (_, i) => unary(s.client, { text: `q${i}` })));
      assert.deepEqual(
        results.map((r) => r.err?.code ?? 0),
        [0, 0, 0, 0],
      );
      const stats = s.gw.gateway.upstreams.get('echo')!.targets[0]!.pool.stats();
      assert.equal(stats.inUse, 0);
      assert.equal(stats.connected, 1);
    } finally {
      await s.close();
    }
  });
});

export type { Client };
