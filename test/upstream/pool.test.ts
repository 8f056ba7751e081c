import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { TargetPool, type PoolOptions, type Slot } from '../../src/upstream/pool.js';
import { parseTarget, type Target } from '../../src/upstream/target.js';

// A real backend on loopback: counts the connections it accepted and which are still open.
let backend: http.Server;
let target: Target;
const open = new Set<Socket>();
let accepted = 0;

before(async () => {
  backend = http.createServer((req, res) => {
    req.resume();
    res.end(`ok ${req.url}`);
  });
  backend.on('connection', (s: Socket) => {
    accepted++;
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  target = parseTarget(`http://127.0.0.1:${(backend.address() as AddressInfo).port}`);
});

after(async () => {
  backend.closeAllConnections();
  await new Promise<void>((r) => backend.close(() => r()));
});

const pools: TargetPool[] = [];

function pool(opts: Partial<Omit<PoolOptions, 'connect'>> = {}): TargetPool {
  const p = new TargetPool(target, { maxConnections: 2, maxQueue: 10, queueTimeout: 5000, idleTimeout: 4000, ...opts, connect: { timeout: 2000 } });
  pools.push(p);
  return p;
}

after(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

type Outcome = { slot: Slot | null; reason: string | undefined; at: number };

/** Leases and records what the callback got, and whether it came synchronously. */
function lease(p: TargetPool): { outcome: Outcome | null; sync: boolean; cancel: (() => void) | undefined; calls: number } {
  const r = { outcome: null as Outcome | null, sync: false, cancel: undefined as (() => void) | undefined, calls: 0 };
  let returned = false;
  r.cancel = p.lease((slot, reason) => {
    r.calls++;
    r.outcome = { slot, reason, at: performance.now() };
    r.sync = !returned;
  });
  returned = true;
  return r;
}

/** Still waiting (a call, so that assertions on it do not narrow the type for later lines). */
const waiting = (w: { outcome: Outcome | null }): boolean => w.outcome === null;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() > end) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

describe('TargetPool', () => {
  test('leases up to maxConnections slots synchronously, each a different slot', () => {
    const p = pool({ maxConnections: 3 });
    const got = [lease(p), lease(p), lease(p)];
    for (const g of got) {
      assert.ok(g.sync, 'the callback ran before lease() returned');
      assert.equal(g.cancel, undefined, 'nothing to cancel when served at once');
      assert.ok(g.outcome?.slot);
      assert.equal(g.outcome.reason, undefined);
    }
    assert.equal(new Set(got.map((g) => g.outcome!.slot)).size, 3);
    assert.deepEqual(p.stats(), { size: 3, inUse: 3, idle: 0, connected: 0, queued: 0, maxConnections: 3, exhausted: 0 });
  });

  test('a released slot is reused before a new one is made', () => {
    const p = pool({ maxConnections: 3 });
    const a = lease(p).outcome!.slot!;
    p.release(a);
    assert.equal(lease(p).outcome!.slot, a);
    assert.equal(p.stats().size, 1);
  });

  test('when all are busy, the next lease waits and gets the released slot, first come first served', () => {
    const p = pool({ maxConnections: 1 });
    const s = lease(p).outcome!.slot!;
    const w1 = lease(p);
    const w2 = lease(p);
    const w3 = lease(p);
    for (const w of [w1, w2, w3]) {
      assert.ok(waiting(w), 'a waiter is not called back yet');
      assert.equal(typeof w.cancel, 'function');
    }
    assert.equal(p.stats().queued, 3);

    p.release(s);
    assert.equal(w1.outcome?.slot, s, 'the oldest waiter gets the slot');
    assert.ok(waiting(w2));
    assert.equal(p.stats().inUse, 1, 'a slot handed to a waiter stays in use');
    assert.equal(p.stats().queued, 2);

    p.release(s);
    assert.equal(w2.outcome?.slot, s);
    p.release(s);
    assert.equal(w3.outcome?.slot, s);
    p.release(s);
    assert.deepEqual(p.stats(), { size: 1, inUse: 0, idle: 1, connected: 0, queued: 0, maxConnections: 1, exhausted: 0 });
    for (const w of [w1, w2, w3]) assert.equal(w.calls, 1);
  });

  test("a waiter whose queueTimeout expires gets 'queue-timeout', and no slot later", async () => {
    const p = pool({ maxConnections: 1, queueTimeout: 60 });
    const s = lease(p).outcome!.slot!;
    const t0 = performance.now();
    const w = lease(p);
    await waitFor(() => w.outcome !== null, 'the queue timeout');
    const waited = w.outcome!.at - t0;
    assert.equal(w.outcome!.slot, null);
    assert.equal(w.outcome!.reason, 'queue-timeout');
    assert.ok(waited >= 50 && waited < 2000, `waited ${waited} ms for a 60 ms queue timeout`);
    assert.equal(p.stats().queued, 0);
    assert.equal(p.stats().exhausted, 1);
    p.release(s);
    assert.equal(w.calls, 1, 'never called again');
    assert.equal(p.stats().idle, 1);
    w.cancel!(); // cancelling after the timeout is harmless
    assert.equal(p.stats().queued, 0);
  });

  test("with maxQueue waiters already waiting, the next lease fails at once with 'queue-full'", () => {
    const p = pool({ maxConnections: 1, maxQueue: 2 });
    lease(p);
    const w1 = lease(p);
    const w2 = lease(p);
    const full = lease(p);
    assert.ok(waiting(w1));
    assert.ok(waiting(w2));
    assert.ok(full.sync);
    assert.equal(full.outcome?.slot, null);
    assert.equal(full.outcome?.reason, 'queue-full');
    assert.equal(full.cancel, undefined);
    assert.equal(p.stats().exhausted, 1);
    assert.equal(p.stats().queued, 2);
  });

  test('maxQueue 0, or queueTimeout 0, never waits', () => {
    for (const opts of [{ maxQueue: 0 }, { queueTimeout: 0 }]) {
      const p = pool({ maxConnections: 1, ...opts });
      lease(p);
      const w = lease(p);
      assert.ok(w.sync, JSON.stringify(opts));
      assert.equal(w.outcome?.reason, 'queue-full');
      assert.equal(p.stats().queued, 0);
    }
  });

  test('cancelled waiters do not count toward maxQueue and never receive a slot', async () => {
    const p = pool({ maxConnections: 1, maxQueue: 1, queueTimeout: 80 });
    const s = lease(p).outcome!.slot!;
    const gone = lease(p);
    gone.cancel!();
    gone.cancel!(); // twice is harmless
    assert.equal(p.stats().queued, 0);

    const next = lease(p);
    assert.ok(waiting(next), 'the cancelled waiter left room in the queue');
    assert.equal(p.stats().queued, 1);

    p.release(s);
    assert.equal(next.outcome?.slot, s, 'the live waiter, not the cancelled one, gets the slot');
    await sleep(160); // past the cancelled waiter's queue timeout
    assert.equal(gone.calls, 0, 'a cancelled waiter is never called back');
    assert.equal(p.stats().exhausted, 0, 'a cancelled wait is not a failed lease');
    next.cancel!(); // cancelling after being served is harmless
    assert.equal(p.stats().queued, 0);
  });

  test('many cancelled waiters do not pile up', () => {
    const p = pool({ maxConnections: 1, maxQueue: 3 });
    const s = lease(p).outcome!.slot!;
    for (let i = 0; i < 1000; i++) lease(p).cancel!();
    const live = lease(p);
    assert.equal(p.stats().queued, 1);
    p.release(s);
    assert.equal(live.outcome?.slot, s);
  });

  test('stats() follows slots, connections, waiters and failures', async () => {
    const p = pool({ maxConnections: 2, maxQueue: 1, queueTimeout: 40 });
    const before = accepted;
    const a = lease(p).outcome!.slot!;
    const b = lease(p).outcome!.slot!;
    const connected = await Promise.all(
      [a, b].map((s) => new Promise<boolean>((r) => s.connect(2000, (fail) => r(fail === null)))),
    );
    assert.deepEqual(connected, [true, true]);
    await waitFor(() => accepted - before === 2, 'the backend to accept 2 connections');
    assert.deepEqual(p.stats(), { size: 2, inUse: 2, idle: 0, connected: 2, queued: 0, maxConnections: 2, exhausted: 0 });

    const w = lease(p);
    lease(p); // queue full
    assert.deepEqual(p.stats(), { size: 2, inUse: 2, idle: 0, connected: 2, queued: 1, maxConnections: 2, exhausted: 1 });
    await waitFor(() => w.outcome !== null, 'the queue timeout');
    assert.equal(p.stats().exhausted, 2);

    // a's connection never carried an exchange (as when its call ended while it was opening):
    // handed back, it is closed rather than kept unread in the idle list.
    p.release(a);
    assert.deepEqual(p.stats(), { size: 2, inUse: 1, idle: 1, connected: 1, queued: 0, maxConnections: 2, exhausted: 2 });
    b.dropConnection();
    assert.equal(p.stats().connected, 0);
    p.release(b);
    assert.deepEqual(p.stats(), { size: 2, inUse: 0, idle: 2, connected: 0, queued: 0, maxConnections: 2, exhausted: 2 });
    await p.close();
  });

  test('a leased slot carries requests over the connection it opened, and keeps it alive for the next', async () => {
    const p = pool({ maxConnections: 1 });
    const before = accepted;
    const s = lease(p).outcome!.slot!;
    const fail = await new Promise((r) => s.connect(2000, r));
    assert.equal(fail, null);
    for (const path of ['/one', '/two']) {
      const res = await s.client.request({ path, method: 'GET' });
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), `ok ${path}`);
    }
    assert.equal(accepted - before, 1, 'both requests used the one connection');
    p.release(s);
  });

  test('close() fails waiters and closes connections, also ones opened but never used', async () => {
    const p = pool({ maxConnections: 1 });
    const before = accepted;
    const earlier = new Set(open);
    const s = lease(p).outcome!.slot!;
    await new Promise((r) => s.connect(2000, r));
    await waitFor(() => accepted - before === 1, 'the backend to accept the connection');
    const mine = [...open].filter((sock) => !earlier.has(sock));
    assert.equal(mine.length, 1);
    const w1 = lease(p);
    const w2 = lease(p);
    await p.close();
    for (const w of [w1, w2]) {
      assert.equal(w.calls, 1);
      assert.equal(w.outcome?.slot, null);
      assert.ok(w.outcome?.reason, 'a reason is given');
    }
    assert.equal(p.stats().queued, 0);
    assert.equal(s.connected, false);
    await waitFor(() => !open.has(mine[0]!), 'the backend to see the connection closed');
  });
});
