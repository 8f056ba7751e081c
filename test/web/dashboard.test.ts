/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core) against the real
 * demo: misbehaving backends, failures generated over HTTP, then what an operator sees — the
 * failing codes in the error breakdown, an ejected target and an open breaker on the upstreams
 * page, a call's explanation and phase timeline. Screenshots go to test-output/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startDemo, type RunningDemo } from '../../src/demo/demo.js';
import { OUT, browserMissing, launchBrowser, type Browser } from '../helpers/browser.js';
import { send } from '../helpers/wire.js';

const missing = browserMissing();

describe('dashboard in a browser', { skip: missing }, () => {
  let demo: RunningDemo, browser: Browser, page: Page;
  const foreign: string[] = [];
  const consoleErrors: string[] = [];

  before(async () => {
    demo = await startDemo({ port: 0, adminPort: 0, host: '127.0.0.1', quiet: true });
    const get = (p: string) => send(demo.url + p, { timeout: 15_000 });
    // Failures of several kinds; sequential where a count matters (ejection, breaker).
    await Promise.all([get('/slow/a'), get('/healthy/a'), get('/healthy/b'), get('/nowhere'), get('/malformed/a')]);
    for (let i = 0; i < 3; i++) await get(`/down/${i}`);
    for (let i = 0; i < 6; i++) await get(`/closing/${i}`);
    for (let i = 0; i < 8; i++) await get(`/failover/${i}`);
    demo.gateway.store!.flush();

    mkdirSync(OUT, { recursive: true });
    browser = await launchBrowser({ width: 1440, height: 900 });
    page = browser.page;
    page.on('request', (r) => {
      if (!r.url().startsWith(demo.adminUrl)) foreign.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${m.text()} ${m.location().url}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
  });

  test('overview: the failing codes appear in the error breakdown, with charts', async () => {
    await page.goto(`${demo.adminUrl}/#overview`);
    for (const code of ['UPSTREAM_CONNECTION_REFUSED', 'UPSTREAM_RESPONSE_TIMEOUT', 'UPSTREAM_CONNECTION_CLOSED', 'ROUTE_NOT_FOUND']) {
      await page.locator(`#error-breakdown tr[data-code="${code}"]`).waitFor({ timeout: 15_000 });
    }
    assert.ok((await page.locator('.uplot canvas').count()) >= 3, 'three uPlot charts are drawn');
    assert.match(await page.locator('#top-routes').innerText(), /closing/);
    assert.match(await page.locator('.kpis').innerText(), /error rate/i);
    await page.screenshot({ path: join(OUT, 'dashboard-overview.png'), fullPage: true });
  });

  test('upstreams: the ejected target and the open breaker are marked, live', async () => {
    await page.goto(`${demo.adminUrl}/#upstreams`);
    const ejected = page.locator('[data-upstream="failover"] tr[data-state="ejected"]');
    await ejected.waitFor({ timeout: 15_000 });
    assert.match(await ejected.innerText(), /ejected/);
    assert.match(await page.locator('[data-upstream="failover"] h2').innerText(), /1\/2 in rotation/);
    assert.match(await page.locator('[data-upstream="closing"] h2').innerText(), /breaker (open|half-open)/);
    await page.screenshot({ path: join(OUT, 'dashboard-upstreams.png'), fullPage: true });
  });

  test('calls: filtering by code, and a row opens the explanation with the phase timeline', async () => {
    await page.goto(`${demo.adminUrl}/#calls?code=UPSTREAM_RESPONSE_TIMEOUT`);
    const row = page.locator('#calls-table tbody tr').first();
    await row.waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('#calls-table tbody tr').count(), 1, 'only the slow call matches the filter');
    await row.click();
    await page.locator('#call-timeline .attempt .phase').first().waitFor({ timeout: 15_000 });
    const text = await page.locator('#call-timeline').innerText();
    assert.match(text, /UPSTREAM_RESPONSE_TIMEOUT/);
    assert.match(text, /ttfb/);
    assert.ok((await page.locator('#explanation .remedy').innerText()).length > 20, 'the remedy is shown');
    assert.ok(page.url().includes('#calls/'), 'the open call has its own URL');
    await page.screenshot({ path: join(OUT, 'dashboard-call.png'), fullPage: true });
  });

  test('config and alerts pages: the running config with lint findings, the event log', async () => {
    await page.goto(`${demo.adminUrl}/#config`);
    await page.locator('pre.config', { hasText: 'upstreams:' }).waitFor({ timeout: 15_000 });
    await page.locator('#findings').waitFor();
    await page.screenshot({ path: join(OUT, 'dashboard-config.png'), fullPage: true });
    await page.goto(`${demo.adminUrl}/#alerts`);
    await page.locator('#events tr[data-type="target.ejected"]').waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(OUT, 'dashboard-alerts.png'), fullPage: true });
  });

  test('works offline: every request stays on the admin listener, and the page logs no errors', () => {
    assert.deepEqual(foreign, []);
    assert.deepEqual(consoleErrors, []);
  });
});
