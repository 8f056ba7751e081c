/**
 * Every upstream failure code, end to end: a real gateway in front of a real misbehaving backend
 * on loopback sockets. Each test checks what the client receives (status, X-Causeway-Error,
 * RFC 9209 Proxy-Status, the JSON error body, no target address unless exposed), that it
 * arrives within the configured timeout, and the call record the gateway leaves behind.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { failure, type FailureCode, type FailureContext } from '../../src/failures/registry.js';
import type { LookupFn } from '../../src/upstream/connector.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import {
  CERT_FILE,
  blackhole,
  closeBeforeResponse,
  malformed,
  ok,
  plainForHttps,
  refusing,
  resetMidExchange,
  slowReader,
  stallBody,
  stallHeaders,
  tlsServer,
  until,
  type MalformedKind,
  type TestBackend,
} from '../helpers/backends.js';

// ── client ────────────────────────────────────────────────────────────────────

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The response body as received (possibly cut short). */
  raw: string;
  /** ms from sending the request to the end (or abort) of the response. */
  elapsed: number;
  /** ms from sending the request to the response headers. */
  headersAt: number;
  /** The response body ended before it was complete. */
  aborted: boolean;
}

interface Send {
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  /** Upload this many bytes (Content-Length), streamed in 64 KiB chunks with backpressure. */
  upload?: number;
  /** Safety net: the request is destroyed and the promise rejects after this long. */
  timeoutMs?: number;
  /** Receives the request, to abort it from outside. */
  onRequest?: (req: http.ClientRequest) => void;
}

let seq = 0;
/** A request id the gateway keeps (a sane token) and that cannot contain a port number after a colon. */
function rid(label: string): string {
  seq++;
  return `t-${label}-${process.pid}-${seq}-${Date.now().toString(36)}`;
}

/** One request on a fresh connection (no agent), with the response read to its end or abort. */
function send(base: string, opts: Send = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.upload !== undefined) headers['content-length'] = String(opts.upload);
    const req = http.request(`${base}${opts.path ?? '/api/thing'}`, { method: opts.method ?? 'GET', headers, agent: false });
    opts.onRequest?.(req);
    let responded = false;
    const guard = setTimeout(() => {
      req.destroy();
      reject(new Error(`no complete response within ${opts.timeoutMs ?? 10_000} ms`));
    }, opts.timeoutMs ?? 10_000);
    req.on('error', (err) => {
      clearTimeout(guard);
      if (!responded) reject(err);
    });
    req.on('response', (res) => {
      responded = true;
      const headersAt = performance.now() - t0;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => undefined);
      res.on('close', () => {
        clearTimeout(guard);
        // An early answer to an upload: stop sending the rest.
        if (!req.writableFinished) req.destroy();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          raw: Buffer.concat(chunks).toString('utf8'),
          elapsed: performance.now() - t0,
          headersAt,
          aborted: !res.complete,
        });
      });
    });
    if (opts.upload === undefined) {
      req.end();
      return;
    }
    void (async () => {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let left = opts.upload!;
      while (left > 0 && !responded && !req.destroyed) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          await new Promise<void>((r) => {
            const done = () => {
              req.removeListener('drain', done);
              req.removeListener('response', done);
              req.removeListener('close', done);
              r();
            };
            req.once('drain', done);
            req.once('response', done);
            req.once('close', done);
          });
        }
      }
      if (left === 0 && !req.destroyed) req.end();
    })();
  });
}

// ── gateway set-up ────────────────────────────────────────────────────────────

interface Yaml {
  upstream: string;
  target: string;
  timeouts?: string;
  retries?: string;
  pool?: string;
  tls?: string;
  expose?: boolean;
  maxBodySize?: string;
}

function yaml(o: Yaml): string {
  const lines = [`errors: { expose: ${o.expose ?? false} }`, 'log: { level: silent, access: false }', 'upstreams:', `  ${o.upstream}:`, `    targets: [{ url: "${o.target}" }]`];
  if (o.timeouts) lines.push(`    timeouts: ${o.timeouts}`);
  if (o.retries) lines.push(`    retries: ${o.retries}`);
  if (o.pool) lines.push(`    pool: ${o.pool}`);
  if (o.tls) lines.push(`    tls: ${o.tls}`);
  lines.push('routes:', '  - name: api', '    match: { path: /api/* }', `    upstream: ${o.upstream}`);
  if (o.maxBodySize) lines.push(`    maxBodySize: ${o.maxBodySize}`);
  return lines.join('\n') + '\n';
}

