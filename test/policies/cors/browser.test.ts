/**
 * CORS in a real browser (Debian's chromium via playwright-core): a page on one loopback origin
 * calls the gateway on another (127.0.0.1 vs localhost). An allowed origin's credentialed PUT
 * with a custom header passes its preflight and reads the answer and an exposed header; a page
 * on an origin not on the list is stopped by the browser, and its call never reaches the backend.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startBackend, type Backend } from '../../helpers/wire.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM);
if (missing && process.env['CI'] === 'true') throw new Error(`${CHROMIUM} is missing: CI must install chromium (.ci/run) for the CORS browser test`);
if (missing) console.log(`# skipping the CORS browser test: ${CHROMIUM} is not installed (apt-get install chromium)`);

/** A server for one page origin: every path answers an empty HTML page. */
async function pageServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>page</title>'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('cors in a browser', { skip: missing ? `${CHROMIUM} is not installed` : false }, () => {
  let backend: Backend;
  let gw: TestGateway;
  let allowed: Awaited<ReturnType<typeof pageServer>>;
  let other: Awaited<ReturnType<typeof pageServer>>;
  let context: BrowserContext;
  let profile: string;

  before(async () => {
    backend = await startBackend((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-total': '42' });
      res.end('{"ok":true}');
    });
    allowed = await pageServer();
    other = await pageServer();
    gw = await startGateway(`
log: { access: false }
upstreams: { b: { targets: [{ url: ${backend.url} }] } }
routes:
  - name: api
    match: { path: /api/*, methods: [GET, PUT] }
    upstream: b
    cors: { origins: ["${allowed.origin}"], methods: [GET, PUT], headers: [content-type, x-trace], exposeHeaders: [x-total], credentials: true }
`);
    profile = mkdtempSync(join(tmpdir(), 'causeway-chromium-cors-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await context?.close();
    await gw?.close();
    await Promise.all([backend?.close(), allowed?.close(), other?.close()]);
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /** Runs a credentialed, preflighted PUT from a page on `origin`; resolves with what the page could read. */
  async function putFrom(origin: string): Promise<{ ok: boolean; status?: number; body?: string; total?: string | null; error?: string }> {
    const page = await context.newPage();
    try {
      await page.goto(`${origin}/`);
      return await page.evaluate(async (url) => {
        try {
          const r = await fetch(url, { method: 'PUT', credentials: 'include', headers: { 'content-type': 'application/json', 'x-trace': '1' }, body: '{}' });
          return { ok: true, status: r.status, body: await r.text(), total: r.headers.get('x-total') };
        } catch (e) {
          return { ok: false, error: String(e) };
        }
      }, `http://localhost:${gw.port}/api/orders`);
    } finally {
      await page.close();
    }
  }

  test('an allowed origin: the preflight passes at the gateway, the page reads the answer and the exposed header', async () => {
    const before = backend.seen.length;
    const r = await putFrom(allowed.origin);
    assert.deepEqual(r, { ok: true, status: 200, body: '{"ok":true}', total: '42' });
    assert.equal(backend.seen.length, before + 1, 'only the PUT reached the backend, not the preflight');
    assert.equal(backend.seen.at(-1)!.method, 'PUT');
  });

  test('another origin: the browser refuses, and nothing reaches the backend', async () => {
    const before = backend.seen.length;
    const r = await putFrom(other.origin);
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.match(r.error!, /TypeError/);
    assert.equal(backend.seen.length, before);
  });
});
