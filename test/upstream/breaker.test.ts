import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker, type BreakerState, type Permit } from '../../src/upstream/breaker.js';
import type { CircuitBreakerConfig } from '../../src/config/schema.js';

/** The one mock allowed: a clock the test moves by hand. */
class FakeClock {
  constructor(public t = 1_000_000) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

interface Change {
  from: BreakerState;
  to: BreakerState;
  reason: string;
}

const BASE: CircuitBreakerConfig = { failureRate: 0.5, minRequests: 10, window: 10_000, openFor: 5000, halfOpenRequests: 3 };

function breaker(over: Partial<CircuitBreakerConfig> = {}) {
  const clock = new FakeClock();
  const changes: Change[] = [];
  const b = new CircuitBreaker({ ...BASE, ...over }, (from, to, reason) => changes.push({ from, to, reason }), clock.now);
  return { b, clock, changes };
}

/** One whole call: acquire, then record the outcome; returns the permit (null: refused). */
function call(b: CircuitBreaker, ok: boolean): Permit {
  const p = b.acquire();
  if (p !== null) b.record(p, ok);
  return p;
}

function calls(b: CircuitBreaker, n: number, ok: boolean): void {
  for (let i = 0; i < n; i++) assert.notEqual(call(b, ok), null, `call ${i + 1} of ${n} was refused`);
}

/** Opens a fresh breaker with minRequests failures. */
function tripped(over: Partial<CircuitBreakerConfig> = {}) {
  const r = breaker(over);
  calls(r.b, r.b.config.minRequests, false);
  assert.equal(r.b.state, 'open');
  return r;
}

describe('CircuitBreaker: closed', () => {
  test('starts closed and grants plain calls', () => {
    const { b, changes } = breaker();
    assert.equal(b.state, 'closed');
    assert.equal(b.acquire(), 'call');
    assert.equal(b.retryAfterMs(), 0);
    assert.deepEqual(changes, []);
  });

  test('stays closed below minRequests even at 100% failures', () => {
    const { b, changes } = breaker({ minRequests: 10 });
    calls(b, 9, false);
    assert.equal(b.state, 'closed');
    assert.deepEqual(b.window(), { requests: 9, failures: 9 });
    assert.equal(b.acquire(), 'call');
    assert.deepEqual(changes, []);
  });

  test('opens at the minimum request count when every call failed', () => {
    const { b, changes } = breaker({ minRequests: 10 });
    calls(b, 10, false);
    assert.equal(b.state, 'open');
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.from, 'closed');
    assert.equal(changes[0]!.to, 'open');
    assert.match(changes[0]!.reason, /10 of 10 calls failed/);
    assert.match(changes[0]!.reason, /50%/);
    assert.match(changes[0]!.reason, /10000 ms/);
  });

  test('opens exactly when the failure rate reaches the threshold, not one failure before', () => {
    const { b } = breaker({ minRequests: 10, failureRate: 0.5 });
    calls(b, 10, true);
    calls(b, 9, false); // 9 of 19: 47%
    assert.equal(b.state, 'closed');
    calls(b, 1, false); // 10 of 20: 50%
    assert.equal(b.state, 'open');
  });

  test('a threshold just above the current rate keeps it closed', () => {
    const { b } = breaker({ minRequests: 4, failureRate: 0.75 });
    calls(b, 2, true);
    calls(b, 2, false); // 2 of 4: 50% < 75%
    calls(b, 1, false); // 3 of 5: 60%
    assert.equal(b.state, 'closed');
    calls(b, 1, false); // 4 of 6: 66%
    assert.equal(b.state, 'closed');
    calls(b, 2, false); // 6 of 8: 75%
    assert.equal(b.state, 'open');
  });

  test('opens when the minimum count is reached by a success while the rate is over the threshold', () => {
    const { b, changes } = breaker({ minRequests: 10, failureRate: 0.5 });
    calls(b, 9, false);
    assert.equal(b.state, 'closed');
    calls(b, 1, true); // 9 of 10 failed: 90%
    assert.equal(b.state, 'open');
    assert.match(changes[0]!.reason, /9 of 10 calls failed/);
  });

  test('successes reported for 4xx-like answers never open it', () => {
    const { b, changes } = breaker({ minRequests: 5, failureRate: 0.1 });
    calls(b, 500, true);
    assert.equal(b.state, 'closed');
    assert.deepEqual(b.window(), { requests: 500, failures: 0 });
    assert.deepEqual(changes, []);
  });

  test('the sliding window forgets old buckets', () => {
    const { b, clock } = breaker({ minRequests: 10, window: 10_000 });
    calls(b, 9, false);
    assert.deepEqual(b.window(), { requests: 9, failures: 9 });
    clock.advance(5000);
    assert.deepEqual(b.window(), { requests: 9, failures: 9 }, 'half a window later the calls still count');
    clock.advance(5001);
    assert.deepEqual(b.window(), { requests: 0, failures: 0 }, 'a whole window later they are gone');
    calls(b, 9, false);
    assert.equal(b.state, 'closed', 'the old 9 failures must not add to the new 9');
    calls(b, 1, false);
    assert.equal(b.state, 'open');
  });

  test('failures spread over the window add up; ones older than the window do not', () => {
    const { b, clock } = breaker({ minRequests: 10, window: 10_000 });
    for (let i = 0; i < 5; i++) {
      calls(b, 1, false);
      clock.advance(1000);
    }
    // 5 failures at t, t+1s .. t+4s; now t+5s.
    assert.deepEqual(b.window(), { requests: 5, failures: 5 });
    clock.advance(5500); // t+10.5s: the bucket of the first failure has left the window
    assert.deepEqual(b.window(), { requests: 4, failures: 4 }, 'the oldest failure is forgotten');
    assert.equal(b.state, 'closed');
  });

  test('a bucket slot reused after a full cycle starts from zero', () => {
    const { b, clock } = breaker({ minRequests: 3, window: 1000 });
    calls(b, 2, false);
    clock.advance(1000); // same slot index (10 buckets of 100 ms), one cycle later
    calls(b, 1, false);
    assert.deepEqual(b.window(), { requests: 1, failures: 1 });
    assert.equal(b.state, 'closed');
  });
});

