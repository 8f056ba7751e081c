/**
 * The token-less loopback admin API against the browser attacks on it (src/admin/origin.ts):
 * DNS rebinding (a foreign Host) and cross-origin writes (Origin / Sec-Fetch-Site), first as
 * plain HTTP requests with those headers, then from a real page on another loopback origin in
 * Debian's chromium (playwright-core) doing what the audit did: `fetch(…, { mode: 'no-cors' })`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startAdmin, type AdminFixture } from '../helpers/admin.js';
import { send, sleep } from '../helpers/wire.js';

const CHROMIUM = '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;
if (noBrowser && process.env['CI'] === 'true') throw new Error(`${CHROMIUM} is missing: CI must install chromium (.ci/run)`);

const YAML = `
upstreams: { main: { targets: [{ url: http://127.0.0.1:1 }] } }
routes: [{ name: all, match: { path: /* }, upstream: main }]
`;

describe('a token-less loopback admin API refuses browser attacks', () => {
  let f: AdminFixture;
  let port: number;
  before(async () => {
    f = await startAdmin(YAML);
    port = Number(new URL(f.adminUrl).port);
  });
  after(() => f.close());

  const consumers = async () => (await f.call('/api/consumers')).json<{ consumers: Array<{ name: string }> }>().consumers.map((c) => c.name);
  const create = (name: string, headers: Record<string, string>) =>
    send(`${f.adminUrl}/api/consumers`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ name }) });

  test('curl-like clients (no Origin, no Sec-Fetch-Site) still read and write', async () => {
    assert.equal((await create('scripted', {})).status, 200);
    assert.ok((await consumers()).includes('scripted'));
  });

  const hosts: Array<[string, number]> = [
    [`127.0.0.1:${0}`, 200],
    [`localhost:${0}`, 200],
    ['LOCALHOST.', 200],
    ['127.0.0.2', 200],
    ['[::1]:9901', 200],
    ['attacker.example', 403],
    ['attacker.example:9901', 403],
    ['127.0.0.1.nip.io', 403],
    ['localhost.attacker.example', 403],
  ];
  for (const [h, want] of hosts) {
    test(`Host: ${h} → ${want} (DNS rebinding)`, async () => {
      const host = h.replace(':0', `:${port}`);
      const r = await send(`${f.adminUrl}/api/consumers`, { headers: { host } });
      assert.equal(r.status, want, r.text);
      if (want === 403) assert.equal(r.json<{ error: { code: string } }>().error.code, 'FORBIDDEN');
    });
  }

  const writes: Array<[string, Record<string, string>, number]> = [
    ['same origin', { origin: 'ORIGIN', 'sec-fetch-site': 'same-origin' }, 200],
    ['typed in the address bar (none)', { 'sec-fetch-site': 'none' }, 200],
    ['another port on 127.0.0.1', { origin: 'http://127.0.0.1:1234' }, 403],
    ['another site', { origin: 'https://attacker.example' }, 403],
    ['an opaque origin', { origin: 'null' }, 403],
    ['cross-site without Origin', { 'sec-fetch-site': 'cross-site' }, 403],
    ['same-site (another port)', { 'sec-fetch-site': 'same-site' }, 403],
    ['same origin header, cross-site fetch metadata', { origin: 'ORIGIN', 'sec-fetch-site': 'cross-site' }, 403],
  ];
  let n = 0;
  for (const [what, headers, want] of writes) {
    test(`a write from ${what} → ${want}`, async () => {
      const name = `w${n++}`;
      const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace('ORIGIN', `http://127.0.0.1:${port}`)]));
      const r = await create(name, h);
      assert.equal(r.status, want, r.text);
      assert.equal((await consumers()).includes(name), want === 200);
    });
  }

  test('reads from another origin are not refused (the browser keeps their bodies from the page: no CORS headers)', async () => {
    const r = await send(`${f.adminUrl}/api/consumers`, { headers: { origin: 'https://attacker.example', 'sec-fetch-site': 'cross-site' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  });

  test('a real page on another loopback origin cannot create a consumer or issue a key', { skip: noBrowser }, async () => {
    const adminUrl = f.adminUrl;
    const evil = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><script>
        const a = ${JSON.stringify(adminUrl)};
        window.done = (async () => {
          const opts = (body) => ({ method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(body) });
          await fetch(a + '/api/consumers', opts({ name: 'evil' })).catch(() => {});
          await fetch(a + '/api/consumers/scripted/keys', opts({})).catch(() => {});
          return 'sent';
        })();
      </script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`;
    const profile = mkdtempSync(join(tmpdir(), 'causeway-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    const seen: number[] = [];
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      page.on('response', (r) => {
        if (r.url().startsWith(adminUrl)) seen.push(r.status());
      });
      await page.goto(evilUrl);
      assert.equal(await page.evaluate('window.done'), 'sent');
      await sleep(200);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      await new Promise<void>((r) => evil.close(() => r()));
    }
    assert.deepEqual(seen, [403, 403], 'both requests reached the admin API and were refused');
    assert.ok(!(await consumers()).includes('evil'), 'the page created a consumer');
    const keys = (await f.call('/api/consumers/scripted')).json<{ credentials?: unknown[] }>().credentials ?? [];
    assert.equal(keys.length, 0, 'the page issued a key');
  });
});
