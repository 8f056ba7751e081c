import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer, type Balanceable, type Balancer, type BalancerName } from '../../src/upstream/balancer.js';

interface T extends Balanceable {
  readonly id: string;
  weight: number;
  inflight: number;
  ewma: number;
}

const target = (id: string, weight = 1, inflight = 0, ewma = 0): T => ({ id, weight, inflight, ewma });

/** A small deterministic PRNG (mulberry32), so p2c runs are repeatable. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random source that plays back the given values, then fails the test if asked for more. */
function scripted(...values: number[]): () => number {
  let i = 0;
  return () => {
    assert.ok(i < values.length, 'the balancer drew more random numbers than expected');
    return values[i++]!;
  };
}

/** Picks n times and counts by id. */
function counts(b: Balancer<T>, candidates: readonly T[], n: number): Map<string, number> {
  const m = new Map<string, number>(candidates.map((c) => [c.id, 0]));
  for (let i = 0; i < n; i++) {
    const t = b.pick(candidates);
    m.set(t.id, (m.get(t.id) ?? 0) + 1);
  }
  return m;
}

const NAMES: BalancerName[] = ['round-robin', 'weighted', 'least-connections', 'p2c-ewma'];

// The conformance suite: every balancer createBalancer can make passes it.
for (const name of NAMES) {
  const make = (): Balancer<T> => createBalancer<T>(name, seeded(42));

  describe(`balancer conformance: ${name}`, () => {
    test('reports its name', () => {
      assert.equal(make().name, name);
    });

    test('always returns one of the candidates it was given, whatever their state', () => {
      const b = make();
      const rnd = seeded(7);
      const pool = Array.from({ length: 6 }, (_, i) => target(`t${i}`));
      for (let i = 0; i < 2000; i++) {
        // Retries pass shrinking subsets; state changes between picks.
        const candidates = pool.filter(() => rnd() < 0.6);
        if (candidates.length === 0) continue;
        for (const c of candidates) {
          c.weight = 1 + Math.floor(rnd() * 5);
          c.inflight = Math.floor(rnd() * 4);
          c.ewma = rnd() < 0.2 ? 0 : rnd() * 200;
        }
        const picked = b.pick(candidates);
        assert.ok(candidates.includes(picked), `${name} picked ${picked.id}, not a candidate`);
      }
    });

    test('with a single candidate, returns it', () => {
      const b = make();
      const only = target('only', 3, 9, 500);
      for (let i = 0; i < 50; i++) assert.equal(b.pick([only]), only);
    });

    test('spreads picks over all equal candidates', () => {
      const b = make();
      const cs = [target('a'), target('b'), target('c'), target('d')];
      const n = 4000;
      const m = counts(b, cs, n);
      for (const c of cs) assert.ok(m.get(c.id)! >= n / cs.length / 2, `${c.id} got ${m.get(c.id)} of ${n}: ${JSON.stringify([...m])}`);
    });

    test('spreads picks while requests stay in flight', () => {
      const b = make();
      const cs = [target('a'), target('b'), target('c')];
      const held: T[] = [];
      const m = new Map<string, number>();
      for (let i = 0; i < 3000; i++) {
        const t = b.pick(cs);
        t.inflight++;
        held.push(t);
        m.set(t.id, (m.get(t.id) ?? 0) + 1);
        // Requests finish in arrival order, about 5 at a time in flight.
        if (held.length > 5) held.shift()!.inflight--;
      }
      for (const c of cs) assert.ok((m.get(c.id) ?? 0) >= 500, `${c.id} got ${m.get(c.id)}: ${JSON.stringify([...m])}`);
    });

    test('does not change the targets it is given', () => {
      const b = make();
      const cs = [target('a', 2, 1, 10), target('b', 1, 0, 20)];
      const before = structuredClone(cs);
      for (let i = 0; i < 100; i++) b.pick(cs);
      assert.deepEqual(cs, before);
    });
  });
}

describe('round-robin', () => {
  test('cycles through the candidates in order', () => {
    const b = createBalancer<T>('round-robin');
    const cs = [target('a'), target('b'), target('c')];
    const seq = Array.from({ length: 7 }, () => b.pick(cs).id).join('');
    assert.equal(seq, 'abcabca');
  });
});

describe('weighted (smooth weighted round-robin)', () => {
  test('honours 3:1 weights exactly over 4000 picks', () => {
    const b = createBalancer<T>('weighted');
    const cs = [target('a', 3), target('b', 1)];
    const m = counts(b, cs, 4000);
    assert.equal(m.get('a'), 3000);
    assert.equal(m.get('b'), 1000);
  });

  test('the order is smooth: the light target once in every 4 picks, never 4 heavy in a row', () => {
    const b = createBalancer<T>('weighted');
    const cs = [target('a', 3), target('b', 1)];
    const seq = Array.from({ length: 4000 }, () => b.pick(cs).id).join('');
    assert.equal(seq.slice(0, 8), 'aabaaaba');
    for (let i = 0; i + 4 <= seq.length; i++) {
      const window = seq.slice(i, i + 4);
      assert.equal(window.split('b').length - 1, 1, `window ${i}: ${window}`);
    }
    assert.ok(!seq.includes('aaaa'));
  });

  test('5:1:1 interleaves as nginx does', () => {
    const b = createBalancer<T>('weighted');
    const cs = [target('a', 5), target('b', 1), target('c', 1)];
    const seq = Array.from({ length: 14 }, () => b.pick(cs).id).join('');
    assert.equal(seq, 'aabacaa' + 'aabacaa');
  });

  test('equal weights behave as round-robin', () => {
    const b = createBalancer<T>('weighted');
    const cs = [target('a', 2), target('b', 2), target('c', 2)];
    assert.equal(Array.from({ length: 6 }, () => b.pick(cs).id).join(''), 'abcabc');
  });
});

