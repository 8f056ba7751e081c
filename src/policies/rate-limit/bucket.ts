/**
 * In-process token buckets: `requests` tokens refilled evenly over `per` ms, one taken per call.
 * A full bucket allows a burst of `requests`; then one call per `per / requests` ms. Buckets
 * are dropped once refilled and idle, and their number is capped, so a flood of distinct keys
 * (IPs, header values) cannot grow memory without bound.
 */
export interface Decision {
  allowed: boolean;
  /** Tokens left after this call. */
  remaining: number;
  /** ms until the next token (when denied: until this call could succeed). */
  retryAfterMs: number;
  /** ms until the bucket is full again. */
  resetMs: number;
}

/** Something that decides on token buckets: LocalBuckets, or the cluster's shared ones (src/cluster/shared-stores.ts). */
export interface BucketStore {
  take(key: string, capacity: number, per: number): Decision | Promise<Decision>;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class LocalBuckets implements BucketStore {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string, capacity: number, per: number): Decision {
    const t = this.now();
    const rate = capacity / per;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.evict(t, rate, capacity);
      b = { tokens: capacity, at: t };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(capacity, b.tokens + (t - b.at) * rate);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true, remaining: Math.floor(b.tokens), retryAfterMs: 0, resetMs: Math.ceil((capacity - b.tokens) / rate) };
    }
    return { allowed: false, remaining: 0, retryAfterMs: Math.ceil((1 - b.tokens) / rate), resetMs: Math.ceil((capacity - b.tokens) / rate) };
  }

  /** Drops buckets that have refilled (they hold nothing a new bucket would not), else the oldest. */
  private evict(t: number, rate: number, capacity: number): void {
    let n = 0;
    for (const [k, b] of this.buckets) {
      if (b.tokens + (t - b.at) * rate >= capacity) this.buckets.delete(k);
      if (++n >= 1000) break;
    }
    if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
  }
}