/** Starts a backend and a gateway in front of it; both are closed after the test, pass or fail. */
async function setup(
  t: TestContext,
  start: () => Promise<TestBackend>,
  o: Omit<Yaml, 'target'> & { target?: (be: TestBackend) => string },
  lookup?: LookupFn,
): Promise<{ be: TestBackend; gw: TestGateway }> {
  const be = await start();
  const held: { gw?: TestGateway } = {};
  t.after(async () => {
    // The backend first: its sockets close, so calls still in flight end at once.
    await be.close();
    await held.gw?.close();
  });
  const { target, ...rest } = o;
  const gw = await startGateway(yaml({ ...rest, target: target ? target(be) : be.url }), lookup ? { lookup } : {});
  held.gw = gw;
  return { be, gw };
}

// ── the assertion every gateway-generated failure must pass ──────────────────

interface Expected {
  code: FailureCode;
  status: number;
  /** RFC 9209 error type in Proxy-Status. */
  type: string;
  phase: string | null;
  upstream: string | null;
  attempts: number;
  requestId: string;
  /** The limit quoted in the message (ms), when the code has one. */
  limit?: number;
  /** Context for messages that are not about an upstream (ROUTE_NOT_FOUND). */
  context?: FailureContext;
  /** The target's port: must not leak into a body or header unless exposed. */
  port?: number;
  expose?: boolean;
}

const PROXY_STATUS = /^causeway; error=([a-z_]+); details="((?:[^"\\]|\\.)*)"$/;

interface ErrorJson {
  error: { code: string; message: string; requestId: string; phase: string | null; upstream: string | null; attempts: number; target?: string; hint?: string };
}

async function assertFailure(gw: TestGateway, r: Reply, e: Expected): Promise<ErrorJson> {
  const where = `${e.code}: ${r.status} ${r.raw}`;
  assert.equal(r.status, e.status, where);
  assert.equal(r.headers['x-causeway-error'], e.code, where);
  assert.equal(r.headers['x-request-id'], e.requestId);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  assert.equal(r.aborted, false, 'a gateway-generated response is complete');

  const body = JSON.parse(r.raw) as ErrorJson;
  const expectedKeys = ['attempts', 'code', 'message', 'phase', 'requestId', 'upstream', ...(e.expose ? ['hint', 'target'] : [])].sort();
  assert.deepEqual(Object.keys(body).sort(), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), expectedKeys, where);
  assert.equal(body.error.code, e.code);
  assert.equal(body.error.requestId, e.requestId);
  assert.equal(body.error.phase, e.phase, `phase of ${where}`);
  assert.equal(body.error.upstream, e.upstream);
  assert.equal(body.error.attempts, e.attempts, `attempts of ${where}`);
  const ctx: FailureContext = e.context ?? { upstream: e.upstream ?? undefined, attempts: e.attempts, limit: e.limit };
  assert.equal(body.error.message, failure(e.code).message(ctx));
  if (e.limit !== undefined) assert.ok(body.error.message.includes(`${e.limit} ms`), body.error.message);

  const ps = PROXY_STATUS.exec(String(r.headers['proxy-status']));
  assert.ok(ps, `Proxy-Status: ${r.headers['proxy-status']}`);
  assert.equal(ps[1], e.type, 'RFC 9209 error type');
  // details carry the message in ASCII (a dash for the em dash, no gap left), quotes and backslashes escaped.
  assert.equal(ps[2]!.replace(/\\(.)/g, '$1'), body.error.message.replace(/—/g, '-'));
  assert.doesNotMatch(ps[2]!, / {2}/);

  if (e.port !== undefined && !e.expose) {
    const everything = r.raw + JSON.stringify(r.headers);
    assert.ok(!everything.includes('127.0.0.1'), `target address leaked: ${everything}`);
    assert.ok(!everything.includes(`:${e.port}`), `target port leaked: ${everything}`);
  }

  const rec = await gw.record(e.requestId);
  assert.equal(rec.code, e.code, 'call record code');
  assert.equal(rec.status, e.status, 'call record status');
  assert.equal(rec.attempts.length, e.attempts, 'call record attempts');
  return body;
}

/** `ms` lies in [lo, hi]: generous, the machine is shared and noisy. */
function within(ms: number, lo: number, hi: number, what: string): void {
  assert.ok(ms >= lo && ms <= hi, `${what}: ${Math.round(ms)} ms, expected between ${lo} and ${hi} ms`);
}

