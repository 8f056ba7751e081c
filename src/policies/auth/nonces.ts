/**
 * Replay protection for signed requests: a nonce is accepted once while its request's date is
 * inside the clock-skew window; after that the date check refuses the replay by itself. The
 * cache is bounded: entries leave in arrival order when they expire, and when it is full the
 * oldest go early (counted in `evicted`), which only matters if more signed requests arrive
 * within one skew window than the cache holds — size `auth.nonceCache` above that.
 */
/** Where used nonces are remembered: a NonceCache, or the cluster's shared one (src/cluster/shared-stores.ts). */
export interface NonceStore {
  /** Records a nonce; false when it was already used (a replay). */
  remember(key: string, expires: number): boolean | Promise<boolean>;
}

export class NonceCache implements NonceStore {
  /** nonce key → expiry (epoch ms); Map order is arrival order. */
  private readonly seen = new Map<string, number>();
  evicted = 0;

  constructor(
    private readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a nonce; false when it was already used (a replay). */
  remember(key: string, expires: number): boolean {
    const t = this.now();
    const prev = this.seen.get(key);
    if (prev !== undefined && prev > t) return false;
    if (prev !== undefined) this.seen.delete(key);
    this.sweep(t);
    if (this.seen.size >= this.capacity) {
      this.seen.delete(this.seen.keys().next().value!);
      this.evicted++;
    }
    this.seen.set(key, expires);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Drops expired entries from the front, a few at a time, so a call never does unbounded work. */
  private sweep(t: number): void {
    let n = 0;
    for (const [k, exp] of this.seen) {
      if (exp > t || n++ >= 64) break;
      this.seen.delete(k);
    }
  }
}
