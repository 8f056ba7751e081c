import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { errorBody, proxyStatusValue, rawFailure, renderFailure, type FailureReport } from '../../src/failures/respond.js';
import { Exchange, type CallEnv } from '../../src/proxy/exchange.js';
import { REGISTRY, failure } from '../../src/failures/registry.js';

const RID = 'req-0123456789';

const timeout: FailureReport = {
  code: 'UPSTREAM_RESPONSE_TIMEOUT',
  requestId: RID,
  phase: 'ttfb',
  target: '127.10.0.7:9001',
  context: { upstream: 'orders', route: 'orders', method: 'GET', attempts: 2, limit: 10000 },
};

describe('proxyStatusValue', () => {
  test('the RFC 9209 shape: identifier, error type, quoted details', () => {
    assert.equal(proxyStatusValue('connection_timeout', 'Backend unavailable: timeout'), 'causeway; error=connection_timeout; details="Backend unavailable: timeout"');
  });

  test('quotes and backslashes in details are escaped', () => {
    assert.equal(proxyStatusValue('dns_error', 'say "hi"'), 'causeway; error=dns_error; details="say \\"hi\\""');
    assert.equal(proxyStatusValue('dns_error', 'C:\\path'), 'causeway; error=dns_error; details="C:\\\\path"');
    assert.equal(proxyStatusValue('dns_error', '\\"'), 'causeway; error=dns_error; details="\\\\\\""');
  });

  test('non-ASCII becomes its ASCII look-alike or is dropped, control characters too, and no gap is left behind', () => {
    assert.equal(proxyStatusValue('connection_terminated', 'closed — by orders: café ☕'), 'causeway; error=connection_terminated; details="closed - by orders: caf"');
    assert.equal(proxyStatusValue('x', 'a\r\nInjected: yes\tb\u0000'), 'causeway; error=x; details="a Injected: yes b"');
    assert.equal(proxyStatusValue('x', '3 × 250 ms … ≥ 1 s → “done”'), 'causeway; error=x; details="3 x 250 ms ... >= 1 s -> \\"done\\""');
  });

  test('every registry message, as a header, has single spaces and printable ASCII only', () => {
    for (const code of REGISTRY.keys()) {
      const r = renderFailure({ ...timeout, code, context: { ...timeout.context, limit: 10000 } }, true);
      const v = r.headers['proxy-status'];
      if (v === undefined) continue;
      assert.match(v, /^[\x20-\x7e]*$/, code);
      assert.doesNotMatch(v, / {2}/, `${code}: ${v}`);
    }
  });

  test('the details string parses back as an RFC 8941 sf-string', () => {
    const nasty = 'a "quoted" \\ back\\slash — and ünïcödé';
    const v = proxyStatusValue('http_protocol_error', nasty);
    const m = /details="((?:[^"\\]|\\["\\])*)"$/.exec(v);
    assert.ok(m, v);
    assert.match(m[1]!, /^[\x20-\x7e]*$/);
    assert.equal(m[1]!.replace(/\\(["\\])/g, '$1'), 'a "quoted" \\ back\\slash - and ncd');
  });
});

describe('errorBody', () => {
  test('the client fields, without target and hint by default', () => {
    assert.deepEqual(errorBody(timeout, false), {
      error: {
        code: 'UPSTREAM_RESPONSE_TIMEOUT',
        message: 'Backend timeout: no response headers from orders within 10000 ms (2 attempts)',
        requestId: RID,
        phase: 'ttfb',
        upstream: 'orders',
        attempts: 2,
      },
    });
  });

  test('with expose, the target and the remedy as hint', () => {
    const b = errorBody(timeout, true).error;
    assert.equal(b.target, '127.10.0.7:9001');
    assert.equal(b.hint, failure('UPSTREAM_RESPONSE_TIMEOUT').remedy);
  });

  test('with expose but no target, only the hint', () => {
    const b = errorBody({ ...timeout, target: undefined }, true).error;
    assert.ok(!('target' in b));
    assert.equal(b.hint, failure('UPSTREAM_RESPONSE_TIMEOUT').remedy);
  });

  test('missing phase, upstream and attempts become null, null and 0', () => {
    const b = errorBody({ code: 'BAD_REQUEST', requestId: RID, context: {} }, false).error;
    assert.equal(b.phase, null);
    assert.equal(b.upstream, null);
    assert.equal(b.attempts, 0);
    assert.equal(b.message, 'Bad request: the request is malformed');
  });
});

describe('renderFailure', () => {
  test('status, X-Causeway-Error, X-Request-Id, Proxy-Status and a JSON body', () => {
    const r = renderFailure(timeout, false);
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-causeway-error'], 'UPSTREAM_RESPONSE_TIMEOUT');
    assert.equal(r.headers['x-request-id'], RID);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['proxy-status'], 'causeway; error=http_response_timeout; details="Backend timeout: no response headers from orders within 10000 ms (2 attempts)"');
    assert.deepEqual(JSON.parse(r.body), errorBody(timeout, false));
  });

  test('target and hint appear in the body only when expose is true', () => {
    const hidden = renderFailure(timeout, false);
    assert.ok(!hidden.body.includes('127.10.0.7'));
    assert.ok(!('hint' in JSON.parse(hidden.body).error));
    // The target never leaks through a header either.
    assert.ok(!Object.values(hidden.headers).some((v) => v.includes('127.10.0.7')));
    const shown = JSON.parse(renderFailure(timeout, true).body).error;
    assert.equal(shown.target, '127.10.0.7:9001');
    assert.equal(typeof shown.hint, 'string');
  });

  test("a refined RFC 9209 type replaces the registry's", () => {
    const r = renderFailure({ code: 'UPSTREAM_TLS_ERROR', proxyStatus: 'tls_certificate_error', requestId: RID, phase: 'tls', context: { upstream: 'orders' } }, false);
    assert.match(r.headers['proxy-status']!, /^causeway; error=tls_certificate_error; /);
  });

  test('codes without an RFC 9209 type send no Proxy-Status', () => {
    const r = renderFailure({ code: 'UNAUTHORIZED', requestId: RID, context: {} }, false);
    assert.equal(r.status, 401);
    assert.equal(r.headers['proxy-status'], undefined);
    assert.equal(r.headers['x-causeway-error'], 'UNAUTHORIZED');
  });

  test('a message with quotes and non-ASCII still gives a valid Proxy-Status', () => {
    const r = renderFailure({ code: 'BAD_REQUEST', requestId: RID, context: { detail: 'header "X-Ünïcode" is \\ invalid' } }, false);
    assert.equal(r.headers['proxy-status'], 'causeway; error=http_request_error; details="Bad request: header \\"X-ncode\\" is \\\\ invalid"');
    // The body keeps the message as it is.
    assert.equal(JSON.parse(r.body).error.message, 'Bad request: header "X-Ünïcode" is \\ invalid');
  });

  test('extra headers (Retry-After) are added', () => {
    const r = renderFailure({ code: 'RATE_LIMITED', requestId: RID, context: { route: 'orders' }, headers: { 'retry-after': '2' } }, false);
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '2');
    assert.equal(r.headers['x-causeway-error'], 'RATE_LIMITED');
  });
});

describe('on the wire', () => {
  let server: http.Server;
  let port: number;
  let report: FailureReport = timeout;
  let expose = false;

  before(async () => {
    server = http.createServer((req, res) => {
      const env: CallEnv = { expose, sink: { record() {} }, lookup: undefined, isTrustedPeer: () => false, inflight: { calls: 0 }, draining: () => false };
      new Exchange(req, res, env, report.requestId).fail(report.code, report);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  async function get(): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        })
        .on('error', reject);
    });
  }

  test('a failure on an exchange writes status, headers, length and body', async () => {
    report = timeout;
    expose = false;
    const r = await get();
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-causeway-error'], 'UPSTREAM_RESPONSE_TIMEOUT');
    assert.equal(r.headers['x-request-id'], RID);
    assert.match(String(r.headers['proxy-status']), /^causeway; error=http_response_timeout; details="/);
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
    assert.deepEqual(JSON.parse(r.body), errorBody(timeout, false));
  });

  test('a failure with expose and a non-ASCII message', async () => {
    report = { code: 'BAD_REQUEST', requestId: RID, phase: 'request', context: { detail: 'bad “quotes”' } };
    expose = true;
    const r = await get();
    assert.equal(r.status, 400);
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
    assert.equal(JSON.parse(r.body).error.message, 'Bad request: bad “quotes”');
    assert.equal(JSON.parse(r.body).error.hint, failure('BAD_REQUEST').remedy);
  });

  test('rawFailure is a complete HTTP/1.1 response that closes the connection', async () => {
    const raw = rawFailure({ code: 'REQUEST_TIMEOUT', requestId: RID, phase: 'request', context: { detail: 'too slow' } }, false);
    // Serve it from a raw socket and read it with node's own HTTP parser.
    const srv = net.createServer((s) => s.once('data', () => s.end(raw)));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const res = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, path: '/', agent: false }, (m) => {
            let body = '';
            m.setEncoding('utf8');
            m.on('data', (c: string) => (body += c));
            m.on('end', () => resolve({ status: m.statusCode!, headers: m.headers, body }));
          })
          .on('error', reject);
      });
      assert.equal(res.status, 408);
      assert.equal(res.headers['connection'], 'close');
      assert.equal(res.headers['x-causeway-error'], 'REQUEST_TIMEOUT');
      assert.equal(res.headers['x-request-id'], RID);
      assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body));
      assert.equal(JSON.parse(res.body).error.message, 'Request timeout: too slow');
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
