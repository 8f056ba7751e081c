/**
 * split: the decision as a table (pure; a stable hash for sticky splits), then end to end with a
 * healthy primary and a failing canary: weighted shares, header and cookie matches, stickiness,
 * the call log naming the side that served each call, and /api/stats and the dashboard setting
 * the two sides next to each other.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { SplitConfig } from '../../../src/config/schema.js';
import { cookieValue, stableHash, toSplit } from '../../../src/policies/split/index.js';
import { startAdmin, type AdminFixture } from '../../helpers/admin.js';
import { refusingPort, send, startBackend, type Backend } from '../../helpers/wire.js';

const cfg = (over: Partial<SplitConfig>): SplitConfig => ({ upstream: 'canary', percent: 0, ...over });
const input = (headers: Record<string, string> = {}, consumer: string | null = null, clientIp = '127.0.0.1') => ({ headers, consumer, clientIp });

describe('split: decisions (table)', () => {
  const rows: Array<[string, SplitConfig, ReturnType<typeof input>, number, boolean]> = [
    ['percent 0, no match', cfg({ percent: 0, match: { header: { 'x-canary': '1' } } }), input(), 0, false],
    ['percent 100', cfg({ percent: 100 }), input(), 0.99, true],
    ['random below the share', cfg({ percent: 5 }), input(), 0.0499, true],
    ['random at the share', cfg({ percent: 5 }), input(), 0.05, false],
    ['half a percent works (basis points)', cfg({ percent: 0.5 }), input(), 0.0049, true],
    ['header match (names without case)', cfg({ match: { header: { 'X-Canary': '1' } } }), input({ 'x-canary': '1' }), 0.99, true],
    ['header present, other value', cfg({ match: { header: { 'x-canary': '1' } } }), input({ 'x-canary': '0' }), 0, false],
    ['cookie match', cfg({ match: { cookie: { canary: 'yes' } } }), input({ cookie: 'a=1; canary=yes; b=2' }), 0.99, true],
    ['cookie of another name', cfg({ match: { cookie: { canary: 'yes' } } }), input({ cookie: 'xcanary=yes' }), 0, false],
    ['sticky without the key falls back to random', cfg({ percent: 50, sticky: 'consumer' }), input({}, null), 0.1, true],
  ];
  for (const [what, c, i, r, expected] of rows) test(what, () => assert.equal(toSplit(c, i, () => r), expected));

  test('sticky: the same key always lands on the same side, whatever the random draw', () => {
    for (const sticky of ['consumer', 'ip', 'cookie:uid', 'header:x-user'] as const) {
      const c = cfg({ percent: 50, sticky });
      for (let k = 0; k < 50; k++) {
        const key = `user-${k}`;
        const i = input({ cookie: `uid=${key}`, 'x-user': key }, key, `10.0.${k}.1`);
        const first = toSplit(c, i, () => 0);
        for (let n = 0; n < 5; n++) assert.equal(toSplit(c, i, () => n / 5), first, `${sticky} ${key}`);
      }
    }
  });

  test('the stable hash spreads keys evenly: 10,000 consumers at 5% → 5% ± 1%', () => {
    const c = cfg({ percent: 5, sticky: 'consumer' });
    let n = 0;
    for (let k = 0; k < 10_000; k++) if (toSplit(c, input({}, `consumer-${k}`), () => 1)) n++;
    assert.ok(n > 400 && n < 600, `${n} of 10,000`);
    assert.equal(stableHash('alice'), stableHash('alice'));
    assert.notEqual(stableHash('alice'), stableHash('bob'));
  });

  test('cookieValue reads one cookie from a Cookie header', () => {
    assert.equal(cookieValue('a=1; b = 2 ;c=3', 'b'), '2');
    assert.equal(cookieValue('a=1', 'b'), undefined);
    assert.equal(cookieValue(undefined, 'b'), undefined);
  });
});

describe('split end to end', () => {
  let primary: Backend;
  let canaryDown: number;
  let canary: Backend;
  let slow: Backend;
  let f: AdminFixture;

  before(async () => {
    primary = await startBackend((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('primary'));
    canary = await startBackend((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('canary'));
    slow = await startBackend((_req, res) => void setTimeout(() => res.writeHead(200).end('slow'), 1500));
    canaryDown = await refusingPort();
    f = await startAdmin(`
log: { access: false }
upstreams:
  orders: { targets: [{ url: ${primary.url} }] }
  orders-canary: { targets: [{ url: ${canary.url} }] }
  broken-canary: { targets: [{ url: "http://127.0.0.1:${canaryDown}" }], retries: { attempts: 1 } }
  slow-canary: { targets: [{ url: ${slow.url} }], timeouts: { read: 150ms }, retries: { attempts: 1 } }
routes:
  - { name: weighted, match: { path: /w/* }, upstream: orders, split: { upstream: broken-canary, percent: 30 } }
  - { name: matched, match: { path: /m/* }, upstream: orders, split: { upstream: orders-canary, match: { header: { x-canary: "1" }, cookie: { canary: "yes" } } } }
  - { name: sticky, match: { path: /s/* }, upstream: orders, split: { upstream: orders-canary, percent: 50, sticky: "header:x-user" } }
  - { name: timed, match: { path: /t/* }, upstream: orders, split: { upstream: slow-canary, match: { header: { x-canary: "1" } } } }
`);
  });
  after(async () => {
    await f.close();
    await Promise.all([primary.close(), canary.close(), slow.close()]);
  });

  test('a weighted share goes to the second upstream; the call log names the side that served each call', async () => {
    const N = 200;
    const statuses: number[] = [];
    for (let i = 0; i < N; i++) statuses.push((await send(`${f.url}/w/${i}`, { headers: { 'x-request-id': `split-w-${String(i).padStart(4, '0')}` } })).status);
    const failed = statuses.filter((s) => s === 502).length;
    // 30% of 200 is 60; a binomial spread of ±4 sigma is about ±26.
    assert.ok(failed > 30 && failed < 90, `${failed} of ${N} went to the canary`);
    assert.equal(failed + statuses.filter((s) => s === 200).length, N);
    await f.logged(N);
    const calls = await f.gateway.store!.query({ route: 'weighted', limit: 1000 });
    const canaryCalls = calls.filter((c) => c.upstream === 'broken-canary');
    assert.equal(canaryCalls.length, failed, 'every canary call is recorded as the canary\'s');
    assert.ok(canaryCalls.every((c) => c.code === 'UPSTREAM_CONNECTION_REFUSED'));
    assert.ok(calls.filter((c) => c.upstream === 'orders').every((c) => c.status === 200));
  });

  test('/api/stats sets each route\'s upstreams side by side, with their error rates', async () => {
    const r = await f.call(`/api/stats?since=${Date.now() - 600_000}&bucket=60000`);
    assert.equal(r.status, 200, r.text);
    const rows = r.json<{ upstreamsByRoute: Array<{ route: string; upstream: string; requests: number; errors: number }> }>().upstreamsByRoute.filter((x) => x.route === 'weighted');
    assert.deepEqual(rows.map((x) => x.upstream).sort(), ['broken-canary', 'orders']);
    const c = rows.find((x) => x.upstream === 'broken-canary')!;
    const p = rows.find((x) => x.upstream === 'orders')!;
    assert.equal(c.errors, c.requests, 'the canary fails every call');
    assert.equal(p.errors, 0);
    assert.equal(c.requests + p.requests, 200);
    // The same grouping over raw calls (a bucket shorter than a minute).
    const raw = (await f.call(`/api/stats?since=${Date.now() - 600_000}&bucket=10000`)).json<{ upstreamsByRoute: Array<{ route: string; upstream: string; requests: number }> }>();
    assert.equal(raw.upstreamsByRoute.filter((x) => x.route === 'weighted').reduce((n, x) => n + x.requests, 0), 200);
  });

  test('a header or cookie match always goes to the second upstream, and only then', async () => {
    for (let i = 0; i < 5; i++) {
      assert.equal((await send(`${f.url}/m/x`, { headers: { 'x-canary': '1' } })).text, 'canary');
      assert.equal((await send(`${f.url}/m/x`, { headers: { cookie: 'session=1; canary=yes' } })).text, 'canary');
      assert.equal((await send(`${f.url}/m/x`)).text, 'primary');
    }
  });

  test('sticky: each user stays on one side across calls, and the users spread over both', async () => {
    const sides = new Set<string>();
    for (let u = 0; u < 20; u++) {
      const first = (await send(`${f.url}/s/x`, { headers: { 'x-user': `u${u}` } })).text;
      sides.add(first);
      for (let n = 0; n < 3; n++) assert.equal((await send(`${f.url}/s/x`, { headers: { 'x-user': `u${u}` } })).text, first, `user u${u}`);
    }
    assert.deepEqual([...sides].sort(), ['canary', 'primary']);
  });

  test('the second side keeps its own upstream settings (its read timeout), and the error names it', async () => {
    const r = await send(`${f.url}/t/x`, { headers: { 'x-canary': '1' } });
    assert.equal(r.status, 504, r.text);
    assert.equal(r.headers['x-causeway-error'], 'UPSTREAM_RESPONSE_TIMEOUT');
    const e = r.json<{ error: { message: string; upstream: string } }>().error;
    assert.equal(e.upstream, 'slow-canary');
    assert.match(e.message, /no response headers from slow-canary within 150 ms/);
    assert.equal((await send(`${f.url}/t/x`)).text, 'primary');
  });

  const CHROMIUM = '/usr/bin/chromium';
  test('the dashboard shows both sides of the split with their error rates', { skip: existsSync(CHROMIUM) && existsSync('dist/web/index.html') ? false : 'needs /usr/bin/chromium and the built dashboard (npm run build)' }, async () => {
    const profile = mkdtempSync(join(tmpdir(), 'causeway-chromium-split-'));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${f.adminUrl}/#overview`);
      const canaryRow = page.locator('#splits tr[data-route="weighted"][data-upstream="broken-canary"]');
      await canaryRow.waitFor({ timeout: 15_000 });
      assert.match(await canaryRow.innerText(), /100(\.0)?%/, 'the canary\'s error rate');
      assert.match(await page.locator('#splits tr[data-route="weighted"][data-upstream="orders"]').innerText(), /0(\.0)?%/);
      assert.equal(await canaryRow.getAttribute('class'), 'bad', 'the failing side stands out');
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