describe('CircuitBreaker: open', () => {
  test('refuses calls, counts them as rejected, and retryAfterMs counts down', () => {
    const { b, clock } = tripped({ openFor: 5000 });
    assert.equal(b.retryAfterMs(), 5000);
    assert.equal(b.acquire(), null);
    assert.equal(b.acquire(), null);
    assert.equal(b.rejected, 2);
    clock.advance(1000);
    assert.equal(b.retryAfterMs(), 4000);
    assert.equal(b.acquire(), null);
    clock.advance(3999);
    assert.equal(b.retryAfterMs(), 1);
    assert.equal(b.acquire(), null);
    assert.equal(b.rejected, 4);
    assert.equal(b.state, 'open');
  });

  test('results of calls granted before it opened do not change it', () => {
    const { b } = breaker({ minRequests: 2 });
    const late = b.acquire();
    calls(b, 2, false);
    assert.equal(b.state, 'open');
    b.record(late, true);
    assert.equal(b.state, 'open');
    b.record(late, false);
    assert.equal(b.state, 'open');
  });
});

describe('CircuitBreaker: half-open', () => {
  test('after openFor it gives exactly halfOpenRequests probes', () => {
    const { b, clock, changes } = tripped({ openFor: 5000, halfOpenRequests: 3 });
    clock.advance(5000);
    assert.equal(b.retryAfterMs(), 0);
    const rejectedBefore = b.rejected;
    assert.equal(b.acquire(), 'probe');
    assert.equal(b.state, 'half-open');
    assert.equal(b.acquire(), 'probe');
    assert.equal(b.acquire(), 'probe');
    assert.equal(b.acquire(), null, 'a fourth concurrent call is refused');
    assert.equal(b.acquire(), null);
    assert.equal(b.rejected, rejectedBefore + 2);
    const half = changes.find((c) => c.to === 'half-open');
    assert.ok(half);
    assert.equal(half.from, 'open');
    assert.match(half.reason, /5000 ms/);
    assert.match(half.reason, /3 probe/);
  });

  test('all probes succeeding closes it with a fresh window', () => {
    const { b, clock, changes } = tripped({ openFor: 5000, halfOpenRequests: 3, minRequests: 10 });
    clock.advance(5000);
    const probes = [b.acquire(), b.acquire(), b.acquire()];
    assert.deepEqual(probes, ['probe', 'probe', 'probe']);
    b.record(probes[0]!, true);
    b.record(probes[1]!, true);
    assert.equal(b.state, 'half-open');
    b.record(probes[2]!, true);
    assert.equal(b.state, 'closed');
    const last = changes.at(-1)!;
    assert.deepEqual([last.from, last.to], ['half-open', 'closed']);
    assert.match(last.reason, /3 probe calls succeeded/);
    assert.deepEqual(b.window(), { requests: 0, failures: 0 }, 'the failures that opened it are forgotten');
    assert.equal(b.acquire(), 'call');
    // A fresh window: it takes minRequests new calls to open again.
    calls(b, 8, false);
    assert.equal(b.state, 'closed');
  });

  test('probes may succeed one after another (sequential probing)', () => {
    const { b, clock } = tripped({ halfOpenRequests: 2 });
    clock.advance(b.config.openFor);
    assert.equal(call(b, true), 'probe');
    assert.equal(b.state, 'half-open');
    assert.equal(call(b, true), 'probe');
    assert.equal(b.state, 'closed');
  });

  test('a probe failure opens it again for another openFor', () => {
    const { b, clock, changes } = tripped({ openFor: 5000, halfOpenRequests: 3 });
    clock.advance(5000);
    const p1 = b.acquire();
    const p2 = b.acquire();
    b.record(p1, true);
    b.record(p2, false);
    assert.equal(b.state, 'open');
    const last = changes.at(-1)!;
    assert.deepEqual([last.from, last.to], ['half-open', 'open']);
    assert.match(last.reason, /probe/);
    assert.equal(b.retryAfterMs(), 5000);
    assert.equal(b.acquire(), null);
    clock.advance(4999);
    assert.equal(b.acquire(), null);
    clock.advance(1);
    assert.equal(b.acquire(), 'probe');
  });

  test('release() of a probe frees its slot; release() of a plain call changes nothing', () => {
    const { b, clock } = tripped({ halfOpenRequests: 1 });
    clock.advance(b.config.openFor);
    const p = b.acquire();
    assert.equal(p, 'probe');
    assert.equal(b.acquire(), null);
    b.release(p);
    assert.equal(b.state, 'half-open');
    const again = b.acquire();
    assert.equal(again, 'probe', 'the released slot can be used by another probe');
    b.record(again, true);
    assert.equal(b.state, 'closed');
    b.release('call');
    b.release(null);
    assert.equal(b.state, 'closed');
    assert.deepEqual(b.window(), { requests: 0, failures: 0 });
  });

  test('plain-call results while half-open do not count as probes', () => {
    const { b, clock } = tripped({ halfOpenRequests: 1 });
    clock.advance(b.config.openFor);
    const p = b.acquire();
    b.record('call', true);
    b.record('call', false);
    assert.equal(b.state, 'half-open');
    b.record(p, true);
    assert.equal(b.state, 'closed');
  });

  test('a full cycle reports every transition in order with reasons', () => {
    const { b, clock, changes } = tripped({ halfOpenRequests: 1, openFor: 1000 });
    clock.advance(1000);
    b.record(b.acquire(), false);
    clock.advance(1000);
    b.record(b.acquire(), true);
    assert.deepEqual(
      changes.map((c) => `${c.from}>${c.to}`),
      ['closed>open', 'open>half-open', 'half-open>open', 'open>half-open', 'half-open>closed'],
    );
    for (const c of changes) assert.ok(c.reason.length > 10, `reason too thin: ${JSON.stringify(c)}`);
  });
});

