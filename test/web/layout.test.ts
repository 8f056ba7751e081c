/**
 * The dashboard's layout, measured in a real browser (Debian's chromium, playwright-core) at
 * 1280 px and at a phone's width, from the elements' boxes: nothing overflows its card, no panel
 * covers another, no number wraps inside itself, chart legends list only what is drawn and are
 * not taller than their chart. The call detail shows sub-millisecond phases, the gaps between
 * attempts, and remedies with their config keys as code. A screenshot of every view at every
 * width goes to test-output/ (kept as test artifacts).
 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startDemo, type RunningDemo } from '../../src/demo/demo.js';
import { OUT, browserMissing, launchBrowser, type Browser } from '../helpers/browser.js';
import { send } from '../helpers/wire.js';

const missing = browserMissing();

const WIDTHS = [1280, 420] as const;

/** Layout defects on the page, measured from the boxes of its elements. */
function defects(): string[] {
  const out: string[] = [];
  const name = (el: Element) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}`;
  const visible = (el: Element) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  const cards = [...document.querySelectorAll('main section, main .kpi')].filter(visible);
  // Nothing spills out of its card, unless a scroller inside the card holds it.
  for (const card of cards) {
    const box = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('*')) {
      if (!visible(el) || el.closest('.uplot')) continue;
      let scrolled = false;
      for (let p = el.parentElement; p && p !== card.parentElement; p = p.parentElement) if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) scrolled = true;
      if (scrolled) continue;
      const r = el.getBoundingClientRect();
      if (r.right > box.right + 1 || r.left < box.left - 1) out.push(`${name(el)} overflows its card ${name(card)} (${Math.round(r.left)}..${Math.round(r.right)} outside ${Math.round(box.left)}..${Math.round(box.right)})`);
    }
    if (card.scrollWidth > card.clientWidth + 1 && getComputedStyle(card).overflowX === 'visible') out.push(`${name(card)} is wider inside than its box`);
  }
  // No card covers another.
  const top = cards.filter((c) => !cards.some((o) => o !== c && o.contains(c)));
  for (let i = 0; i < top.length; i++)
    for (let j = i + 1; j < top.length; j++) {
      const a = top[i]!.getBoundingClientRect();
      const b = top[j]!.getBoundingClientRect();
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const hgt = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && hgt > 1) out.push(`${name(top[i]!)} and ${name(top[j]!)} overlap`);
    }
  // A number with its unit, a time, a legend label: one line each (the text's lines, by their tops).
  for (const el of document.querySelectorAll('td.num, .kpi-value, .nowrap, .legend-item, .legend > span, th')) {
    if (!visible(el)) continue;
    const tops: number[] = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(n);
      for (const r of range.getClientRects()) if (r.width > 0 && !tops.some((t) => Math.abs(t - r.top) < r.height / 2)) tops.push(r.top);
    }
    if (tops.length > 1) out.push(`"${(el as HTMLElement).innerText}" (${name(el)}) wraps over ${tops.length} lines`);
  }
  // A chart's legend is not taller than the chart.
  for (const chart of document.querySelectorAll('.chart')) {
    const plot = chart.querySelector('.uplot');
    const legend = chart.querySelector('.chart-legend');
    if (plot && legend && legend.getBoundingClientRect().height > plot.getBoundingClientRect().height) out.push('a chart legend is taller than its chart');
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${window.innerWidth})`);
  return out;
}

