/** Observed health: what recent traffic says about a target, shown apart from active checks and ejection. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as B from '../helpers/backends.js';
import { startGateway } from '../helpers/gateway.js';
import { OBSERVED_WINDOW, ObservedOutcomes } from '../../src/upstream/health.js';

describe('ObservedOutcomes', () => {
  const cases: Array<[string, boolean[], { failing: boolean; failures: number; calls: number }]> = [
    ['no calls', [], { failing: false, failures: 0, calls: 0 }],
    ['two failures are too few to judge', [true, true], { failing: false, failures: 2, calls: 2 }],
    ['three failures in a row', [true, true, true], { failing: true, failures: 3, calls: 3 }],
    ['half failing, the last one too', [false, true, false, true], { failing: true, failures: 2, calls: 4 }],
    ['half failing, but the last call succeeded', [true, false, true, false], { failing: false, failures: 2, calls: 4 }],
    ['a minority failing', [true, false, false, false, true], { failing: false, failures: 2, calls: 5 }],
    ['old failures leave the window', [...Array<boolean>(OBSERVED_WINDOW).fill(true), ...Array<boolean>(OBSERVED_WINDOW).fill(false)], { failing: false, failures: 0, calls: OBSERVED_WINDOW }],
  ];
  for (const [name, outcomes, want] of cases) {
    it(name, () => {
      const o = new ObservedOutcomes();
      for (const f of outcomes) o.record(f, f ? 'UPSTREAM_CONNECTION_REFUSED (ECONNREFUSED)' : undefined);
      const s = o.stats();
      assert.deepEqual({ failing: s.failing, failures: s.failures, calls: s.calls }, want);
    });
  }
  it('names the last failure by its code, or the status the backend answered', () => {
    const o = new ObservedOutcomes();
    o.record(true, 'UPSTREAM_CONNECTION_RESET (ECONNRESET)');
    assert.equal(o.stats().lastCode, 'UPSTREAM_CONNECTION_RESET');
    o.record(true, 'answered 503');
    assert.equal(o.stats().lastCode, 'status 503');
  });
});

describe('a target failing its calls, with no health check configured', { timeout: 30_000 }, () => {
  it('is shown as failing with its failure rate and last code, not as up', async () => {
    const down = await B.refusing();
    const good = await B.ok();
    const gw = await startGateway(`log: { access: false }
upstreams: { orders: { targets: [{ url: "${down.url}" }, { url: "${good.url}" }], balance: round-robin, retries: { attempts: 2, on: [connect-failure] } } }
routes: [{ name: orders, match: { path: /* }, upstream: orders }]`);
    try {
      for (let i = 0; i < 8; i++) assert.equal((await fetch(gw.url + '/x')).status, 200, 'retries mask the dead target');
      const [dead, alive] = gw.gateway.upstreams.get('orders')!.stats().targets;
      assert.equal(dead!.state, 'failing');
      assert.equal(dead!.activeHealth, 'not-configured');
      assert.equal(dead!.observed.failureRate, 1);
      assert.equal(dead!.observed.lastCode, 'UPSTREAM_CONNECTION_REFUSED');
      assert.equal(dead!.ejected, false, 'failing is not ejection: no passive check is configured');
      assert.equal(alive!.state, 'up');
      assert.equal(alive!.observed.failures, 0);
    } finally {
      await gw.close();
      await down.close();
      await good.close();
    }
  });
});
