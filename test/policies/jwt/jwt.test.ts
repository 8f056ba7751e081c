/**
 * auth: [jwt] end to end: keys and tokens made by the test (jose), a real JWKS server on
 * loopback, a real gateway and backend. Every way a token can be wrong is a row of a table;
 * every state the JWKS endpoint can be in (up, rotated, refusing, slow, 500, not JSON, gone
 * after a first fetch) is a test of its own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SignJWT, base64url, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { echo, refusingPort, send, startBackend, type Backend } from '../../helpers/wire.js';

type Mode = 'ok' | 'status500' | 'garbage' | 'hang';

/** A JWKS endpoint on 127.0.0.1 whose keys and behaviour the test changes. */
async function jwksServer() {
  const state = { keys: [] as JWK[], mode: 'ok' as Mode, hits: 0 };
  const sockets = new Set<Socket>();
  const server = http.createServer((_req, res) => {
    state.hits++;
    if (state.mode === 'hang') return; // accepted, never answered
    if (state.mode === 'status500') {
      res.writeHead(500).end('oops');
      return;
    }
    const body = state.mode === 'garbage' ? '<html>login</html>' : JSON.stringify({ keys: state.keys });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

interface Pair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
  kid: string;
}

async function pair(alg: 'RS256' | 'ES256', kid: string): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { privateKey, publicKey, jwk, kid };
}

const ISS = 'https://id.test/';
const AUD = 'orders-api';
const now = () => Math.floor(Date.now() / 1000);

function token(key: Pair | CryptoKey | Uint8Array, claims: JWTPayload = {}, header: { alg?: string; kid?: string } = {}): Promise<string> {
  const k = key as Pair;
  const alg = header.alg ?? (k.jwk?.alg as string | undefined) ?? 'RS256';
  const kid = 'kid' in header ? header.kid : k.kid;
  const jwt = new SignJWT({ sub: 'alice', scope: 'orders:read profile', ...claims })
    .setProtectedHeader(kid === undefined ? { alg } : { alg, kid })
    .setIssuedAt()
    .setIssuer((claims.iss as string | undefined) ?? ISS)
    .setAudience((claims.aud as string | undefined) ?? AUD);
  if (claims.exp === undefined) jwt.setExpirationTime('5m');
  return jwt.sign(k.privateKey ?? key);
}

describe('auth: [jwt]', () => {
  let backend: Backend;
  let idp: Awaited<ReturnType<typeof jwksServer>>;
  let slow: Awaited<ReturnType<typeof jwksServer>>;
  let broken: Awaited<ReturnType<typeof jwksServer>>;
  let gw: TestGateway;
  let rsa: Pair;
  let ec: Pair;
  let staticEc: Pair;
  const secret = 'hmac-secret-for-jwt-0123456789abcdef-xyz';

  before(async () => {
    backend = await startBackend(echo);
    idp = await jwksServer();
    slow = await jwksServer();
    slow.state.mode = 'hang';
    broken = await jwksServer();
    rsa = await pair('RS256', 'rsa-1');
    ec = await pair('ES256', 'ec-1');
    staticEc = await pair('ES256', 'static-1');
    idp.state.keys = [rsa.jwk, ec.jwk];
    const down = await refusingPort();
    const jwks = { timeout: '300ms', cacheFor: '10m', minRefreshInterval: '500ms' };
    const config = {
      log: { access: false },
      jwt: {
        jwks,
        issuers: [
          { issuer: ISS, audience: AUD, jwksUrl: idp.url, algorithms: ['RS256', 'ES256'], clockSkew: '30s' },
          { issuer: 'https://static.test/', audience: ['a', 'b'], keys: [{ pem: await exportSPKI(staticEc.publicKey), kid: 'static-1' }], algorithms: ['ES256'], consumerClaim: 'client_id' },
          { issuer: 'https://hmac.test/', audience: 'x', secret, algorithms: ['HS256'] },
          { issuer: 'https://down.test/', audience: 'x', jwksUrl: `http://127.0.0.1:${down}/jwks.json`, algorithms: ['RS256'] },
          { issuer: 'https://slow.test/', audience: 'x', jwksUrl: slow.url, algorithms: ['RS256'] },
          { issuer: 'https://broken.test/', audience: 'x', jwksUrl: broken.url, algorithms: ['RS256'] },
        ],
      },
      upstreams: { b: { targets: [{ url: backend.url }] } },
      routes: [
        { name: 'orders', match: { path: '/o/*' }, upstream: 'b', auth: ['jwt'], scopes: ['orders:read'] },
        { name: 'any', match: { path: '/j/*' }, upstream: 'b', auth: ['jwt'] },
        { name: 'mixed', match: { path: '/m/*' }, upstream: 'b', auth: ['key', 'jwt'] },
      ],
      consumers: [{ name: 'keyed', keys: ['key-0123456789abcdef-xyz'] }],
    };
    gw = await startGateway(JSON.stringify(config));
  });
  after(async () => {
    await gw.close();
    await Promise.all([backend.close(), idp.close(), slow.close(), broken.close()]);
  });

  const call = (path: string, tok?: string, id?: string) => send(`${gw.url}${path}`, { headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(id ? { 'x-request-id': id } : {}) } });

  test('a valid RS256 token from the JWKS passes; the backend gets the consumer and the token; the call record names the consumer', async () => {
    const t = await token(rsa);
    const r = await call('/o/1', t, 'jwt-ok-00001');
    assert.equal(r.status, 200, r.text);
    const seen = r.json<{ headers: Record<string, string> }>();
    assert.equal(seen.headers['x-causeway-consumer'], 'alice');
    assert.equal(seen.headers['authorization'], `Bearer ${t}`);
    assert.equal((await gw.record('jwt-ok-00001')).consumer, 'alice');
    assert.equal((await call('/o/1', await token(ec))).status, 200, 'ES256 from the same JWKS');
  });

  test('a static PEM key (consumer from another claim) and an HMAC issuer with its own secret pass', async () => {
    const s = await token(staticEc, { iss: 'https://static.test/', aud: 'b', client_id: 'svc-42' });
    const r = await call('/j/1', s);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json<{ headers: Record<string, string> }>().headers['x-causeway-consumer'], 'svc-42');
    const h = await token(new TextEncoder().encode(secret), { iss: 'https://hmac.test/', aud: 'x' }, { alg: 'HS256', kid: undefined });
    assert.equal((await call('/j/1', h)).status, 200);
  });

  test('every kind of bad token → 401 UNAUTHORIZED with a precise reason, in the body and in WWW-Authenticate; the backend never sees one', async () => {
    const other = await pair('RS256', 'rsa-1'); // same kid, a key the issuer never published
    const spki = await exportSPKI(rsa.publicKey);
    const unsigned = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify({ iss: ISS, aud: AUD, sub: 'mallory', exp: now() + 300 }))}.`;
    const rows: Array<[string, string | Promise<string>, RegExp]> = [
      ['expired (beyond the 30 s skew)', token(rsa, { exp: now() - 120 }), /the token expired at \d{4}-/],
      ['not valid yet (nbf in the future)', token(rsa, { nbf: now() + 600 }), /the token is not valid before \d{4}-/],
      ['wrong audience', token(rsa, { aud: 'billing-api' }), /the token audience billing-api is not accepted \(expected orders-api\)/],
      ['untrusted issuer', token(rsa, { iss: 'https://evil.test/' }), /the token issuer https:\/\/evil.test\/ is not trusted/],
      ['signed by a key the issuer never published', token(other), /the token signature does not verify/],
      ['alg confusion: HS256 keyed with the issuer\'s public key', token(new TextEncoder().encode(spki), {}, { alg: 'HS256', kid: 'rsa-1' }), /the token algorithm HS256 is not accepted for issuer https:\/\/id.test\/ \(accepted: RS256, ES256\)/],
      ['alg none', unsigned, /the token algorithm none is not accepted/],
      ['not a JWT', 'abc.def', /the token is malformed/],
      ['no sub claim', token(rsa, { sub: undefined }), /the token has no sub claim/],
      ['an unknown kid', token(await pair('RS256', 'never-published')), /no key of issuer https:\/\/id.test\/ matches the token \(kid never-published\)/],
    ];
    const before = backend.seen.length;
    for (const [what, tok, reason] of rows) {
      const r = await call('/o/1', await tok);
      assert.equal(r.status, 401, `${what}: ${r.text}`);
      assert.equal(r.headers['x-causeway-error'], 'UNAUTHORIZED', what);
      const message = r.json<{ error: { message: string } }>().error.message;
      assert.match(message, /^Unauthorized: credentials are missing or invalid \(/, what);
      assert.match(message, reason, what);
      const challenge = String(r.headers['www-authenticate']);
      assert.match(challenge, /^Bearer realm="causeway", error="invalid_token", error_description="/, what);
      assert.match(challenge, reason, `${what}: the challenge says it too`);
    }
    assert.equal(backend.seen.length, before, 'no bad token reached the backend');
  });

  test('no token → 401 with a bare Bearer challenge (RFC 6750 3.1: no error code without credentials)', async () => {
    const r = await call('/o/1');
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="causeway"');
    const m = await send(`${gw.url}/m/1`);
    assert.equal(m.headers['www-authenticate'], 'Bearer realm="causeway", Signature realm="causeway", APIKey realm="causeway"');
  });

  test('scopes: `scope` (space-separated) or `scp` (array) must hold every route scope; otherwise 403 insufficient_scope', async () => {
    assert.equal((await call('/o/1', await token(rsa, { scope: undefined, scp: ['orders:read'] }))).status, 200);
    const r = await call('/o/1', await token(rsa, { scope: 'profile orders:write' }), 'jwt-scope-001');
    assert.equal(r.status, 403, r.text);
    assert.equal(r.headers['x-causeway-error'], 'FORBIDDEN');
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="causeway", error="insufficient_scope", scope="orders:read"');
    assert.match(r.json<{ error: { message: string } }>().error.message, /the token lacks the scope orders:read/);
    assert.equal((await gw.record('jwt-scope-001')).consumer, null, 'a refused caller is not recorded as the consumer');
    assert.equal((await call('/j/1', await token(rsa, { scope: '' }))).status, 200, 'a route without scopes needs none');
  });

  test('key rotation: a token with a new kid triggers one refetch and passes; unknown kids refetch at most once per minRefreshInterval', async () => {
    await new Promise((res) => setTimeout(res, 600)); // past the refetch rate limit the unknown-kid row above may have used
    const rotated = await pair('RS256', 'rsa-2');
    idp.state.keys = [rotated.jwk];
    const hits = idp.state.hits;
    const r = await call('/o/1', await token(rotated));
    assert.equal(r.status, 200, r.text);
    assert.equal(idp.state.hits, hits + 1, 'one refetch');
    // A flood of tokens naming keys nobody published: one refetch at most, the rest refused from the cache.
    const junk = await pair('RS256', 'junk');
    const replies = await Promise.all(Array.from({ length: 20 }, async (_, i) => call('/o/1', await token({ ...junk, kid: `junk-${i}` }))));
    for (const x of replies) assert.equal(x.status, 401);
    assert.ok(idp.state.hits <= hits + 2, `at most one more fetch for 20 unknown kids, got ${idp.state.hits - hits - 1}`);
    idp.state.keys = [rsa.jwk, ec.jwk, rotated.jwk];
  });

  test('keys fetched once stay in use while the issuer is down', async () => {
    await new Promise((res) => setTimeout(res, 600)); // past the refetch rate limit the rotation test used up
    const t = await token(rsa);
    assert.equal((await call('/o/1', t)).status, 200);
    idp.state.mode = 'status500';
    try {
      // Even an unknown kid makes the gateway try (and fail) — the known keys still verify.
      await call('/o/1', await token({ ...rsa, kid: 'unknown-kid' }));
      assert.equal((await call('/o/1', t)).status, 200);
    } finally {
      idp.state.mode = 'ok';
    }
  });

  // Every state a JWKS endpoint can be in before the first successful fetch.
  const providerRows: Array<[string, string, RegExp]> = [
    ['refusing connections', 'https://down.test/', /connection refused/],
    ['accepting but never answering', 'https://slow.test/', /no complete answer within 300 ms/],
  ];
  for (const [what, iss, reason] of providerRows) {
    test(`JWKS ${what} → 503 AUTH_PROVIDER_UNAVAILABLE saying why, and an event for the operator`, async () => {
      const other = await pair('RS256', 'k');
      const started = performance.now();
      const r = await call('/j/1', await token(other, { iss, aud: 'x' }), `jwks-${iss.length}-${what.length}-x`);
      assert.ok(performance.now() - started < 3000, 'bounded by jwks.timeout, not a hang');
      assert.equal(r.status, 503, r.text);
      assert.equal(r.headers['x-causeway-error'], 'AUTH_PROVIDER_UNAVAILABLE');
      assert.match(String(r.headers['proxy-status']), /error=proxy_internal_error/);
      const message = r.json<{ error: { message: string } }>().error.message;
      assert.match(message, new RegExp(`the keys of issuer ${iss.replace(/[./]/g, '\\$&')} could not be fetched`));
      assert.match(message, reason);
      const ev = gw.gateway.events.recent({ types: ['jwks.failed'] }).find((e) => e['issuer'] === iss);
      assert.ok(ev, 'a jwks.failed event');
      assert.match(ev.reason, reason);
      assert.match(ev.reason, /GET http:\/\/127\.0\.0\.1:\d+\/jwks\.json/, 'the operator sees the URL');
      assert.doesNotMatch(message, /127\.0\.0\.1/, 'the client does not');
    });
  }

  test('JWKS answering 500, then not JSON → 503 saying so', async () => {
    const other = await pair('RS256', 'k');
    const t = await token(other, { iss: 'https://broken.test/', aud: 'x' });
    broken.state.mode = 'status500';
    let r = await call('/j/1', t);
    assert.equal(r.status, 503);
    assert.match(r.text, /the provider answered HTTP 500/);
    await new Promise((res) => setTimeout(res, 1100)); // failed fetches are retried at most once a second
    broken.state.mode = 'garbage';
    r = await call('/j/1', t);
    assert.equal(r.status, 503);
    assert.match(r.text, /the answer is not JSON/);
    await new Promise((res) => setTimeout(res, 1100));
    broken.state.mode = 'ok';
    broken.state.keys = [other.jwk];
    r = await call('/j/1', t);
    assert.equal(r.status, 200, 'the provider is back: keys fetched, token accepted');
    assert.ok(gw.gateway.events.recent({ types: ['jwks.recovered'] }).some((e) => e['issuer'] === 'https://broken.test/'));
  });

  test('a dead provider costs calls no wait: failures within a second fail fast', async () => {
    const other = await pair('RS256', 'k');
    const t = await token(other, { iss: 'https://slow.test/', aud: 'x' });
    await call('/j/1', t);
    const hits = slow.state.hits;
    const started = performance.now();
    const r = await call('/j/1', t);
    assert.equal(r.status, 503);
    if (slow.state.hits === hits) assert.ok(performance.now() - started < 250, 'answered from the last failure, no new fetch');
  });
});
