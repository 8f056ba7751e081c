/**
 * Upstream state shared by workers: real Upstream objects, each with its own event log, wired
 * to one another the way workers are (one's onTransition feeds the others' apply()), and the
 * primary's mirror that a late starter replays. Timers are real (short ejections).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StateMirror } from '../../src/cluster/shared-state.js';
import { parseConfig } from '../../src/config/load.js';
import { EventLog, type GatewayEvent } from '../../src/observe/events.js';
import { Upstream, type Transition } from '../../src/upstream/upstream.js';
import { startBackend, type Backend } from '../helpers/wire.js';

const made: Upstream[] = [];
const backends: Backend[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((u) => u.close()));
  await Promise.all(backends.splice(0).map((b) => b.close()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface Worker {
  u: Upstream;
  events: GatewayEvent[];
  /** Transitions this worker sent (its own, never an applied one). */
  sent: Transition[];
}

/**
 * `n` workers' copies of one upstream, connected like the bus connects them: what one sends,
 * every other applies. Worker 1 is the lead (runs active checks when configured).
 */
function workers(n: number, yaml: string, mirror?: StateMirror): Worker[] {
  const config = parseConfig(yaml, 'shared.yaml', {}).upstreams['orders']!;
  const ws: Worker[] = [];
  for (let i = 0; i < n; i++) {
    const events = new EventLog(undefined, 1000, { worker: i + 1 });
    const w: Worker = { u: null as unknown as Upstream, events: [], sent: [] };
    events.on('event', (e: GatewayEvent) => w.events.push(e));
    w.u = new Upstream('orders', config, undefined, events, {
      healthChecks: i === 0,
      onTransition: (t) => {
        w.sent.push(t);
        mirror?.record(t);
        for (const other of ws) if (other !== w) other.u.apply(t);
      },
    });
    made.push(w.u);
    ws.push(w);
  }
  return ws;
}

const TWO_TARGETS = `upstreams:
  orders:
    targets: [{ url: http://127.0.0.1:19011 }, { url: http://127.0.0.1:19012 }]
    healthCheck: { passive: { consecutiveFailures: 3, ejectFor: 300ms } }
    circuitBreaker: { failureRate: 50%, minRequests: 4, window: 10s, openFor: 200ms, halfOpenRequests: 2 }
`;

const ids = (u: Upstream, n: number) => Array.from({ length: n }, () => u.pick(null)?.target.id ?? null);

describe('ejections', () => {
  test('a target ejected in one worker is avoided by the others, and returns in all at the same time', async () => {
    const [a, b, c] = workers(3, TWO_TARGETS);
    const bad = a!.u.targets[0]!;
    for (let i = 0; i < 3; i++) a!.u.report(bad, 'failure', 'connection refused');
    for (const w of [a!, b!, c!]) {
      assert.deepEqual(new Set(ids(w.u, 6)), new Set(['127.0.0.1:19012']), 'every worker avoids the ejected target');
      assert.equal(w.u.stats().targets[0]!.state, 'ejected');
    }
    assert.ok(b!.u.stats().targets[0]!.ejectedForMs > 200, 'for the same time');
    // Announced once, by the worker that decided it; applied silently elsewhere, and never sent back.
    assert.deepEqual(a!.events.map((e) => e.type), ['target.ejected']);
    assert.equal(a!.events[0]!.worker, 1);
    assert.deepEqual([...b!.events, ...c!.events], []);
    assert.deepEqual(a!.sent.map((t) => t.kind), ['ejected']);
    assert.deepEqual([...b!.sent, ...c!.sent], []);
    await until(() => [a!, b!, c!].every((w) => !w.u.targets[0]!.ejected), 'the return');
    for (const w of [a!, b!, c!]) assert.deepEqual(new Set(ids(w.u, 6)), new Set(['127.0.0.1:19011', '127.0.0.1:19012']));
    assert.deepEqual(a!.events.map((e) => e.type), ['target.ejected', 'target.returned']);
    assert.deepEqual([...b!.events, ...c!.events], []);
    assert.deepEqual(a!.sent.map((t) => t.kind), ['ejected', 'returned']);
  });

  test('a repeat ejection decided by another worker continues the same streak (longer)', async () => {
    const [a, b] = workers(2, TWO_TARGETS);
    for (let i = 0; i < 3; i++) a!.u.report(a!.u.targets[0]!, 'failure', 'reset');
    await until(() => !b!.u.targets[0]!.ejected, 'the first return');
    for (let i = 0; i < 3; i++) b!.u.report(b!.u.targets[0]!, 'failure', 'reset');
    assert.equal(b!.events.at(-1)!.type, 'target.ejected');
    assert.equal(b!.events.at(-1)!.ejections, 2, 'the second ejection in the streak');
    assert.ok(a!.u.stats().targets[0]!.ejectedForMs > 400, 'twice ejectFor, in every worker');
  });

  test('two workers ejecting the same target at once: both keep it out, and it returns once each announced', async () => {
    const [a, b] = workers(2, TWO_TARGETS);
    // No bus delay here, so simulate the race: b decides before a's word arrives.
    const t: Transition = { kind: 'ejected', upstream: 'orders', target: '127.0.0.1:19011', until: Date.now() + 250, ejections: 1 };
    for (let i = 0; i < 3; i++) b!.u.report(b!.u.targets[0]!, 'failure', 'reset');
    b!.u.apply(t);
    assert.ok(a!.u.targets[0]!.ejected && b!.u.targets[0]!.ejected);
    await until(() => !a!.u.targets[0]!.ejected && !b!.u.targets[0]!.ejected, 'the return');
  });
});

