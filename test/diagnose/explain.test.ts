import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as B from '../helpers/backends.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { explainCall, formatExplanation } from '../../src/diagnose/explain.js';
import type { LookupFn } from '../../src/upstream/connector.js';

const lookup: LookupFn = (host, cb) => (host === 'nowhere.invalid' ? cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })) : cb(null, '127.0.0.1', 4));

describe('explain, for every failure class, from a real gateway call log', { timeout: 60_000 }, () => {
  const backends: B.TestBackend[] = [];
  let gw: TestGateway;
  const b = async (p: Promise<B.TestBackend>) => {
    const x = await p;
    backends.push(x);
    return x;
  };
  before(async () => {
    const refused = await b(B.refusing());
    const hole = await b(B.blackhole());
    const closing = await b(B.closeBeforeResponse());
    const reset = await b(B.resetMidExchange());
    const stall = await b(B.stallHeaders());
    const stallBody = await b(B.stallBody());
    const bad = await b(B.malformed());
    const plain = await b(B.plainForHttps());
    const tls = await b(B.tlsServer());
    const good = await b(B.ok());
    const port = (x: B.TestBackend) => x.port;
    const up = (name: string, url: string, timeouts = '{ connect: 300ms, read: 300ms, total: 2s }', extra = '') => `  ${name}: { targets: [{ url: "${url}" }], retries: { attempts: 1 }, timeouts: ${timeouts}${extra} }`;
    gw = await startGateway(
      `
log: { access: false }
upstreams:
${up('refused', refused.url)}
${up('hole', hole.url)}
${up('closing', closing.url)}
${up('reset', reset.url)}
${up('stall', stall.url)}
${up('stallbody', stallBody.url)}
${up('bad', bad.url)}
${up('plain', `https://127.0.0.1:${port(plain)}`)}
${up('tlsport', `http://127.0.0.1:${port(tls)}`)}
${up('cert', tls.url)}
${up('dns', 'http://nowhere.invalid:80')}
${up('budget', stall.url, '{ connect: 300ms, read: 5s, total: 200ms }')}
${up('busy', stall.url, undefined, ', pool: { maxConnections: 1, queueTimeout: 50ms }')}
${up('good', good.url)}
routes:
${['refused', 'hole', 'closing', 'reset', 'stall', 'stallbody', 'bad', 'plain', 'tlsport', 'cert', 'dns', 'budget', 'busy', 'good'].map((n) => `  - { name: ${n}, match: { path: /${n}/* }, upstream: ${n} }`).join('\n')}
`,
      { lookup },
    );
  });
  after(async () => {
    await gw?.close();
    for (const x of backends) await x.close();
  });

  async function call(path: string): Promise<string> {
    const res = await fetch(gw.url + path).catch(() => null);
    if (res) await res.arrayBuffer().catch(() => undefined);
    const id = res?.headers.get('x-request-id');
    if (id) return id;
    // A body cut mid-stream: the record still exists; find it by path.
    await new Promise((r) => setTimeout(r, 500));
    return gw.records.find((r) => r.path === path)!.requestId;
  }

  const cases: Array<[string, string]> = [
    ['/refused/x', 'UPSTREAM_CONNECTION_REFUSED'],
    ['/hole/x', 'UPSTREAM_CONNECT_TIMEOUT'],
    ['/closing/x', 'UPSTREAM_CONNECTION_CLOSED'],
    ['/reset/x', 'UPSTREAM_CONNECTION_RESET'],
    ['/stall/x', 'UPSTREAM_RESPONSE_TIMEOUT'],
    ['/stallbody/x', 'UPSTREAM_BODY_TIMEOUT'],
    ['/bad/x', 'UPSTREAM_INVALID_RESPONSE'],
    ['/plain/x', 'UPSTREAM_PROTOCOL_MISMATCH'],
    ['/tlsport/x', 'UPSTREAM_PROTOCOL_MISMATCH'],
    ['/cert/x', 'UPSTREAM_TLS_ERROR'],
    ['/dns/x', 'UPSTREAM_DNS_FAILURE'],
    ['/budget/x', 'GATEWAY_TIMEOUT'],
  ];
  for (const [path, code] of cases) {
    it(`${code} (${path})`, { timeout: 10_000 }, async () => {
      const id = await call(path);
      await gw.record(id);
      gw.gateway.store!.flush();
      const e = (await explainCall(gw.gateway.store!, id))!;
      assert.ok(e, 'the call is in the call log');
      assert.equal(e.verdict, 'failure');
      assert.equal(e.classification?.code, code);
      assert.ok(e.timeline.length >= 1);
      assert.equal(e.timeline[e.timeline.length - 1]!.ok, false);
      assert.ok(e.classification!.remedy.length > 20);
      const text = formatExplanation(e);
      assert.match(text, new RegExp(code));
      assert.match(text, /Fix: /);
      assert.match(text, /Timeline/);
      assert.deepEqual(JSON.parse(JSON.stringify(e)).requestId, id);
    });
  }

  it('GATEWAY_TIMEOUT names the budget the response named: the configured total, or the client\'s X-Request-Timeout', async () => {
    for (const [headers, budget, source] of [[{}, 200, ''], [{ 'x-request-timeout': '120' }, 120, ' (X-Request-Timeout)']] as const) {
      const res = await fetch(`${gw.url}/budget/x`, { headers });
      await res.arrayBuffer();
      assert.equal(res.status, 504);
      assert.match(res.headers.get('proxy-status')!, new RegExp(`the ${budget} ms budget`));
      const id = res.headers.get('x-request-id')!;
      await gw.record(id);
      gw.gateway.store!.flush();
      const e = (await explainCall(gw.gateway.store!, id))!;
      assert.match(e.classification!.cause, new RegExp(`^Backend timeout: the ${budget} ms budget for this request ran out calling budget`));
      assert.equal(e.timeline[e.timeline.length - 1]!.error, `budget ${budget} ms${source}`);
    }
  });

  it('UPSTREAM_POOL_EXHAUSTED (a second call while the only connection is busy)', async () => {
    const first = fetch(`${gw.url}/busy/1`).catch(() => null);
    await new Promise((r) => setTimeout(r, 50));
    const id = await call('/busy/2');
    await first;
    gw.gateway.store!.flush();
    assert.equal((await explainCall(gw.gateway.store!, id))?.classification?.code, 'UPSTREAM_POOL_EXHAUSTED');
  });

  it('ROUTE_NOT_FOUND and a success explain too', async () => {
    const missing = await call('/nope');
    const good = await call('/good/x');
    await gw.record(good);
    gw.gateway.store!.flush();
    const nf = (await explainCall(gw.gateway.store!, missing))!;
    assert.equal(nf.classification?.code, 'ROUTE_NOT_FOUND');
    assert.equal(nf.timeline.length, 0);
    assert.equal(nf.context, null);
    const ok = (await explainCall(gw.gateway.store!, good))!;
    assert.equal(ok.verdict, 'ok');
    assert.equal(ok.classification, null);
    assert.deepEqual(ok.timeline[0]!.phases.map((p) => p.name).includes('ttfb'), true);
  });

  it('counts similar failures around the call, by target', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await call('/refused/again'));
    await gw.record(ids[4]!);
    gw.gateway.store!.flush();
    const e = (await explainCall(gw.gateway.store!, ids[4]!))!;
    const target = e.timeline[0]!.target;
    // 5 here plus the one of the table above.
    assert.equal(e.context?.sameFailure, 5);
    assert.equal(e.context?.sentence, `5 other calls to refused failed with UPSTREAM_CONNECTION_REFUSED in the 5 minutes around it; all on target ${target}.`);
  });

  it('returns undefined for an unknown id', async () => {
    assert.equal(await explainCall(gw.gateway.store!, 'no-such-request'), undefined);
  });
});
