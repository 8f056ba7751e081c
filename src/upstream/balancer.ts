/**
 * Load balancers: pick one target state among the candidates. Every balancer passes the same
 * conformance suite (test/upstream/balancer.test.ts).
 */

export interface Balanceable {
  readonly weight: number;
  /** Exchanges in flight on this target. */
  inflight: number;
  /** Exponentially weighted moving average of response latency, ms. */
  ewma: number;
}

export interface Balancer<T extends Balanceable> {
  readonly name: string;
  /** Picks from `candidates` (never empty). */
  pick(candidates: readonly T[]): T;
}

class RoundRobin<T extends Balanceable> implements Balancer<T> {
  readonly name = 'round-robin';
  private next = 0;
  pick(c: readonly T[]): T {
    const t = c[this.next % c.length]!;
    this.next = (this.next + 1) % 0x7fffffff;
    return t;
  }
}

/** Smooth weighted round-robin (as nginx does): spreads a heavy target's turns out evenly. */
class Weighted<T extends Balanceable> implements Balancer<T> {
  readonly name = 'weighted';
  private readonly current = new Map<T, number>();
  pick(c: readonly T[]): T {
    let total = 0;
    let best: T = c[0]!;
    let bestScore = -Infinity;
    for (const t of c) {
      const cur = (this.current.get(t) ?? 0) + t.weight;
      this.current.set(t, cur);
      total += t.weight;
      if (cur > bestScore) {
        bestScore = cur;
        best = t;
      }
    }
    this.current.set(best, bestScore - total);
    return best;
  }
}

class LeastConnections<T extends Balanceable> implements Balancer<T> {
  readonly name = 'least-connections';
  private rr = 0;
  pick(c: readonly T[]): T {
    let min = Infinity;
    let ties = 0;
    for (const t of c) {
      const load = t.inflight / t.weight;
      if (load < min) {
        min = load;
        ties = 1;
      } else if (load === min) {
        ties++;
      }
    }
    // Take the tied targets in turn: a rotating start offset would favour the target after a busy one.
    let k = this.rr % ties;
    this.rr = (this.rr + 1) % 0x7fffffff;
    for (const t of c) if (t.inflight / t.weight === min && k-- === 0) return t;
    return c[0]!;
  }
}

/** Power of two choices on EWMA latency x (in-flight + 1), as Finagle and Linkerd do. */
class P2cEwma<T extends Balanceable> implements Balancer<T> {
  readonly name = 'p2c-ewma';
  constructor(private readonly random: () => number = Math.random) {}
  pick(c: readonly T[]): T {
    if (c.length === 1) return c[0]!;
    const i = Math.floor(this.random() * c.length);
    let j = Math.floor(this.random() * (c.length - 1));
    if (j >= i) j++;
    const a = c[i]!;
    const b = c[j]!;
    const cost = (t: T) => ((t.ewma || 1) * (t.inflight + 1)) / t.weight;
    return cost(a) <= cost(b) ? a : b;
  }
}

export type BalancerName = 'round-robin' | 'weighted' | 'least-connections' | 'p2c-ewma';

export function createBalancer<T extends Balanceable>(name: BalancerName, random?: () => number): Balancer<T> {
  switch (name) {
    case 'round-robin':
      return new RoundRobin<T>();
    case 'weighted':
      return new Weighted<T>();
    case 'least-connections':
      return new LeastConnections<T>();
    case 'p2c-ewma':
      return new P2cEwma<T>(random);
  }
}