describe('least-connections', () => {
  test('picks the target with the fewest requests in flight', () => {
    const b = createBalancer<T>('least-connections');
    const cs = [target('a', 1, 5), target('b', 1, 2), target('c', 1, 7)];
    for (let i = 0; i < 10; i++) assert.equal(b.pick(cs).id, 'b');
  });

  test('in flight is counted per unit of weight', () => {
    const b = createBalancer<T>('least-connections');
    // a: 4/4 = 1 per weight, b: 2/1 = 2.
    const cs = [target('a', 4, 4), target('b', 1, 2)];
    for (let i = 0; i < 10; i++) assert.equal(b.pick(cs).id, 'a');
  });

  test('ties are spread, not always given to the first target', () => {
    const b = createBalancer<T>('least-connections');
    const cs = [target('a', 1, 1), target('b', 1, 1), target('c', 1, 3)];
    const m = counts(b, cs, 100);
    assert.equal(m.get('c'), 0);
    assert.equal(m.get('a'), 50);
    assert.equal(m.get('b'), 50);
  });

  test('follows the counts as they change', () => {
    const b = createBalancer<T>('least-connections');
    const a = target('a');
    const c = target('c');
    a.inflight = 3;
    assert.equal(b.pick([a, c]), c);
    c.inflight = 4;
    assert.equal(b.pick([a, c]), a);
  });
});

describe('p2c-ewma', () => {
  test('prefers the lower-latency target', () => {
    const b = createBalancer<T>('p2c-ewma', seeded(1));
    const cs = [target('slow', 1, 0, 100), target('fast', 1, 0, 10)];
    for (let i = 0; i < 200; i++) assert.equal(b.pick(cs).id, 'fast');
  });

  test('compares exactly the two targets its random source samples', () => {
    const cs = [target('slow', 1, 0, 100), target('fast', 1, 0, 10), target('medium', 1, 0, 50)];
    // i = floor(0 * 3) = 0; j = floor(0 * 2) = 0, bumped past i to 1: slow vs fast.
    assert.equal(createBalancer<T>('p2c-ewma', scripted(0, 0)).pick(cs).id, 'fast');
    // i = 0; j = floor(0.99 * 2) = 1, bumped to 2: slow vs medium — fast is not considered.
    assert.equal(createBalancer<T>('p2c-ewma', scripted(0, 0.99)).pick(cs).id, 'medium');
    // i = floor(0.7 * 3) = 2; j = floor(0.2 * 2) = 0: medium vs slow.
    assert.equal(createBalancer<T>('p2c-ewma', scripted(0.7, 0.2)).pick(cs).id, 'medium');
  });

  test('over many picks the slowest target is never chosen and the fastest most often', () => {
    const b = createBalancer<T>('p2c-ewma', seeded(99));
    const cs = [target('slow', 1, 0, 100), target('fast', 1, 0, 10), target('medium', 1, 0, 50)];
    const m = counts(b, cs, 3000);
    assert.equal(m.get('slow'), 0);
    // fast wins every pair it is in (2 of 3 pairs), medium only the slow/medium pair.
    assert.ok(m.get('fast')! > 1800 && m.get('fast')! < 2200, JSON.stringify([...m]));
    assert.ok(m.get('medium')! > 800 && m.get('medium')! < 1200, JSON.stringify([...m]));
  });

  test('load counts too: a fast target with many requests in flight loses to an idle slower one', () => {
    const b = createBalancer<T>('p2c-ewma', seeded(3));
    // cost = ewma x (inflight + 1) / weight: fast 10 x 21 = 210, slow 100 x 1 = 100.
    const cs = [target('fast', 1, 20, 10), target('slow', 1, 0, 100)];
    for (let i = 0; i < 50; i++) assert.equal(b.pick(cs).id, 'slow');
  });

  test('targets without a latency yet are compared by load', () => {
    const b = createBalancer<T>('p2c-ewma', seeded(5));
    const cs = [target('busy', 1, 3, 0), target('idle', 1, 0, 0)];
    for (let i = 0; i < 50; i++) assert.equal(b.pick(cs).id, 'idle');
  });

  test('a single candidate needs no random draw', () => {
    const b = createBalancer<T>('p2c-ewma', scripted());
    const only = target('only');
    assert.equal(b.pick([only]), only);
  });
});
