/** The cluster bus over real IPC channels: forked processes as workers, a PrimaryBus relaying. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Envelope } from '../../src/cluster/bus.js';
import { startPeers, type Peers } from './fixtures/peers.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(10);
  }
}

describe('cluster bus', () => {
  let p: Peers;
  const seen: Envelope[] = [];
  before(async () => {
    p = await startPeers(3);
    p.bus.observe = (e) => void seen.push(e);
  });
  after(() => p.close());

  test('a message to "others" reaches every worker but the sender, relayed by the primary, which sees it pass', async () => {
    const t = { kind: 'returned', upstream: 'u', target: 't:1' };
    assert.equal(await p.run(1, { do: 'send', to: 'others', type: 'transition', body: t }), 'sent');
    await until(() => p.reports.filter((r) => r.reason === 'transition').length === 2);
    await sleep(100);
    const got = p.reports.filter((r) => r.reason === 'transition');
    assert.deepEqual(got.map((r) => r.worker).sort(), [2, 3], 'not back to the sender');
    assert.ok(got.every((r) => r.from === 1));
    assert.deepEqual(got[0]!.body, t);
    assert.ok(seen.some((e) => e.type === 'transition' && e.from === 1 && e.to === 'others'));
  });

  test('"all" includes the sender; "lead" is worker 1; a number is that worker', async () => {
    p.reports.length = 0;
    await p.run(2, { do: 'send', to: 'all', type: 'consumers', body: null });
    await until(() => p.reports.length === 3);
    p.reports.length = 0;
    await p.run(3, { do: 'send', to: 'lead', type: 'consumers', body: null });
    await p.run(1, { do: 'send', to: 3, type: 'consumers', body: null });
    await until(() => p.reports.length === 2);
    await sleep(100);
    assert.deepEqual(p.reports.map((r) => `${r.from}->${r.worker}`).sort(), ['1->3', '3->1']);
  });

  test('a worker asks another worker through the primary and gets its reply', async () => {
    const r = (await p.run(1, { do: 'request', to: 2, type: 'metrics.local', body: null })) as { ok: Array<{ slot: number; from: number }> };
    assert.deepEqual(r.ok.map((x) => [x.slot, x.from]), [[2, 1]]);
  });

  test('requests to the primary: the handler answers, and its error rejects the request', async () => {
    p.bus.on('metrics', (_b, from) => [[`for worker ${from}`]]);
    assert.deepEqual(await p.run(3, { do: 'request', to: 'primary', type: 'metrics', body: null }), { ok: [['for worker 3']] });
    p.bus.on('metrics', () => {
      throw new Error('cannot collect');
    });
    assert.deepEqual(await p.run(3, { do: 'request', to: 'primary', type: 'metrics', body: null }), { error: 'cannot collect' });
    // A type the primary has no handler for is an error too, never a hang.
    const none = (await p.run(2, { do: 'request', to: 'primary', type: 'consumers', body: null })) as { error: string };
    assert.match(none.error, /no handler for consumers in the primary/);
  });

  test('the primary asks a worker (by number or as the lead); a worker handler that throws rejects', async () => {
    const lead = (await p.bus.request('lead', 'metrics.local', null)) as Array<{ slot: number }>;
    assert.equal(lead[0]!.slot, 1);
    await assert.rejects(p.run(2, { do: 'throw' }), /boom/);
  });

  test('a request nobody answers fails after its timeout (a worker that does not exist)', async () => {
    const t0 = Date.now();
    const r = (await p.run(1, { do: 'request', to: 9, type: 'metrics.local', body: null, timeout: 200 })) as { error: string };
    assert.match(r.error, /no reply to metrics.local from worker 9 within 200 ms/);
    assert.ok(Date.now() - t0 < 2000);
  });

  test('structured clone: undefined, Infinity and Maps cross as they are', async () => {
    const body = { a: undefined, b: Infinity, c: new Map([['k', 1]]) };
    p.reports.length = 0;
    await p.run(1, { do: 'send', to: 2, type: 'transition', body });
    await until(() => p.reports.length === 1);
    const got = p.reports[0]!.body as typeof body;
    assert.ok('a' in got && got.a === undefined);
    assert.equal(got.b, Infinity);
    assert.equal(got.c.get('k'), 1);
  });
});
