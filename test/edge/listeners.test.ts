/**
 * Listeners end to end: TLS termination (SNI exact, wildcard and default, minVersion, mTLS,
 * handshake failures counted as the client's, certificates reloaded in place), HTTP/2 by ALPN
 * and h2c by prior knowledge next to HTTP/1.1 on one port, several listeners in one gateway —
 * all serving the one request handler (routing, the taxonomy, the call log).
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, h2connect, h2on, h2request, httpsRequest } from '../helpers/h2.js';
import { TestPki, type Pair } from '../helpers/certs.js';
import { echo, rawExchange, refusingPort, send, sleep, startBackend, type Backend } from '../helpers/wire.js';

interface Echoed {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

describe('listeners: TLS, HTTP/2, h2c, several at once', () => {
  let pki: TestPki;
  let main: Pair;
  let extra: Pair;
  let wild: Pair;
  let client: Pair;
  let backend: Backend;
  let gw: TestGateway;
  let refused: number;
  /** Ports of the listeners: [plain h1, plain h1+h2c, tls h2+h1, tls h1 only, tls 1.3 + mTLS]. */
  let ports: number[];
  const ca = () => pki.caPem();

  before(async () => {
    pki = new TestPki();
    main = pki.leaf('main', ['api.test']);
    extra = pki.leaf('extra', ['other.test']);
    wild = pki.leaf('wild', ['*.wild.test']);
    const clientCa = pki.selfSigned('client-ca', 'Client CA');
    client = pki.leaf('client', ['client.test'], { issuer: clientCa, client: true });
    backend = await startBackend((req, res, seen) => {
      if (!req.url?.startsWith('/big/')) return echo(req, res, seen);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 8 * 1024 * 1024 });
      const chunk = Buffer.alloc(64 * 1024, 1);
      let left = 128;
      const pump = () => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    refused = await refusingPort();
    const tlsBlock = `{ cert: ${main.cert}, key: ${main.key}, certificates: [{ cert: ${extra.cert}, key: ${extra.key} }, { cert: ${wild.cert}, key: ${wild.key} }] }`;
    gw = await startGateway(
      [
        'listen:',
        '  - { host: 127.0.0.1, port: 0 }',
        '  - { host: 127.0.0.1, port: 0, h2c: true }',
        `  - { host: 127.0.0.1, port: 0, tls: ${tlsBlock} }`,
        `  - { host: 127.0.0.1, port: 0, http2: false, tls: { cert: ${main.cert}, key: ${main.key} } }`,
        `  - { host: 127.0.0.1, port: 0, tls: { cert: ${main.cert}, key: ${main.key}, minVersion: TLSv1.3, clientCa: ${clientCa.cert} } }`,
        'log: { access: false }',
        'upstreams:',
        `  echo: { targets: [{ url: "${backend.url}" }] }`,
        `  down: { targets: [{ url: "http://127.0.0.1:${refused}" }], retries: { attempts: 1 } }`,
        'routes:',
        '  - { name: down, match: { path: /down/* }, upstream: down }',
        '  - { name: echo, match: { path: /* }, upstream: echo }',
      ].join('\n'),
    );
    ports = gw.gateway.addresses.map((a) => a.port);
  });

  after(async () => {
    await gw.close();
    await backend.close();
    pki.close();
  });

  test('every listener is bound and serves the same routes', async () => {
    assert.equal(ports.length, 5);
    assert.equal(new Set(ports).size, 5);
    const r = await send(`http://127.0.0.1:${ports[0]}/plain`);
    assert.equal(r.status, 200);
    assert.equal(r.json<Echoed>().url, '/plain');
  });

  test('HTTPS with HTTP/1.1: terminated, proxied to the http backend, X-Forwarded-Proto https', async () => {
    const r = await httpsRequest(`https://127.0.0.1:${ports[2]}/h1?q=1`, { tls: { ca: ca(), servername: 'api.test' }, headers: { host: 'api.test' } });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as Echoed;
    assert.equal(seen.url, '/h1?q=1');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-host'], 'api.test');
  });

  test('HTTP/2 over TLS (ALPN h2): routed and proxied; pseudo-headers become an HTTP/1.1 request', async () => {
    const r = await h2request(`https://127.0.0.1:${ports[2]}`, { path: '/h2/a?b=c', headers: { cookie: 'a=1', 'x-custom': 'kept', 'x-request-id': 'h2-request-0001' }, tls: { ca: ca(), servername: 'api.test' } });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as Echoed;
    assert.equal(seen.url, '/h2/a?b=c');
    assert.equal(seen.method, 'GET');
    assert.equal(seen.headers.host, `127.0.0.1:${backend.port}`, 'Host is the target, as over HTTP/1.1');
    assert.equal(seen.headers['x-forwarded-host'], `api.test:${ports[2]}`, ':authority is the client Host');
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers.via, '2 causeway');
    for (const k of Object.keys(seen.headers)) assert.ok(!k.startsWith(':'), `pseudo-header ${k} reached the backend`);
    assert.equal(r.headers['x-request-id'], 'h2-request-0001');
    for (const h of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade']) assert.equal(r.headers[h], undefined, `${h} in an HTTP/2 response`);
    const rec = await gw.record('h2-request-0001');
    assert.equal(rec.status, 200);
    assert.equal(rec.route, 'echo');
  });

  test('HTTP/2: cookies split in several fields reach an HTTP/1.1 backend as one', async () => {
    const session = h2connect(`https://127.0.0.1:${ports[2]}`, { ca: ca(), servername: 'api.test' });
    try {
      // node sends an array as separate fields, as browsers do with HPACK.
      const r = await h2on(session, { path: '/cookies', headers: { cookie: ['a=1', 'b=2'] } });
      assert.equal((JSON.parse(r.body) as Echoed).headers.cookie, 'a=1; b=2');
    } finally {
      session.close();
    }
  });

  test('HTTP/2: a request body without content-length streams to the backend', async () => {
    const body = 'x'.repeat(100_000);
    const r = await h2request(`https://127.0.0.1:${ports[2]}`, { method: 'POST', path: '/upload', body, tls: { ca: ca(), servername: 'api.test' } });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as Echoed;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.body.length, body.length);
  });

  test('HTTP/2: a large response streams to a client that reads slowly (flow control), whole', async () => {
    const session = h2connect(`https://127.0.0.1:${ports[2]}`, { ca: ca(), servername: 'api.test' });
    try {
      const req = session.request({ ':path': '/big/stream' });
      let got = 0;
      let paused = 0;
      await new Promise<void>((resolve, reject) => {
        req.on('data', (c: Buffer) => {
          got += c.length;
          // Read in spurts: the gateway must wait on HTTP/2 flow control, not buffer without bound.
          if (got > (paused + 1) * 1_000_000) {
            paused++;
            req.pause();
            setTimeout(() => req.resume(), 20);
          }
        });
        req.on('end', resolve);
        req.on('error', reject);
      });
      assert.equal(got, 8 * 1024 * 1024);
    } finally {
      session.close();
    }
  });

  test('HTTP/2: gateway failures carry the taxonomy (status, X-Causeway-Error, Proxy-Status, JSON body)', async () => {
    const t = { ca: ca(), servername: 'api.test' };
    const miss = await h2request(`https://127.0.0.1:${ports[2]}`, { path: '/down/x', tls: t });
    assert.equal(miss.status, 502);
    assert.equal(miss.headers['x-causeway-error'], 'UPSTREAM_CONNECTION_REFUSED');
    assert.match(String(miss.headers['proxy-status']), /^causeway; error=connection_refused/);
    const body = JSON.parse(miss.body) as { error: { code: string; requestId: string; phase: string; upstream: string } };
    assert.equal(body.error.code, 'UPSTREAM_CONNECTION_REFUSED');
    assert.equal(body.error.upstream, 'down');
    assert.equal(body.error.requestId, miss.headers['x-request-id']);
    const rec = await gw.record(body.error.requestId);
    assert.equal(rec.code, 'UPSTREAM_CONNECTION_REFUSED');
  });

  test('h2c with prior knowledge and HTTP/1.1 on the same port', async () => {
    const h2 = await h2request(`http://127.0.0.1:${ports[1]}`, { path: '/h2c' });
    assert.equal(h2.status, 200);
    assert.equal((JSON.parse(h2.body) as Echoed).headers['x-forwarded-proto'], 'http');
    const h1 = await send(`http://127.0.0.1:${ports[1]}/h1-too`);
    assert.equal(h1.status, 200);
    assert.equal(h1.json<Echoed>().url, '/h1-too');
    // A raw HTTP/1.1 request sent in small pieces (the sniffer must wait for enough bytes).
    const raw = await rawExchange(ports[1]!, ['GE', 'T /pieces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    assert.equal(raw.status, 200);
  });

  test('without h2c, a plain listener speaks HTTP/1.1 only: the HTTP/2 preface is a bad request', async () => {
    const r = await rawExchange(ports[0]!, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    assert.equal(r.status, 400);
  });

  test('http2: false offers only http/1.1 by ALPN', async () => {
    const hs = await handshake(ports[3]!, { ca: ca(), servername: 'api.test', alpn: ['h2', 'http/1.1'] });
    assert.ok(!('error' in hs && hs.error), String((hs as { error?: Error }).error));
    assert.equal((hs as { alpn: string }).alpn, 'http/1.1');
    const h2 = await handshake(ports[2]!, { ca: ca(), servername: 'api.test', alpn: ['h2', 'http/1.1'] });
    assert.equal((h2 as { alpn: string }).alpn, 'h2');
  });

  test('SNI picks the certificate: exact names, wildcards, and the default for anything else', async () => {
    const cn = async (servername: string | undefined) => {
      const hs = await handshake(ports[2]!, { ca: ca(), servername });
      if ('error' in hs && hs.error) throw hs.error;
      return (hs as { cn: string }).cn;
    };
    assert.equal(await cn('api.test'), 'api.test');
    assert.equal(await cn('other.test'), 'other.test');
    assert.equal(await cn('OTHER.test'), 'other.test', 'names compare case-insensitively');
    assert.equal(await cn('a.wild.test'), '*.wild.test');
    assert.equal(await cn('unknown.test'), 'api.test', 'the default certificate');
    assert.equal(await cn('deep.a.wild.test'), 'api.test', 'a wildcard covers one label only');
    assert.equal(await cn(undefined), 'api.test', 'no SNI: the default');
  });

  test('minVersion: a TLS 1.2 client is refused by a TLSv1.3 listener, logged and counted as a client-side failure', async () => {
    const errorsBefore = (await gw.gateway.metrics.render()).match(/^causeway_errors_total.*$/gm)?.join('\n');
    const hs = await handshake(ports[4]!, { ca: ca(), servername: 'api.test', maxVersion: 'TLSv1.2', cert: pki.read(client).cert, key: pki.read(client).key });
    assert.ok('error' in hs && hs.error, 'the handshake must fail');
    await eventually(async () => /causeway_tls_handshake_failures_total\{listener="127\.0\.0\.1:\d+",reason="ERR_SSL_UNSUPPORTED_PROTOCOL"\} [1-9]/.test(await gw.gateway.metrics.render()), 3000).then(async (ok) => {
      assert.ok(ok, await gw.gateway.metrics.render().then((t) => t.split('\n').filter((l) => l.includes('tls_handshake')).join('\n')));
    });
    const errorsAfter = (await gw.gateway.metrics.render()).match(/^causeway_errors_total.*$/gm)?.join('\n');
    assert.equal(errorsAfter, errorsBefore, 'no call failed: no backend is blamed');
  });

  test('mTLS: a client without a certificate signed by clientCa gets no response; with one it is served', async () => {
    const without = await httpsRequest(`https://127.0.0.1:${ports[4]}/mtls`, { tls: { ca: ca(), servername: 'api.test' } }).catch((e: Error) => e);
    assert.ok(without instanceof Error, 'served without a client certificate');
    const stranger = pki.leaf('stranger', ['stranger.test'], { client: true });
    const wrong = await httpsRequest(`https://127.0.0.1:${ports[4]}/mtls`, { tls: { ca: ca(), servername: 'api.test', ...pki.read(stranger) } }).catch((e: Error) => e);
    assert.ok(wrong instanceof Error, 'served with a certificate of another CA');
    const r = await httpsRequest(`https://127.0.0.1:${ports[4]}/mtls`, { tls: { ca: ca(), servername: 'api.test', ...pki.read(client) } });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).url, '/mtls');
  });

  test('certificate expiry is a metric per listener and certificate', async () => {
    const m = await gw.gateway.metrics.render();
    const line = m.split('\n').find((l) => l.startsWith('causeway_tls_certificate_expiry_seconds{') && l.includes('name="other.test"'));
    assert.ok(line, m);
    const seconds = Number(line.split(' ').at(-1));
    assert.ok(seconds > 29 * 86400 && seconds <= 30 * 86400, line);
  });

  test('certificates change on disk: new handshakes get the new one, an open HTTP/2 connection keeps working', async () => {
    const t = { ca: ca(), servername: 'api.test' };
    const session = h2connect(`https://127.0.0.1:${ports[2]}`, t);
    assert.equal((await h2on(session, { path: '/before' })).status, 200);
    const renewed = pki.leaf('renewed', ['api.test', 'renewed.test']);
    copyFileSync(renewed.key, main.key);
    copyFileSync(renewed.cert, main.cert);
    const swapped = await eventually(async () => {
      const hs = await handshake(ports[2]!, { ca: ca(), servername: 'renewed.test' });
      return !('error' in hs && hs.error) && (hs as { cn: string }).cn === 'api.test' && (await sanOf(ports[2]!, 'renewed.test')).includes('renewed.test');
    }, 5000);
    assert.ok(swapped, 'the listener did not pick up the renewed certificate');
    assert.equal((await h2on(session, { path: '/after' })).status, 200, 'the open connection survived the reload');
    session.close();
  });

  test('a bad file on reload keeps the current certificates (and says why)', async () => {
    const errors = gw.gateway.edge.reloadCertificates(gw.gateway.config.listen.map((l) => (l.tls ? { ...l, tls: { ...l.tls, key: extra.key } } : l)));
    assert.ok(errors.length >= 1);
    assert.match(errors[0]!.error, /does not belong to the certificate/);
    const hs = await handshake(ports[2]!, { ca: ca(), servername: 'api.test' });
    assert.equal((hs as { cn: string }).cn, 'api.test');
  });
});

async function sanOf(port: number, servername: string): Promise<string> {
  const tls = await import('node:tls');
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const san = s.getPeerCertificate().subjectaltname ?? '';
      s.destroy();
      resolve(san);
    });
    s.on('error', () => resolve(''));
  });
}

/** Polls an async condition every 50 ms until it holds or `timeoutMs` passes. */
async function eventually(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}