describe('dashboard layout in a browser, at 1280 px and at 420 px', { skip: missing, timeout: 180_000 }, () => {
  let demo: RunningDemo, browser: Browser, page: Page;
  let retriedId = '';
  let timeoutId = '';

  before(async () => {
    demo = await startDemo({ port: 0, adminPort: 0, host: '127.0.0.1', quiet: true });
    const get = (p: string) => send(demo.url + p, { timeout: 15_000 });
    await Promise.all([get('/slow/a'), get('/healthy/a'), get('/nowhere'), get('/malformed/a'), get('/reset/a')]);
    for (let i = 0; i < 3; i++) await get(`/down/${i}`);
    // Every 2nd call to /flaky gets a 503 and is retried after a backoff: a call with two attempts.
    for (let i = 0; i < 4; i++) {
      const r = await get(`/flaky/${i}`);
      demo.gateway.store!.flush();
      const id = String(r.headers['x-request-id']);
      if ((await demo.gateway.store!.get(id))?.attempts.length === 2) retriedId = id;
    }
    timeoutId = (await demo.gateway.store!.query({ code: 'UPSTREAM_RESPONSE_TIMEOUT', limit: 1 }))[0]!.requestId;
    assert.ok(retriedId, 'a /flaky call was retried');
    demo.gateway.store!.flush();
    mkdirSync(OUT, { recursive: true });
    browser = await launchBrowser({ width: 1280, height: 900, locale: 'en-GB' });
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
  });

  const views: Array<{ name: string; hash: () => string; ready: string }> = [
    { name: 'overview', hash: () => '#overview', ready: '#error-breakdown tr[data-code]' },
    { name: 'upstreams', hash: () => '#upstreams', ready: '[data-upstream="failover"]' },
    { name: 'calls', hash: () => '#calls', ready: '#calls-table tbody tr' },
    { name: 'call-retried', hash: () => `#calls/${retriedId}`, ready: '#call-timeline .attempt[data-attempt="2"] .phase' },
    { name: 'call-timeout', hash: () => `#calls/${timeoutId}`, ready: '#call-timeline .attempt .phase' },
    { name: 'config', hash: () => '#config', ready: '#findings' },
    { name: 'alerts', hash: () => '#alerts', ready: '#events' },
  ];
  for (const width of WIDTHS) {
    for (const v of views) {
      test(`${v.name} at ${width} px: no overflow, no overlap, no wrapped number`, async () => {
        await page.setViewportSize({ width, height: 900 });
        await page.goto('about:blank');
        await page.goto(`${demo.adminUrl}/${v.hash()}`);
        await page.locator(v.ready).first().waitFor({ timeout: 15_000 });
        await page.waitForTimeout(300);
        await page.screenshot({ path: join(OUT, `layout-${v.name}-${width}.png`), fullPage: true });
        assert.deepEqual(await page.evaluate(defects), []);
      });
    }
  }

  test('the errors chart\'s legend lists the codes that happened, and nothing else', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${demo.adminUrl}/#overview`);
    await page.locator('#error-breakdown tr[data-code]').first().waitFor({ timeout: 15_000 });
    const codes = await page.locator('#error-breakdown tr[data-code]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-code')).sort());
    const legend = await page.locator('.chart').nth(1).locator('.legend-item').allInnerTexts();
    assert.deepEqual(legend.map((s) => s.trim()).sort(), codes);
    assert.doesNotMatch((await page.locator('main').innerText()), /–\s*–/, 'no legend of empty values');
  });

  test('times follow the browser\'s locale: 24-hour in en-GB, in the header and the tables', async () => {
    await page.goto(`${demo.adminUrl}/#calls`);
    await page.locator('#calls-table tbody tr').first().waitFor({ timeout: 15_000 });
    const first = await page.locator('#calls-table tbody tr td').first().innerText();
    assert.match(first, /^\d{2}:\d{2}:\d{2}$/);
    await page.locator('.status .live').waitFor({ timeout: 15_000 });
    assert.match(await page.locator('.status').innerText(), /updated \d{2}:\d{2}:\d{2}$/);
  });

  test('call detail: phases with sub-millisecond precision, the gap before the retry drawn, remedies with code, not backticks', async () => {
    await page.goto(`${demo.adminUrl}/#calls/${retriedId}`);
    await page.locator('#call-timeline .attempt[data-attempt="2"] .phase').first().waitFor({ timeout: 15_000 });
    const notes = await page.locator('#call-timeline .attempt-note').allInnerTexts();
    assert.ok(notes.some((n) => /\b\d+\.\d{1,2}\u00a0ms/.test(n)), `a phase under 10 ms keeps its decimals: ${notes.join(' | ')}`);
    assert.ok(notes.every((n) => !/(^|[^\d.])0\u00a0ms/.test(n)), `no phase rounds to 0 ms: ${notes.join(" | ")}`);
    // The second attempt starts after the first ended plus the backoff: its bar begins with a gap.
    assert.equal(await page.locator('#call-timeline .attempt[data-attempt="2"] .gap').count(), 1);
    const gap = await page.locator('#call-timeline .attempt[data-attempt="2"] .gap').boundingBox();
    assert.ok(gap && gap.width > 0);
    // The bars of all attempts, gaps included, span the call's duration (within rounding).
    const bars = await page.locator('#call-timeline .attempt[data-attempt="2"] .phases').evaluate((el) => {
      const outer = el.getBoundingClientRect();
      const kids = [...el.children].map((c) => c.getBoundingClientRect());
      return { outer: outer.width, drawn: kids.reduce((s, r) => s + r.width, 0) };
    });
    assert.ok(bars.drawn > bars.outer * 0.5, `the second attempt's bar ends near the call's end: ${JSON.stringify(bars)}`);

    await page.goto(`${demo.adminUrl}/#calls/${timeoutId}`);
    await page.locator('#explanation .remedy').waitFor({ timeout: 15_000 });
    const remedy = page.locator('#explanation .remedy');
    assert.doesNotMatch(await remedy.innerText(), /`/);
    assert.ok((await remedy.locator('code').count()) >= 1, 'config keys are shown as code');
    assert.match(await page.locator('#call-timeline .legend').innerText(), /ttfb/);
  });
});
