import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { EventLog, type GatewayEvent } from '../../src/observe/events.js';
import { Upstream, type TargetState } from '../../src/upstream/upstream.js';

// No traffic flows in these tests: pick() and report() are pure bookkeeping, so the target ports
// only need to be distinct loopback addresses (nothing ever connects to them).
const PORTS = [19001, 19002, 19003, 19004];

const made: Upstream[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((u) => u.close()));
});

interface Opts {
  targets?: number;
  passive?: string | null;
  breaker?: string | null;
  balance?: string;
}

/** An Upstream built from a parsed YAML config, with its own EventLog. */
function upstream(o: Opts = {}): { u: Upstream; events: EventLog; seen: GatewayEvent[] } {
  const n = o.targets ?? 3;
  const lines = ['upstreams:', '  orders:', '    targets:'];
  for (let i = 0; i < n; i++) lines.push(`      - { url: http://127.0.0.1:${PORTS[i]} }`);
  if (o.balance) lines.push(`    balance: ${o.balance}`);
  if (o.passive !== null) lines.push('    healthCheck:', `      passive: ${o.passive ?? '{ consecutiveFailures: 3, ejectFor: 150ms, maxEjectFor: 1s, maxEjectedPercent: 50% }'}`);
  if (o.breaker) lines.push(`    circuitBreaker: ${o.breaker}`);
  const config = parseConfig(lines.join('\n') + '\n', 'upstream.yaml', {});
  const events = new EventLog();
  const seen: GatewayEvent[] = [];
  events.on('event', (e: GatewayEvent) => seen.push(e));
  const u = new Upstream('orders', config.upstreams['orders']!, undefined, events);
  made.push(u);
  return { u, events, seen };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

function fail(u: Upstream, t: TargetState, n: number, reason = 'connection refused'): void {
  for (let i = 0; i < n; i++) u.report(t, 'failure', reason);
}

/** Target ids of `n` picks. */
function picks(u: Upstream, n: number): Array<string | null> {
  const out: Array<string | null> = [];
  for (let i = 0; i < n; i++) out.push(u.pick(null)?.target.id ?? null);
  return out;
}

function counts(ids: Array<string | null>): Map<string | null, number> {
  const m = new Map<string | null, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

describe('Upstream: picking', () => {
  test('round-robin spreads picks evenly over every target', () => {
    const { u } = upstream({ targets: 3 });
    const c = counts(picks(u, 300));
    assert.equal(c.size, 3);
    for (const t of u.targets) assert.equal(c.get(t.target.id), 100, `target ${t.target.id}`);
    // Consecutive picks differ.
    const seq = picks(u, 6);
    for (let i = 1; i < seq.length; i++) assert.notEqual(seq[i], seq[i - 1]);
  });

  test('a single target is always picked', () => {
    const { u } = upstream({ targets: 1 });
    assert.deepEqual(new Set(picks(u, 10)), new Set([u.targets[0]!.target.id]));
  });

  test('prefers targets this call has not tried, and falls back to tried ones when none is left', () => {
    const { u } = upstream({ targets: 3 });
    const [a, b, c] = u.targets as [TargetState, TargetState, TargetState];
    for (let i = 0; i < 20; i++) assert.equal(u.pick(new Set([a, b])), c);
    for (let i = 0; i < 20; i++) assert.notEqual(u.pick(new Set([a])), a);
    for (let i = 0; i < 20; i++) assert.ok(u.pick(new Set([a, b, c])) !== null);
  });

  test('a target with a raced (slow) connect pending is avoided while any other will do, and back once it settles', () => {
    const { u } = upstream({ passive: null });
    const [a, b, c] = u.targets;
    u.connectRaced(b!);
    for (let i = 0; i < 12; i++) assert.notEqual(u.pick(null), b);
    assert.equal(u.hasAlternative(null, a!), true, 'c is left');
    assert.equal(u.hasAlternative(new Set([c!]), a!), false, 'b is slow: no alternative');
    u.connectRaced(a!);
    u.connectRaced(c!);
    // Every target slow: picking still answers (the call has to go somewhere).
    assert.ok(u.pick(null));
    for (const t of [a!, b!, c!]) u.racedConnectSettled(t);
    const seen = new Set<TargetState>();
    for (let i = 0; i < 6; i++) seen.add(u.pick(null)!);
    assert.equal(seen.size, 3, 'all three back in turn');
  });

  test('targets get ids from their URLs and stats start all up', () => {
    const { u } = upstream({ targets: 2 });
    const s = u.stats();
    assert.equal(s.name, 'orders');
    assert.equal(s.balance, 'round-robin');
    assert.equal(s.breaker, null);
    assert.equal(s.healthChecks, null);
    assert.deepEqual(
      s.targets.map((t) => [t.id, t.state, t.healthy, t.ejected, t.ejectedForMs, t.consecutiveFailures]),
      [
        ['127.0.0.1:19001', 'up', true, false, 0, 0],
        ['127.0.0.1:19002', 'up', true, false, 0, 0],
      ],
    );
    assert.equal(s.targets[0]!.pool.connected, 0);
  });
});

describe('Upstream: passive outlier ejection', () => {
  test('consecutiveFailures failures eject a target: pick never returns it, and an event says why', () => {
    const { u, seen } = upstream({ targets: 3 });
    const bad = u.targets[1]!;
    fail(u, bad, 2);
    assert.equal(bad.ejected, false, 'one failure short of the threshold');
    assert.equal(seen.length, 0);
    fail(u, bad, 1, 'UPSTREAM_CONNECTION_REFUSED');
    assert.equal(bad.ejected, true);
    const ids = picks(u, 200);
    assert.ok(!ids.includes(bad.target.id), 'the ejected target was picked');
    assert.ok(!ids.includes(null));
    const c = counts(ids);
    assert.equal(c.get(u.targets[0]!.target.id), 100);
    assert.equal(c.get(u.targets[2]!.target.id), 100);
    // Retries skip it too, even when it is the only untried one.
    assert.notEqual(u.pick(new Set([u.targets[0]!, u.targets[2]!])), bad);

    assert.equal(seen.length, 1);
    const e = seen[0]!;
    assert.equal(e.type, 'target.ejected');
    assert.equal(e.upstream, 'orders');
    assert.equal(e.target, bad.target.id);
    assert.match(e.reason, /3 consecutive failures/);
    assert.match(e.reason, /UPSTREAM_CONNECTION_REFUSED/);
    assert.equal(e['forMs'], 150);
    assert.equal(e['ejections'], 1);
    assert.equal(typeof e.at, 'number');
  });

  test('a success resets the count of consecutive failures', () => {
    const { u, seen } = upstream({ targets: 3 });
    const t = u.targets[0]!;
    for (let round = 0; round < 10; round++) {
      fail(u, t, 2);
      u.report(t, 'success', 'ok');
      assert.equal(t.consecutiveFailures, 0);
    }
    assert.equal(t.ejected, false);
    assert.equal(t.failures, 20);
    assert.equal(seen.length, 0);
    fail(u, t, 3);
    assert.equal(t.ejected, true);
  });

  test("'neutral' verdicts change nothing", () => {
    const { u, seen } = upstream({ targets: 3 });
    const t = u.targets[0]!;
    fail(u, t, 2);
    for (let i = 0; i < 50; i++) u.report(t, 'neutral', 'circuit open');
    assert.equal(t.consecutiveFailures, 2);
    assert.equal(t.failures, 2);
    assert.equal(t.ejected, false);
    assert.equal(seen.length, 0);
    // ...and they do not break the streak either.
    fail(u, t, 1);
    assert.equal(t.ejected, true);
  });

  test('without a passive config, failures are counted but never eject', () => {
    const { u, seen } = upstream({ targets: 2, passive: null });
    const t = u.targets[0]!;
    fail(u, t, 100);
    assert.equal(t.ejected, false);
    assert.equal(t.failures, 100);
    assert.equal(seen.length, 0);
    assert.equal(counts(picks(u, 10)).get(t.target.id), 5);
  });

  test('maxEjectedPercent caps ejections: 3 targets at 50% → at most 1 ejected', () => {
    const { u, seen } = upstream({ targets: 3 });
    for (const t of u.targets) fail(u, t, 10);
    assert.equal(u.targets.filter((t) => t.ejected).length, 1);
    assert.equal(seen.filter((e) => e.type === 'target.ejected').length, 1);
    const ejected = u.targets.find((t) => t.ejected)!;
    const ids = picks(u, 20);
    assert.ok(!ids.includes(ejected.target.id));
    assert.equal(new Set(ids).size, 2);
    assert.equal(u.stats().targets.filter((t) => t.state === 'ejected').length, 1);
  });

  test('maxEjectedPercent 100% lets every target go, and pick() then returns null', () => {
    const { u } = upstream({ targets: 3, passive: '{ consecutiveFailures: 1, ejectFor: 10s, maxEjectedPercent: 100% }' });
    for (const t of u.targets) fail(u, t, 1);
    assert.equal(u.targets.filter((t) => t.ejected).length, 3);
    assert.equal(u.pick(null), null);
    assert.equal(u.pick(new Set([u.targets[0]!])), null);
  });

  test('4 targets at 50% → at most 2 ejected', () => {
    const { u } = upstream({ targets: 4 });
    for (const t of u.targets) fail(u, t, 5);
    assert.equal(u.targets.filter((t) => t.ejected).length, 2);
  });

  test('a single-target upstream may still eject its one target: pick returns null', () => {
    const { u, seen } = upstream({ targets: 1, passive: '{ consecutiveFailures: 2, ejectFor: 10s, maxEjectedPercent: 10% }' });
    const t = u.targets[0]!;
    fail(u, t, 2);
    assert.equal(t.ejected, true);
    assert.equal(u.pick(null), null);
    assert.equal(u.pick(new Set([t])), null);
    assert.equal(seen[0]?.type, 'target.ejected');
  });

  test('when the capped target returns, another failing target can be ejected', async () => {
    const { u } = upstream({ targets: 2, passive: '{ consecutiveFailures: 2, ejectFor: 150ms, maxEjectedPercent: 50% }' });
    const [a, b] = u.targets as [TargetState, TargetState];
    fail(u, a, 2);
    fail(u, b, 2);
    assert.equal(a.ejected, true);
    assert.equal(b.ejected, false, 'capped');
    await until(() => !a.ejected, 'a to return');
    fail(u, b, 1);
    assert.equal(b.ejected, true);
  });

  test('an ejected target returns by itself after ejectFor, with a target.returned event', async () => {
    const { u, seen } = upstream({ targets: 3 });
    const t = u.targets[2]!;
    const t0 = performance.now();
    fail(u, t, 3);
    assert.equal(t.ejected, true);
    const s = u.stats().targets[2]!;
    assert.equal(s.state, 'ejected');
    assert.ok(s.ejectedForMs > 0 && s.ejectedForMs <= 150, `ejectedForMs ${s.ejectedForMs}`);
    await sleep(60);
    assert.equal(t.ejected, true, 'still out before ejectFor is over');
    await until(() => !t.ejected, 'the target to return', 3000);
    const took = performance.now() - t0;
    assert.ok(took >= 140, `returned after ${took} ms, before ejectFor`);
    assert.equal(t.consecutiveFailures, 0, 'comes back with a clean streak');
    assert.ok(new Set(picks(u, 30)).has(t.target.id), 'back in rotation');
    const returned = seen.find((e) => e.type === 'target.returned');
    assert.ok(returned, 'target.returned published');
    assert.equal(returned.target, t.target.id);
    assert.equal(returned.upstream, 'orders');
    assert.ok(returned.reason.length > 0);
    const st = u.stats().targets[2]!;
    assert.deepEqual([st.state, st.ejected, st.ejectedForMs, st.ejections], ['up', false, 0, 1]);
  });

  test('a repeat ejection lasts ejectFor × 2, capped by maxEjectFor', async () => {
    const { u, seen } = upstream({ targets: 2, passive: '{ consecutiveFailures: 1, ejectFor: 150ms, maxEjectFor: 400ms, maxEjectedPercent: 50% }' });
    const t = u.targets[0]!;
    const forMs = () => seen.filter((e) => e.type === 'target.ejected').map((e) => e['forMs']);
    fail(u, t, 1);
    await until(() => !t.ejected, 'first return');
    fail(u, t, 1);
    assert.deepEqual(forMs(), [150, 300]);
    assert.equal(seen.at(-1)!['ejections'], 2);
    const s = u.stats().targets[0]!;
    assert.ok(s.ejectedForMs > 150 && s.ejectedForMs <= 300, `second ejection for ${s.ejectedForMs} ms`);
    const t1 = performance.now();
    await sleep(200);
    assert.equal(t.ejected, true, 'the second ejection is longer than the first');
    await until(() => !t.ejected, 'second return');
    assert.ok(performance.now() - t1 >= 290, 'second ejection ended early');
    fail(u, t, 1);
    assert.deepEqual(forMs(), [150, 300, 400], 'the third is capped at maxEjectFor');
    assert.equal(u.stats().targets[0]!.ejections, 3);
  });

  test('a target ejected again after a quiet spell longer than maxEjectFor starts over at ejectFor', async () => {
    const { u, seen } = upstream({ targets: 2, passive: '{ consecutiveFailures: 1, ejectFor: 100ms, maxEjectFor: 200ms, maxEjectedPercent: 50% }' });
    const t = u.targets[0]!;
    fail(u, t, 1);
    await until(() => !t.ejected, 'return');
    await sleep(300);
    fail(u, t, 1);
    assert.deepEqual(
      seen.filter((e) => e.type === 'target.ejected').map((e) => e['forMs']),
      [100, 100],
    );
  });

  test('failures while ejected neither extend the ejection nor publish events', () => {
    const { u, seen } = upstream({ targets: 3 });
    const t = u.targets[0]!;
    fail(u, t, 3);
    const until0 = t.ejectedUntil;
    fail(u, t, 30);
    assert.equal(t.ejectedUntil, until0);
    assert.equal(seen.length, 1);
  });

  test('close() cancels pending returns (no event after close)', async () => {
    const { u, seen } = upstream({ targets: 2, passive: '{ consecutiveFailures: 1, ejectFor: 100ms, maxEjectedPercent: 50% }' });
    fail(u, u.targets[0]!, 1);
    await u.close();
    await sleep(250);
    assert.deepEqual(
      seen.map((e) => e.type),
      ['target.ejected'],
    );
  });

  test('the EventLog keeps the events, newest first', () => {
    const { u, events } = upstream({ targets: 3 });
    fail(u, u.targets[0]!, 3);
    const recent = events.recent({ upstream: 'orders' });
    assert.equal(recent.length, 1);
    assert.equal(recent[0]!.type, 'target.ejected');
    assert.deepEqual(events.recent({ types: ['target.returned'] }), []);
    assert.deepEqual(events.recent({ upstream: 'other' }), []);
  });
});

describe('Upstream: breaker and stats', () => {
  test('stats() reports the breaker and its window; transitions become events', () => {
    const { u, seen } = upstream({ targets: 2, breaker: '{ failureRate: 50%, minRequests: 4, window: 10s, openFor: 30s, halfOpenRequests: 1 }' });
    const b = u.breaker!;
    assert.ok(b);
    assert.deepEqual(u.stats().breaker, { state: 'closed', requests: 0, failures: 0, rejected: 0, retryAfterMs: 0 });
    for (let i = 0; i < 3; i++) b.record(b.acquire(), false);
    assert.deepEqual(u.stats().breaker, { state: 'closed', requests: 3, failures: 3, rejected: 0, retryAfterMs: 0 });
    b.record(b.acquire(), false);
    assert.equal(b.acquire(), null);
    const s = u.stats().breaker!;
    assert.equal(s.state, 'open');
    assert.equal(s.rejected, 1);
    assert.ok(s.retryAfterMs > 25_000 && s.retryAfterMs <= 30_000, `retryAfterMs ${s.retryAfterMs}`);
    const e = seen.find((x) => x.type === 'breaker.open');
    assert.ok(e, 'breaker.open event');
    assert.equal(e.upstream, 'orders');
    assert.equal(e['from'], 'closed');
    assert.match(e.reason, /4 of 4 calls failed/);
  });

  test('no circuitBreaker key, no breaker', () => {
    const { u } = upstream({ targets: 1 });
    assert.equal(u.breaker, null);
  });

  test('stats() shows ejected targets with the time left and their counters', () => {
    const { u } = upstream({ targets: 3, passive: '{ consecutiveFailures: 2, ejectFor: 20s, maxEjectedPercent: 50% }' });
    fail(u, u.targets[0]!, 2);
    fail(u, u.targets[1]!, 1);
    const s = u.stats();
    assert.deepEqual(
      s.targets.map((t) => [t.state, t.ejected, t.consecutiveFailures, t.failures, t.ejections]),
      [
        ['ejected', true, 2, 2, 1],
        ['up', false, 1, 1, 0],
        ['up', false, 0, 0, 0],
      ],
    );
    assert.ok(s.targets[0]!.ejectedForMs > 15_000 && s.targets[0]!.ejectedForMs <= 20_000);
    assert.equal(JSON.parse(JSON.stringify(s)).targets.length, 3, 'stats are plain JSON');
  });
});

describe('Upstream: retry budget', () => {
  test('at least 3 retries may run however little traffic there is', () => {
    const { u } = upstream({ targets: 2 });
    u.activeRequests = 0;
    for (const [retries, ok] of [
      [0, true],
      [2, true],
      [3, false],
    ] as const) {
      u.activeRetries = retries;
      assert.equal(u.retryAllowed(0.2), ok, `${retries} retries in flight`);
    }
    u.activeRequests = 10; // 20% of 10 = 2 < 3: the minimum wins
    u.activeRetries = 2;
    assert.equal(u.retryAllowed(0.2), true);
    u.activeRetries = 3;
    assert.equal(u.retryAllowed(0.2), false);
  });

  test('retries stay under budget × active requests beyond the minimum', () => {
    const { u } = upstream({ targets: 2 });
    u.activeRequests = 100;
    u.activeRetries = 19;
    assert.equal(u.retryAllowed(0.2), true);
    u.activeRetries = 20;
    assert.equal(u.retryAllowed(0.2), false);
    assert.equal(u.retryAllowed(0.5), true);
    u.activeRetries = 50;
    assert.equal(u.retryAllowed(0.5), false);
    // A 0% budget still allows the minimum.
    u.activeRetries = 2;
    assert.equal(u.retryAllowed(0), true);
    u.activeRetries = 0;
    u.activeRequests = 0;
  });
});
