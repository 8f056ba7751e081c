/**
 * ipRules: the decision as a table (pure), then end to end from real peer addresses (clients
 * bound to 127.0.0.2, 127.0.0.3, ...): gateway-wide and per-route lists, deny over allow, and the
 * client address taken from X-Forwarded-For only behind a trusted proxy.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ipRules } from '../../../src/policies/ip-rules/index.js';
import { echoGateway } from '../../helpers/gateway.js';

describe('ipRules: decisions (table)', () => {
  const rules = ipRules({ allow: ['100.0.0.0/8', '2001:db8::/32'], deny: ['100.1.0.0/16', '100.9.9.9'] }, 'routes[orders].ipRules');
  const rows: Array<[string, RegExp | null]> = [
    ['100.2.3.4', null],
    ['::ffff:100.2.3.4', null], // a dual-stack socket's form of an IPv4 peer
    ['2001:db8::1', null],
    ['100.1.2.3', /^client address 100\.1\.2\.3 is in routes\[orders\]\.ipRules\.deny \(100\.1\.0\.0\/16\)$/],
    ['100.9.9.9', /is in routes\[orders\]\.ipRules\.deny \(100\.9\.9\.9\)$/],
    ['192.0.2.1', /^client address 192\.0\.2\.1 is not in routes\[orders\]\.ipRules\.allow$/],
    ['2001:db9::1', /is not in routes\[orders\]\.ipRules\.allow/],
    ['', /is not in/],
  ];
  for (const [address, refused] of rows) {
    test(`${address || '(no address)'} → ${refused ? 'refused' : 'allowed'}`, () => {
      const why = rules.check(address);
      if (refused) assert.match(why ?? '', refused);
      else assert.equal(why, null);
    });
  }
  test('an empty allow list allows all but the denied', () => {
    const deny = ipRules({ allow: [], deny: ['127.0.0.3'] }, 'ipRules');
    assert.equal(deny.check('127.0.0.1'), null);
    assert.match(deny.check('127.0.0.3')!, /ipRules\.deny \(127\.0\.0\.3\)/);
  });
});

/** A GET from a chosen loopback source address. */
function getFrom(localAddress: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { localAddress, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, code: res.headers['x-causeway-error'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ipRules end to end', () => {
  const f = echoGateway(
    (url) => `
log: { access: false }
server: { trustedProxies: [127.0.0.5] }
ipRules: { deny: [127.0.0.3] }
upstreams: { b: { targets: [{ url: ${url} }] } }
routes:
  - { name: internal, match: { path: /internal/* }, upstream: b, ipRules: { allow: [127.0.0.0/30, 100.0.0.0/8], deny: [127.0.0.2, 100.66.0.0/16] } }
  - { name: public, match: { path: /public/* }, upstream: b }
`,
  );

  test('per-route allow and deny from real peer addresses; the refusal names the rule', async () => {
    assert.equal((await getFrom('127.0.0.1', `${f.gw.url}/internal/x`)).status, 200);
    const denied = await getFrom('127.0.0.2', `${f.gw.url}/internal/x`);
    assert.equal(denied.status, 403);
    assert.equal(denied.code, 'FORBIDDEN');
    assert.match(denied.body, /client address 127\.0\.0\.2 is in routes\[internal\]\.ipRules\.deny \(127\.0\.0\.2\)/);
    const outside = await getFrom('127.0.0.9', `${f.gw.url}/internal/x`);
    assert.equal(outside.status, 403);
    assert.match(outside.body, /client address 127\.0\.0\.9 is not in routes\[internal\]\.ipRules\.allow/);
    assert.equal((await getFrom('127.0.0.9', `${f.gw.url}/public/x`)).status, 200, 'the route list applies to its route only');
  });

  test('the gateway-wide list applies to every route, before the route\'s own', async () => {
    for (const path of ['/internal/x', '/public/x']) {
      const r = await getFrom('127.0.0.3', `${f.gw.url}${path}`);
      assert.equal(r.status, 403, path);
      assert.match(r.body, /client address 127\.0\.0\.3 is in ipRules\.deny \(127\.0\.0\.3\)/);
    }
  });

  test('X-Forwarded-For counts only from a trusted proxy: a client cannot talk its way past a rule', async () => {
    const before = f.backend.seen.length;
    // From an untrusted peer the header is ignored: the peer itself is judged.
    const spoof = await getFrom('127.0.0.2', `${f.gw.url}/internal/x`, { 'x-forwarded-for': '127.0.0.1' });
    assert.equal(spoof.status, 403);
    assert.match(spoof.body, /127\.0\.0\.2 is in/);
    const spoofGlobal = await getFrom('127.0.0.3', `${f.gw.url}/public/x`, { 'x-forwarded-for': '100.1.1.1' });
    assert.equal(spoofGlobal.status, 403);
    assert.equal(f.backend.seen.length, before);
    // Behind the trusted proxy (127.0.0.5) the nearest untrusted hop is the client.
    assert.equal((await getFrom('127.0.0.5', `${f.gw.url}/internal/x`, { 'x-forwarded-for': '100.1.2.3' })).status, 200);
    const viaProxy = await getFrom('127.0.0.5', `${f.gw.url}/internal/x`, { 'x-forwarded-for': '100.1.2.3, 100.66.1.1' });
    assert.equal(viaProxy.status, 403);
    assert.match(viaProxy.body, /client address 100\.66\.1\.1 is in routes\[internal\]\.ipRules\.deny \(100\.66\.0\.0\/16\)/);
    // A client-written hop to the left of the real one changes nothing.
    const left = await getFrom('127.0.0.5', `${f.gw.url}/internal/x`, { 'x-forwarded-for': '100.0.0.1, 100.66.1.1' });
    assert.equal(left.status, 403);
  });
});