// ── tests ─────────────────────────────────────────────────────────────────────

describe('upstream failures end to end, on real loopback sockets', () => {
  test('a healthy backend passes through untouched (no X-Causeway-Error)', async (t) => {
    const { gw } = await setup(t, ok, { upstream: 'healthy' });
    const r = await send(gw.url, { path: '/api/hello' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-causeway-error'], undefined);
    assert.equal(r.headers['proxy-status'], undefined);
    assert.deepEqual(JSON.parse(r.raw), { ok: true, path: '/api/hello' });
  });

  test('ROUTE_NOT_FOUND: 404 destination_not_found when no route matches', async (t) => {
    const { gw } = await setup(t, ok, { upstream: 'healthy' });
    const id = rid('route');
    const r = await send(gw.url, { path: '/nowhere', headers: { 'x-request-id': id } });
    await assertFailure(gw, r, {
      code: 'ROUTE_NOT_FOUND',
      status: 404,
      type: 'destination_not_found',
      phase: 'route',
      upstream: null,
      attempts: 0,
      requestId: id,
      context: { method: 'GET', path: '/nowhere', host: `127.0.0.1:${gw.port}` },
    });
  });

  test('UPSTREAM_CONNECTION_REFUSED: 502 connection_refused, retried once by default (attempts 2)', async (t) => {
    const { be, gw } = await setup(t, refusing, { upstream: 'refusing' });
    const id = rid('refused');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_CONNECTION_REFUSED', status: 502, type: 'connection_refused', phase: 'connect', upstream: 'refusing', attempts: 2, requestId: id, port: be.port });
    within(r.elapsed, 0, 2000, 'refused');
    const rec = await gw.record(id);
    for (const a of rec.attempts) {
      assert.equal(a.outcome, 'UPSTREAM_CONNECTION_REFUSED');
      assert.equal(a.error, 'ECONNREFUSED');
      assert.equal(a.target, `127.0.0.1:${be.port}`, 'the call record keeps the target for operators');
    }
    assert.equal(rec.attempts[0]!.retry, 'connect-failure');
  });

  test('UPSTREAM_CONNECTION_REFUSED with retries.attempts 1: attempts 1', async (t) => {
    const { be, gw } = await setup(t, refusing, { upstream: 'refusing', retries: '{ attempts: 1 }' });
    const id = rid('refused1');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_CONNECTION_REFUSED', status: 502, type: 'connection_refused', phase: 'connect', upstream: 'refusing', attempts: 1, requestId: id, port: be.port });
  });

  test('errors.expose: true adds target and hint to the body', async (t) => {
    const { be, gw } = await setup(t, refusing, { upstream: 'refusing', retries: '{ attempts: 1 }', expose: true });
    const id = rid('expose');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    const body = await assertFailure(gw, r, {
      code: 'UPSTREAM_CONNECTION_REFUSED',
      status: 502,
      type: 'connection_refused',
      phase: 'connect',
      upstream: 'refusing',
      attempts: 1,
      requestId: id,
      port: be.port,
      expose: true,
    });
    assert.equal(body.error.target, `127.0.0.1:${be.port}`);
    assert.equal(body.error.hint, failure('UPSTREAM_CONNECTION_REFUSED').remedy);
  });

  test('UPSTREAM_CONNECT_TIMEOUT: 504 connection_timeout, blackhole, connect 300ms', async (t) => {
    const { be, gw } = await setup(t, blackhole, { upstream: 'blackhole', timeouts: '{ connect: 300ms }', retries: '{ attempts: 1 }' });
    const id = rid('connect');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_CONNECT_TIMEOUT', status: 504, type: 'connection_timeout', phase: 'connect', upstream: 'blackhole', attempts: 1, requestId: id, limit: 300, port: be.port });
    within(r.elapsed, 250, 2000, 'connect timeout of 300 ms');
  });

  test('UPSTREAM_CONNECT_TIMEOUT is a connect failure: retried by default (attempts 2)', async (t) => {
    const { be, gw } = await setup(t, blackhole, { upstream: 'blackhole', timeouts: '{ connect: 300ms }' });
    const id = rid('connect2');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_CONNECT_TIMEOUT', status: 504, type: 'connection_timeout', phase: 'connect', upstream: 'blackhole', attempts: 2, requestId: id, limit: 300, port: be.port });
    within(r.elapsed, 2 * 250, 2500, 'two connect timeouts of 300 ms');
  });

  test('UPSTREAM_DNS_FAILURE: 502 dns_error from an injected resolver (attempts 2)', async (t) => {
    const asked: string[] = [];
    const lookup: LookupFn = (hostname, cb) => {
      asked.push(hostname);
      setImmediate(() => cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })));
    };
    const { gw } = await setup(t, ok, { upstream: 'named', target: () => 'http://backend.invalid:80' }, lookup);
    const id = rid('dns');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    const body = await assertFailure(gw, r, { code: 'UPSTREAM_DNS_FAILURE', status: 502, type: 'dns_error', phase: 'dns', upstream: 'named', attempts: 2, requestId: id });
    assert.deepEqual(asked, ['backend.invalid', 'backend.invalid']);
    assert.ok(!r.raw.includes('backend.invalid'), 'the target host stays private unless exposed');
    within(r.elapsed, 0, 2000, 'dns failure');
    assert.equal((await gw.record(id)).attempts[0]!.error, 'ENOTFOUND');
    assert.equal(body.error.attempts, 2);
  });

  test('UPSTREAM_CONNECTION_CLOSED: 502 connection_terminated when the backend sends FIN before a response', async (t) => {
    const { be, gw } = await setup(t, closeBeforeResponse, { upstream: 'closing', retries: '{ attempts: 1 }' });
    const id = rid('closed');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_CONNECTION_CLOSED', status: 502, type: 'connection_terminated', phase: 'ttfb', upstream: 'closing', attempts: 1, requestId: id, port: be.port });
    assert.equal(be.requests, 1);
    within(r.elapsed, 0, 2000, 'closed');
  });

  test('UPSTREAM_CONNECTION_CLOSED after retries on reset: attempts 3 reach the backend', async (t) => {
    const { be, gw } = await setup(t, closeBeforeResponse, { upstream: 'closing', retries: '{ attempts: 3, on: [reset] }' });
    const id = rid('closed3');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_CONNECTION_CLOSED', status: 502, type: 'connection_terminated', phase: 'ttfb', upstream: 'closing', attempts: 3, requestId: id, port: be.port });
    assert.equal(be.requests, 3, 'every attempt reached the backend');
  });

  test('UPSTREAM_CONNECTION_RESET: 502 connection_terminated when the backend sends RST', async (t) => {
    const { be, gw } = await setup(t, resetMidExchange, { upstream: 'resetting', retries: '{ attempts: 1 }' });
    const id = rid('reset');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_CONNECTION_RESET', status: 502, type: 'connection_terminated', phase: 'ttfb', upstream: 'resetting', attempts: 1, requestId: id, port: be.port });
    assert.equal((await gw.record(id)).attempts[0]!.error, 'ECONNRESET');
    within(r.elapsed, 0, 2000, 'reset');
  });

  test('UPSTREAM_TLS_ERROR: 502 tls_certificate_error for a self-signed backend without tls.ca', async (t) => {
    const { be, gw } = await setup(t, tlsServer, { upstream: 'secure' });
    const id = rid('tls');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_TLS_ERROR', status: 502, type: 'tls_certificate_error', phase: 'tls', upstream: 'secure', attempts: 1, requestId: id, port: be.port });
    assert.match(String((await gw.record(id)).attempts[0]!.error), /SELF_SIGNED/);
    assert.equal(be.requests, 0);
  });

  test('the same TLS backend succeeds with tls.ca naming the PEM file', async (t) => {
    const { be, gw } = await setup(t, tlsServer, { upstream: 'secure', tls: `{ ca: "${CERT_FILE}" }` });
    const r = await send(gw.url, { path: '/api/secure' });
    assert.equal(r.status, 200, r.raw);
    assert.equal(r.headers['x-causeway-error'], undefined);
    assert.deepEqual(JSON.parse(r.raw), { ok: true, path: '/api/secure' });
    assert.equal(be.requests, 1);
  });

  test('UPSTREAM_PROTOCOL_MISMATCH: 502 tls_protocol_error, https target on a plain HTTP port', async (t) => {
    const { be, gw } = await setup(t, plainForHttps, { upstream: 'mixed', target: (b) => b.url.replace('http:', 'https:') });
    const id = rid('mismatch-https');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_PROTOCOL_MISMATCH', status: 502, type: 'tls_protocol_error', phase: 'tls', upstream: 'mixed', attempts: 1, requestId: id, port: be.port });
    within(r.elapsed, 0, 2000, 'mismatch');
  });

  test('UPSTREAM_PROTOCOL_MISMATCH: 502 tls_protocol_error, http target on a TLS port', async (t) => {
    const { be, gw } = await setup(t, tlsServer, { upstream: 'mixed', target: (b) => b.url.replace('https:', 'http:') });
    const id = rid('mismatch-http');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_PROTOCOL_MISMATCH', status: 502, type: 'tls_protocol_error', phase: 'ttfb', upstream: 'mixed', attempts: 1, requestId: id, port: be.port });
    within(r.elapsed, 0, 2000, 'mismatch');
  });

  test('UPSTREAM_SEND_TIMEOUT: 504 connection_write_timeout when the backend stops reading a 32 MB upload (send 300ms)', async (t) => {
    const { be, gw } = await setup(t, slowReader, { upstream: 'slowreader', timeouts: '{ send: 300ms, read: 10s }', maxBodySize: '64mb' });
    const id = rid('send');
    const size = 32 * 1024 * 1024;
    const r = await send(gw.url, { method: 'POST', upload: size, headers: { 'x-request-id': id, 'content-type': 'application/octet-stream' } });
    await assertFailure(gw, r, { code: 'UPSTREAM_SEND_TIMEOUT', status: 504, type: 'connection_write_timeout', phase: 'send', upstream: 'slowreader', attempts: 1, requestId: id, limit: 300, port: be.port });
    assert.ok(be.bytesRead < size / 2, `the backend stalled (read ${be.bytesRead} bytes)`);
    // Filling the socket buffers takes a moment, then one or two 300 ms checks see no progress.
    within(r.headersAt, 250, 4000, 'send timeout of 300 ms');
  });

  test('UPSTREAM_RESPONSE_TIMEOUT: 504 http_response_timeout when no headers arrive (read 300ms)', async (t) => {
    const { be, gw } = await setup(t, stallHeaders, { upstream: 'stalling', timeouts: '{ read: 300ms }' });
    const id = rid('response');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_RESPONSE_TIMEOUT', status: 504, type: 'http_response_timeout', phase: 'ttfb', upstream: 'stalling', attempts: 1, requestId: id, limit: 300, port: be.port });
    within(r.elapsed, 250, 2000, 'read timeout of 300 ms');
    await until(() => be.open === 0, 2000, 'the gateway to close the stalled backend connection');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(be.connections, 1, 'no new connection is opened for a call that is over');
  });

  test('UPSTREAM_BODY_TIMEOUT: the 200 already sent, the body is cut short after 300ms of silence', async (t) => {
    const { be, gw } = await setup(t, () => stallBody({ total: 1000, sent: 100 }), { upstream: 'trickle', timeouts: '{ read: 300ms }' });
    const id = rid('body');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    assert.equal(r.status, 200, 'the backend status already reached the client');
    assert.equal(r.headers['x-causeway-error'], undefined, 'backend headers pass through untouched');
    assert.equal(r.headers['content-length'], '1000');
    assert.equal(r.aborted, true, 'the client must see the body aborted');
    assert.equal(r.raw, 'x'.repeat(100), 'the bytes sent before the stall arrived, no more');
    within(r.elapsed - r.headersAt, 250, 2000, 'body silence of 300 ms');
    const rec = await gw.record(id);
    assert.equal(rec.code, 'UPSTREAM_BODY_TIMEOUT');
    assert.equal(rec.attempts.length, 1);
    assert.equal(rec.attempts[0]!.outcome, 'UPSTREAM_BODY_TIMEOUT');
    assert.equal(rec.attempts[0]!.phase, 'body');
    assert.equal(rec.bytesOut, 100);
    await until(() => be.open === 0, 2000, 'the gateway to close the stalled backend connection');
  });

  const malformedWhat: Record<MalformedKind, string> = { status: 'status line', header: 'header name (NUL byte)', length: 'framing (two different Content-Length)' };
  for (const kind of ['status', 'header', 'length'] as const) {
    test(`UPSTREAM_INVALID_RESPONSE: 502 http_protocol_error for a malformed ${malformedWhat[kind]}`, async (t) => {
      const { be, gw } = await setup(t, () => malformed(kind), { upstream: 'garbage' });
      const id = rid(`invalid-${kind}`);
      const r = await send(gw.url, { headers: { 'x-request-id': id } });
      await assertFailure(gw, r, { code: 'UPSTREAM_INVALID_RESPONSE', status: 502, type: 'http_protocol_error', phase: 'ttfb', upstream: 'garbage', attempts: 1, requestId: id, port: be.port });
      assert.match(String((await gw.record(id)).attempts[0]!.error), /^(HPE_|UND_ERR_RES_CONTENT_LENGTH_MISMATCH)/);
      within(r.elapsed, 0, 2000, 'invalid response');
    });
  }

  test('UPSTREAM_POOL_EXHAUSTED: 503 connection_limit_reached when the only connection is busy (queueTimeout 200ms)', async (t) => {
    const { be, gw } = await setup(t, stallHeaders, { upstream: 'tiny', timeouts: '{ read: 5s }', pool: '{ maxConnections: 1, queueTimeout: 200ms }' });
    const holderId = rid('holder');
    let holder: http.ClientRequest | undefined;
    const held = send(gw.url, { headers: { 'x-request-id': holderId }, onRequest: (req) => (holder = req) }).catch((err: Error) => err);
    t.after(() => holder?.destroy());
    await until(() => be.requests === 1, 3000, 'the first request to hold the only connection');

    const id = rid('pool');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'UPSTREAM_POOL_EXHAUSTED', status: 503, type: 'connection_limit_reached', phase: 'pool', upstream: 'tiny', attempts: 1, requestId: id, limit: 200, port: be.port });
    within(r.elapsed, 150, 2000, 'queue timeout of 200 ms');
    assert.equal(be.connections, 1, 'the pool never opened a second connection');

    holder!.destroy();
    assert.ok((await held) instanceof Error);
    const rec = await gw.record(holderId);
    assert.equal(rec.code, 'CLIENT_CLOSED_REQUEST');
  });

  test('GATEWAY_TIMEOUT: 504 when the total budget (300ms) runs out before read (5s)', async (t) => {
    const { be, gw } = await setup(t, stallHeaders, { upstream: 'stalling', timeouts: '{ total: 300ms, read: 5s }' });
    const id = rid('total');
    const r = await send(gw.url, { headers: { 'x-request-id': id } });
    await assertFailure(gw, r, { code: 'GATEWAY_TIMEOUT', status: 504, type: 'http_response_timeout', phase: 'ttfb', upstream: 'stalling', attempts: 1, requestId: id, limit: 300, port: be.port });
    within(r.elapsed, 250, 2000, 'total budget of 300 ms');
  });

  test('GATEWAY_TIMEOUT: X-Request-Timeout from the client shortens the budget (and travels upstream)', async (t) => {
    const { be, gw } = await setup(t, stallHeaders, { upstream: 'stalling', timeouts: '{ read: 5s, total: 10s }' });
    const id = rid('client-budget');
    const r = await send(gw.url, { headers: { 'x-request-id': id, 'x-request-timeout': '300' } });
    await assertFailure(gw, r, { code: 'GATEWAY_TIMEOUT', status: 504, type: 'http_response_timeout', phase: 'ttfb', upstream: 'stalling', attempts: 1, requestId: id, limit: 300, port: be.port });
    within(r.elapsed, 250, 2000, 'client budget of 300 ms');
    const m = /\r\nx-request-timeout: (\d+)/i.exec(be.heads[0] ?? '');
    assert.ok(m, `the remaining budget is sent upstream: ${be.heads[0]}`);
    assert.ok(Number(m[1]) > 0 && Number(m[1]) <= 300, `upstream X-Request-Timeout ${m[1]}`);
  });

  test('CLIENT_CLOSED_REQUEST: the client aborts while the backend stalls → record 499, backend connection released', async (t) => {
    const { be, gw } = await setup(t, stallHeaders, { upstream: 'stalling', timeouts: '{ read: 5s }' });
    const id = rid('client-closed');
    let req: http.ClientRequest | undefined;
    const pending = send(gw.url, { headers: { 'x-request-id': id }, onRequest: (r) => (req = r) }).catch((err: Error) => err);
    t.after(() => req?.destroy());
    await until(() => be.requests === 1, 3000, 'the request to reach the backend');
    const t0 = performance.now();
    req!.destroy();
    assert.ok((await pending) instanceof Error);
    const rec = await gw.record(id);
    assert.equal(rec.status, 499);
    assert.equal(rec.code, 'CLIENT_CLOSED_REQUEST');
    assert.equal(rec.attempts.length, 1);
    assert.equal(rec.attempts[0]!.outcome, 'CLIENT_CLOSED_REQUEST');
    // The gateway stops working for a caller that left: the backend connection goes too.
    await until(() => be.open === 0, 2000, 'the gateway to close the backend connection');
    within(performance.now() - t0, 0, 2000, 'release after the client left');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(be.connections, 1, 'no new connection is opened for a call that is over');
  });
});
