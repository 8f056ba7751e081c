/**
 * One conformance suite for every CallStore (the SQLite call log of one gateway, the PostgreSQL
 * call log of a fleet), then what only the fleet's log does: the node of every call, day
 * partitions dropped whole by retention, and a bounded buffer while the database is down.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, migrate, type Sql } from '../../src/fleet/db.js';
import { EventLog } from '../../src/observe/events.js';
import type { CallRecord } from '../../src/observe/call-record.js';
import type { CallStore } from '../../src/observe/store-api.js';
import { openCallStore } from '../../src/observe/store.js';
import { PgCallStore } from '../../src/observe/store-pg.js';
import { attempt, call } from '../helpers/calls.js';
import { postgresMissing, startPostgres, type PostgresServer } from '../helpers/postgres.js';

interface Backend {
  open(now: () => number): Promise<CallStore>;
  /** What a read adds to a record (a fleet's log: the node). */
  extra: Partial<CallRecord>;
  close(): Promise<void>;
}

const NOW = Date.UTC(2026, 11, 8, 12, 0, 0);

function conformance(name: string, make: () => Promise<Backend>): void {
  describe(`CallStore conformance: ${name}`, () => {
    let backend: Backend;
    let store: CallStore;
    before(async () => {
      backend = await make();
      store = await backend.open(() => NOW);
    });
    after(async () => {
      await store?.close();
      await backend?.close();
    });

    it('queues, writes on flush, reads a call back whole by id', async () => {
      const failed = call({ time: NOW - 5000, code: 'UPSTREAM_CONNECTION_REFUSED', route: 'pay', upstream: 'payments', traceId: 'a'.repeat(32), consumer: 'mobile' });
      const odd = call({ time: NOW - 4000, path: '/a\tb\nc\\d\r"\'é', method: 'POST', attempts: [attempt('127.0.0.1:1', 'UPSTREAM_CONNECT_TIMEOUT', { error: 'ETIMEDOUT\tx', retry: 'connect-failure' }), attempt('127.0.0.1:2', 200)] });
      store.record(failed);
      store.record(odd);
      await store.flush();
      assert.deepEqual(await store.get(failed.requestId), { ...failed, ...backend.extra });
      assert.deepEqual(await store.get(odd.requestId), { ...odd, ...backend.extra }, 'tabs, newlines, backslashes and quotes survive');
      assert.equal(await store.get('no-such-id'), undefined);
    });

    it('filters by route, upstream, code, status and time, newest first, with a limit', async () => {
      for (let i = 0; i < 20; i++) store.record(call({ time: NOW - 60_000 + i * 1000, route: i % 2 ? 'a' : 'b', upstream: 'u', status: i % 5 === 0 ? 503 : 200 }));
      await store.flush();
      const a = await store.query({ route: 'a' });
      assert.equal(a.length, 10);
      assert.ok(a.every((c, i) => i === 0 || a[i - 1]!.time >= c.time), 'newest first');
      assert.equal((await store.query({ code: 'UPSTREAM_CONNECTION_REFUSED' })).length, 1);
      assert.equal((await store.query({ upstream: 'u', status: 503 })).length, 4);
      assert.equal((await store.query({ upstream: 'u', since: NOW - 50_000, until: NOW - 45_000 })).length, 5);
      assert.equal((await store.query({ upstream: 'u', limit: 3 })).length, 3);
      assert.equal((await store.query({ since: NOW + 60_000 })).length, 0);
    });

    it('aggregates stats: buckets, errors by code, percentiles, top failing routes', async () => {
      for (let i = 0; i < 100; i++) store.record(call({ time: NOW - 30 * 60_000 + i, route: 'slow', upstream: 's', durationMs: i < 90 ? 10 : 1000, ...(i < 3 ? { code: 'UPSTREAM_RESPONSE_TIMEOUT', status: 504 } : {}) }));
      await store.flush();
      const s = await store.stats({ since: NOW - 40 * 60_000, until: NOW - 20 * 60_000, bucket: 60_000, route: 'slow' });
      assert.equal(s.buckets.length, 20);
      assert.equal(s.totals.requests, 100);
      assert.equal(s.totals.errors, 3);
      assert.deepEqual(s.totals.byCode, { UPSTREAM_RESPONSE_TIMEOUT: 3 });
      assert.ok(Math.abs(s.totals.p50! - 10) < 1, `p50 ${s.totals.p50}`);
      assert.ok(Math.abs(s.totals.p99! - 1000) < 60, `p99 ${s.totals.p99}`);
      assert.equal(s.buckets.filter((b) => b.requests > 0).length, 1);
      assert.deepEqual(s.topFailingRoutes, [{ route: 'slow', errors: 3, requests: 100 }]);
      const fine = await store.stats({ since: NOW - 30 * 60_000, until: NOW - 30 * 60_000 + 10_000, bucket: 1000, upstream: 's' });
      assert.equal(fine.totals.requests, 100);
      assert.equal(fine.buckets[0]!.requests, 100);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'causeway-calls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
conformance('SQLite', async () => ({
  open: async (now) => openCallStore({ path: join(dir, 'calls.db'), now }),
  extra: {},
  close: async () => undefined,
}));

const missing = postgresMissing();

describe('PostgreSQL call log', { skip: missing ?? false }, () => {
  let pg: PostgresServer;
  let sql: Sql;
  before(async () => {
    pg = await startPostgres();
    sql = connect(pg.url, { max: 4, connectTimeout: 2 });
    await migrate(sql);
  });
  after(async () => {
    await sql?.end({ timeout: 1 });
    pg?.destroy();
  });

  conformance('PostgreSQL', async () => ({
    open: (now) => PgCallStore.open(sql, { node: 'node-a', now, prune: false }),
    extra: { node: 'node-a' },
    close: async () => {
      await sql`TRUNCATE calls`;
    },
  }));

  it('every call carries its node; queries and stats filter by node across the fleet', async () => {
    const a = await PgCallStore.open(sql, { node: 'gw-a', prune: false });
    const b = await PgCallStore.open(sql, { node: 'gw-b', prune: false });
    const t = Date.now();
    for (let i = 0; i < 7; i++) a.record(call({ time: t - i, route: 'n' }));
    for (let i = 0; i < 5; i++) b.record(call({ time: t - i, route: 'n', code: 'CIRCUIT_OPEN', status: 503 }));
    await Promise.all([a.flush(), b.flush()]);
    assert.equal((await a.query({ route: 'n' })).length, 12, 'every node reads the whole fleet');
    assert.equal((await a.query({ route: 'n', node: 'gw-b' })).length, 5);
    assert.ok((await b.query({ route: 'n', node: 'gw-b' })).every((c) => c.node === 'gw-b' && c.code === 'CIRCUIT_OPEN'));
    const all = await b.stats({ since: t - 60_000, until: t + 1, bucket: 61_001, route: 'n' });
    const onA = await b.stats({ since: t - 60_000, until: t + 1, bucket: 61_001, route: 'n', node: 'gw-a' });
    assert.deepEqual([all.totals.requests, all.totals.errors, onA.totals.requests, onA.totals.errors], [12, 5, 7, 0]);
    await Promise.all([a.close(), b.close()]);
  });

  it('retention drops whole day partitions, never rows of a day it keeps', async () => {
    const day = 86_400_000;
    let now = Date.UTC(2026, 0, 10, 12);
    const store = await PgCallStore.open(sql, { node: 'gw-r', maxAgeMs: 2 * day, prune: false, now: () => now });
    for (let d = 0; d < 5; d++) store.record(call({ time: Date.UTC(2026, 0, 5 + d, 6), route: 'r' }));
    await store.flush();
    const parts = async () => (await sql<Array<{ name: string }>>`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'calls' AND c.relname LIKE 'calls_202601%' ORDER BY 1`).map((r) => r.name);
    assert.deepEqual(await parts(), ['calls_20260105', 'calls_20260106', 'calls_20260107', 'calls_20260108', 'calls_20260109', 'calls_20260110', 'calls_20260111']);
    // Cutoff Jan 8 12:00: the days wholly before it go; Jan 8 (partly inside) stays whole.
    assert.deepEqual(await store.prune(), ['calls_20260105', 'calls_20260106', 'calls_20260107']);
    assert.equal((await store.query({ route: 'r' })).length, 2);
    now += day;
    assert.deepEqual(await store.prune(), ['calls_20260108']);
    await store.close();
  });

  it('the database down: the buffer fills to its bound, the overflow is dropped and counted (event), nothing blocks; back up, it drains', async () => {
    const events = new EventLog();
    const store = await PgCallStore.open(sql, { node: 'gw-o', maxBuffered: 1000, batchSize: 200, flushMs: 20, prune: false });
    store.events = events;
    pg.stop();
    try {
      const t0 = performance.now();
      for (let i = 0; i < 1500; i++) store.record(call({ route: 'o' }));
      assert.ok(performance.now() - t0 < 1000, 'record() never waits for the database');
      await new Promise((r) => setTimeout(r, 300));
      const c = store.counts();
      assert.equal(c.dropped, 500);
      assert.equal(c.buffered, 1000);
      assert.ok(c.failedWrites >= 1);
      const types = events.recent().map((e) => e.type);
      assert.ok(types.includes('calllog.overflow'), types.join());
      assert.ok(types.includes('calllog.down'), types.join());
    } finally {
      pg.start();
    }
    const end = Date.now() + 10_000;
    while (store.counts().buffered > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.equal(store.counts().buffered, 0, 'the buffer drains once the database is back');
    assert.equal(store.counts().written, 1000);
    assert.equal((await store.query({ route: 'o', limit: 1000 })).length, 1000);
    assert.ok(events.recent().some((e) => e.type === 'calllog.up'));
    await store.close();
  });
});