describe('circuit breaker', () => {
  test('open in one worker is open in every worker; half-open and closed follow the same way', async () => {
    const [a, b] = workers(2, TWO_TARGETS);
    const br = a!.u.breaker!;
    for (let i = 0; i < 4; i++) br.record(br.acquire(), false);
    assert.equal(br.state, 'open');
    assert.equal(b!.u.breaker!.state, 'open');
    assert.equal(b!.u.breaker!.acquire(), null, 'the other worker fails fast too');
    assert.ok(b!.u.breaker!.retryAfterMs() > 100, 'with the same time left');
    await sleep(220);
    // The first worker to ask after openFor goes half-open and says so; the other follows.
    const probe = b!.u.breaker!.acquire();
    assert.equal(probe, 'probe');
    assert.equal(a!.u.breaker!.state, 'half-open');
    b!.u.breaker!.record(probe, true);
    b!.u.breaker!.record(b!.u.breaker!.acquire(), true);
    assert.equal(b!.u.breaker!.state, 'closed');
    assert.equal(a!.u.breaker!.state, 'closed');
    assert.deepEqual(a!.events.map((e) => e.type), ['breaker.open']);
    assert.deepEqual(b!.events.map((e) => e.type), ['breaker.half-open', 'breaker.closed']);
  });
});

describe('active health checks', () => {
  test('only the lead checks; the others take its verdicts', async () => {
    let healthy = false;
    const backend = await startBackend((_req, res) => {
      res.statusCode = healthy ? 200 : 503;
      res.end();
    });
    const spare = await startBackend((_req, res) => res.end());
    backends.push(backend, spare);
    const [lead, other] = workers(
      2,
      `upstreams:
  orders:
    targets: [{ url: ${backend.url} }, { url: ${spare.url} }]
    healthCheck: { active: { interval: 50ms, timeout: 500ms, unhealthyAfter: 2, healthyAfter: 2 } }
`,
    );
    other!.u.start(); // not the lead: starting it runs no checks
    await sleep(200);
    assert.equal(backend.seen.length + spare.seen.length, 0, 'a worker that is not the lead sends no health check');
    lead!.u.start();
    await until(() => !other!.u.targets[0]!.healthy, 'the other worker to take the target out');
    assert.equal(other!.u.stats().targets[0]!.state, 'unhealthy');
    assert.deepEqual(new Set(ids(other!.u, 4)), new Set([`127.0.0.1:${spare.port}`]));
    healthy = true;
    await until(() => other!.u.targets[0]!.healthy, 'the return in the other worker');
    assert.deepEqual(
      lead!.events.map((e) => e.type),
      ['health.down', 'health.up'],
    );
    assert.deepEqual(other!.events, [], 'announced by the lead only');
  });
});

describe('a worker that starts late', () => {
  test('replays the mirror: live ejections, unhealthy targets and open breakers, nothing stale', async () => {
    const mirror = new StateMirror();
    const [a] = workers(1, TWO_TARGETS, mirror);
    for (let i = 0; i < 3; i++) a!.u.report(a!.u.targets[0]!, 'failure', 'reset');
    const br = a!.u.breaker!;
    for (let i = 0; i < 4; i++) br.record(br.acquire(), false);
    mirror.record({ kind: 'health', upstream: 'orders', target: '127.0.0.1:19012', healthy: false });
    mirror.record({ kind: 'health', upstream: 'other', target: 'x:1', healthy: true });
    mirror.record({ kind: 'ejected', upstream: 'other', target: 'y:1', until: Date.now() - 1, ejections: 1 });
    const snapshot = mirror.snapshot();
    assert.deepEqual(snapshot.map((t) => t.kind).sort(), ['breaker', 'ejected', 'health']);
    const [late] = workers(1, TWO_TARGETS);
    for (const t of snapshot) late!.u.apply(t);
    const s = late!.u.stats();
    assert.equal(s.targets[0]!.state, 'ejected');
    assert.equal(s.targets[1]!.state, 'unhealthy');
    assert.equal(s.breaker!.state, 'open');
    assert.deepEqual(late!.events, [], 'nothing announced again');
    mirror.forget('orders');
    assert.deepEqual(mirror.snapshot(), []);
  });
});