describe('CircuitBreaker: sequences', () => {
  // Steps: 'S' success, 'F' failure, '+N' advance the clock N ms, 'P' acquire expecting a probe,
  // 'X' acquire expecting a refusal.
  const table: Array<{ name: string; cfg: Partial<CircuitBreakerConfig>; steps: string; state: BreakerState; opens: number }> = [
    { name: 'all successes', cfg: { minRequests: 3 }, steps: 'SSSSSSSSSS', state: 'closed', opens: 0 },
    { name: 'too few failures', cfg: { minRequests: 5 }, steps: 'FFFF', state: 'closed', opens: 0 },
    { name: 'exactly minRequests failures', cfg: { minRequests: 5 }, steps: 'FFFFF', state: 'open', opens: 1 },
    { name: 'alternating at 50%', cfg: { minRequests: 4, failureRate: 0.5 }, steps: 'SFSF', state: 'open', opens: 1 },
    { name: 'alternating under 60%', cfg: { minRequests: 4, failureRate: 0.6 }, steps: 'SFSFSFSF', state: 'closed', opens: 0 },
    { name: 'failures forgotten across windows', cfg: { minRequests: 4, window: 1000 }, steps: 'FFF +1000 FFF +1000 FFF', state: 'closed', opens: 0 },
    { name: 'failures inside one window', cfg: { minRequests: 4, window: 1000 }, steps: 'FF +500 FF', state: 'open', opens: 1 },
    { name: 'open refuses until openFor', cfg: { minRequests: 2, openFor: 1000 }, steps: 'FF X +999 X', state: 'open', opens: 1 },
    { name: 'recovers after probes', cfg: { minRequests: 2, openFor: 1000, halfOpenRequests: 2 }, steps: 'FF +1000 S S', state: 'closed', opens: 1 },
    { name: 'probe fails then recovers', cfg: { minRequests: 2, openFor: 1000, halfOpenRequests: 1 }, steps: 'FF +1000 F X +1000 S SSS', state: 'closed', opens: 2 },
    { name: 'half-open limits concurrent probes', cfg: { minRequests: 2, openFor: 100, halfOpenRequests: 2 }, steps: 'FF +100 P P X', state: 'half-open', opens: 1 },
    { name: 'reopens after closing', cfg: { minRequests: 2, openFor: 100, halfOpenRequests: 1 }, steps: 'FF +100 S F F', state: 'open', opens: 2 },
    { name: 'a fresh window after recovery', cfg: { minRequests: 3, failureRate: 0.6, openFor: 100, halfOpenRequests: 1 }, steps: 'FFF +100 S S F S F S', state: 'closed', opens: 1 },
  ];
  for (const row of table) {
    test(row.name, () => {
      const { b, clock, changes } = breaker(row.cfg);
      for (const step of row.steps.split(/\s+/).flatMap((s) => (s.startsWith('+') ? [s] : s.split('')))) {
        if (step.startsWith('+')) clock.advance(Number(step.slice(1)));
        else if (step === 'S' || step === 'F') {
          const p = b.acquire();
          assert.notEqual(p, null, `step ${step} in "${row.steps}" was refused (state ${b.state})`);
          b.record(p, step === 'S');
        } else if (step === 'P') assert.equal(b.acquire(), 'probe', `"${row.steps}"`);
        else if (step === 'X') assert.equal(b.acquire(), null, `"${row.steps}"`);
        else assert.fail(`bad step ${step}`);
      }
      assert.equal(b.state, row.state);
      assert.equal(changes.filter((c) => c.to === 'open').length, row.opens);
      // Every change follows the one before it.
      for (let i = 1; i < changes.length; i++) assert.equal(changes[i]!.from, changes[i - 1]!.to);
    });
  }
});
