import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openCallStore } from '../../src/observe/store.js';
import { CallWriter } from '../../src/observe/store-writer.js';
import { SCHEMA, pushRow, type RowValue } from '../../src/observe/store-format.js';
import { call } from '../helpers/calls.js';
import { ok, refusing, type TestBackend } from '../helpers/backends.js';
import { startGateway } from '../helpers/gateway.js';

const dirs: string[] = [];
function tempDb(): string {
  const d = mkdtempSync(join(tmpdir(), 'causeway-store-'));
  dirs.push(d);
  return join(d, 'sub', 'calls.db');
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('call store', () => {
  it("keeps the writer's statement journals in memory (no temporary file per batch)", () => {
    const db = new Database(tempDb().replace('/sub', ''));
    db.exec(SCHEMA);
    const writer = new CallWriter(db, { maxAgeMs: 86_400_000, maxRows: 1e6, now: Date.now });
    assert.equal(db.pragma('temp_store', { simple: true }), 2); // MEMORY
    const rows: RowValue[] = [];
    for (let i = 0; i < 100; i++) pushRow(call(), rows);
    writer.write(rows);
    assert.equal((db.prepare('SELECT count(*) AS n FROM calls').get() as { n: number }).n, 100);
    db.close();
  });

  it('writes in batches, reads by id and by filters, and survives a restart', async () => {
    const path = tempDb();
    const store = openCallStore({ path });
    const failed = call({ code: 'UPSTREAM_CONNECTION_REFUSED', route: 'pay', upstream: 'payments', traceId: 'a'.repeat(32) });
    const good = call();
    store.record(failed);
    store.record(good);
    // Queued, not written yet: the write happens on the batch timer.
    assert.equal(store.get(failed.requestId), undefined);
    store.flush();
    assert.deepEqual(store.get(failed.requestId), failed);
    assert.equal(store.query({ code: 'UPSTREAM_CONNECTION_REFUSED' }).length, 1);
    assert.equal(store.query({ route: 'orders', status: 200 })[0]!.requestId, good.requestId);
    assert.equal(store.query({ upstream: 'payments', since: failed.time - 1, until: failed.time + 1 }).length, 1);
    assert.equal(store.query({ since: Date.now() + 60_000 }).length, 0);
    await store.close();

    const again = openCallStore({ path });
    assert.equal(again.get(good.requestId)?.status, 200);
    assert.equal(again.get(failed.requestId)?.traceId, 'a'.repeat(32));
    await again.close();
  });

  it('writes a batch by itself after the flush interval', async () => {
    const store = openCallStore({ path: tempDb(), flushMs: 50 });
    const c = call();
    store.record(c);
    const end = Date.now() + 3000;
    while (!store.get(c.requestId) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.ok(store.get(c.requestId), 'written within 3 s');
    await store.close();
  });

  it('returns queries newest first, limited to 1000', async () => {
    const store = openCallStore({ path: ':memory:' });
    const t0 = Date.now() - 10_000;
    for (let i = 0; i < 1200; i++) store.record(call({ time: t0 + i }));
    store.flush();
    const rows = store.query({ limit: 5000 });
    assert.equal(rows.length, 1000);
    assert.equal(rows[0]!.time, t0 + 1199);
    assert.equal(store.query({}).length, 100);
    // 1200 rows = 37 multi-row INSERTs of 32 and 16 single ones: each stored once, in order.
    assert.equal(store.count({}), 1200);
    assert.deepEqual(new Set(rows.map((r) => r.time)).size, 1000);
    assert.equal(rows[999]!.time, t0 + 200);
    await store.close();
  });

  it('aggregates rates, codes per bucket, percentiles and the failing routes', async () => {
    const store = openCallStore({ path: ':memory:' });
    const since = 1_700_000_000_000;
    // Bucket 0: 100 calls of 1..100 ms. Bucket 1: 10 connect timeouts and 5 backend 503s.
    for (let i = 1; i <= 100; i++) store.record(call({ time: since + i, durationMs: i }));
    for (let i = 0; i < 10; i++) store.record(call({ time: since + 10_000 + i, code: 'UPSTREAM_CONNECT_TIMEOUT', status: 504, durationMs: 1000, route: 'pay' }));
    for (let i = 0; i < 5; i++) store.record(call({ time: since + 10_500 + i, status: 503, durationMs: 20 }));
    store.flush();
    const s = store.stats({ since, until: since + 30_000, bucket: 10_000 });
    assert.equal(s.buckets.length, 3);
    assert.deepEqual(
      s.buckets.map((b) => [b.requests, b.errors]),
      [
        [100, 0],
        [15, 15],
        [0, 0],
      ],
    );
    assert.deepEqual(s.buckets[1]!.byCode, { UPSTREAM_CONNECT_TIMEOUT: 10 });
    const p50 = s.buckets[0]!.p50!;
    const p99 = s.buckets[0]!.p99!;
    assert.ok(Math.abs(p50 - 50) <= 2, `p50 ${p50}`);
    assert.ok(Math.abs(p99 - 99) <= 3, `p99 ${p99}`);
    assert.equal(s.buckets[2]!.p99, null);
    assert.equal(s.totals.requests, 115);
    assert.equal(s.totals.errors, 15);
    assert.deepEqual(s.topFailingRoutes, [
      { route: 'pay', errors: 10, requests: 10 },
      { route: 'orders', errors: 5, requests: 105 },
    ]);
    const pay = store.stats({ since, until: since + 30_000, bucket: 30_000, route: 'pay' });
    assert.equal(pay.totals.requests, 10);
    assert.ok(Math.abs(pay.totals.p50! - 1000) < 25);
    await store.close();
  });

  it('prunes by age and by row count, oldest first', async () => {
    let now = 1_700_000_000_000;
    const store = openCallStore({ path: tempDb(), maxAgeMs: 60_000, maxRows: 50, now: () => now });
    for (let i = 0; i < 100; i++) store.record(call({ time: now - 120_000 + i * 1000 }));
    store.flush();
    // 100 calls over the last 120 s: those older than 60 s go (40 left), then the row cap (still 40).
    store.prune();
    assert.equal(store.count({}), 40);
    now += 10_000;
    store.prune();
    assert.equal(store.count({}), 30);
    for (let i = 0; i < 40; i++) store.record(call({ time: now }));
    store.flush();
    store.prune();
    assert.equal(store.count({}), 50);
    assert.ok(store.query({ limit: 1000 }).every((c) => c.time >= now - 60_000));
    await store.close();
  });

  it('loses at most the last batch when the process dies', async () => {
    const path = tempDb();
    const storeUrl = new URL('../../src/observe/store.js', import.meta.url).href;
    // The child hands one full batch (500) to the writer, queues 3 more, and dies without closing.
    const script = `
      import { openCallStore } from ${JSON.stringify(storeUrl)};
      const s = openCallStore({ path: ${JSON.stringify(path)}, flushMs: 60000 });
      const rec = (id) => ({ requestId: id, time: Date.now(), route: 'r', upstream: 'u', consumer: null, method: 'GET', path: '/', status: 200, code: null, attempts: [], bytesIn: 0, bytesOut: 0, durationMs: 1, clientIp: '127.0.0.1' });
      for (let i = 0; i < 500; i++) s.record(rec('batch-' + i));
      // The full batch goes to the writer thread; give it a moment to commit, then die with 3 queued.
      setTimeout(() => {
        for (let i = 0; i < 3; i++) s.record(rec('late-' + i));
        process.kill(process.pid, 'SIGKILL');
      }, 500);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
    const signal = await new Promise((r) => child.once('exit', (_c, sig) => r(sig)));
    assert.equal(signal, 'SIGKILL');
    const store = openCallStore({ path });
    assert.equal(store.count({}), 500);
    assert.ok(store.get('batch-499'));
    assert.equal(store.get('late-0'), undefined);
    await store.close();
  });

  it('starts its writer thread when node runs with a flag threads refuse (--single-threaded-gc)', async () => {
    const path = tempDb();
    const storeUrl = new URL('../../src/observe/store.js', import.meta.url).href;
    const script = `
      import { openCallStore } from ${JSON.stringify(storeUrl)};
      const s = openCallStore({ path: ${JSON.stringify(path)} });
      for (let i = 0; i < 10; i++) s.record({ requestId: 'r-' + i, time: Date.now(), route: 'r', upstream: 'u', consumer: null, method: 'GET', path: '/', status: 200, code: null, attempts: [], bytesIn: 0, bytesOut: 0, durationMs: 1, clientIp: '127.0.0.1' });
      await s.close();`;
    const child = spawn(process.execPath, ['--single-threaded-gc', '--input-type=module', '-e', script], { stdio: 'inherit' });
    const code = await new Promise((r) => child.once('exit', (c) => r(c)));
    assert.equal(code, 0);
    const store = openCallStore({ path, readonly: true });
    assert.equal(store.count({}), 10);
    await store.close();
  });

  it('opens read-only while a writer has it open', async () => {
    const path = tempDb();
    const writer = openCallStore({ path });
    const c = call();
    writer.record(c);
    writer.flush();
    const reader = openCallStore({ path, readonly: true });
    assert.equal(reader.get(c.requestId)?.requestId, c.requestId);
    await reader.close();
    await writer.close();
  });
});

describe('call store in a gateway', () => {
  let good: TestBackend;
  let down: TestBackend;
  before(async () => {
    good = await ok();
    down = await refusing();
  });
  after(async () => {
    await good.close();
    await down.close();
  });

  it('logs every call with its attempts and trace id, and stop() writes what is queued', async () => {
    const path = tempDb();
    const gw = await startGateway(`
storage: { path: ${path} }
upstreams:
  good: { targets: [{ url: "${good.url}" }] }
  down: { targets: [{ url: "${down.url}" }], retries: { attempts: 1 } }
routes:
  - { name: good, match: { path: /good/* }, upstream: good }
  - { name: down, match: { path: /down/* }, upstream: down }
`);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${gw.url}/${i % 2 ? 'down' : 'good'}/x`);
      await res.arrayBuffer();
      ids.push(res.headers.get('x-request-id')!);
    }
    await gw.close();
    const store = openCallStore({ path, readonly: true });
    for (const id of ids) assert.ok(store.get(id), `call ${id} logged`);
    const failed = store.get(ids[1]!)!;
    assert.equal(failed.code, 'UPSTREAM_CONNECTION_REFUSED');
    assert.equal(failed.attempts[0]!.outcome, 'UPSTREAM_CONNECTION_REFUSED');
    assert.match(failed.traceId ?? '', /^[0-9a-f]{32}$/);
    assert.equal(store.stats({ since: Date.now() - 60_000, bucket: 60_000 }).totals.byCode['UPSTREAM_CONNECTION_REFUSED'], 10);
    await store.close();
  });

  it('keeps no call log with storage disabled', async () => {
    const gw = await startGateway(`
storage: { enabled: false }
upstreams: { good: { targets: [{ url: "${good.url}" }] } }
routes: [{ name: good, match: { path: /* }, upstream: good }]
`);
    assert.equal(gw.gateway.store, null);
    await gw.close();
  });
});
