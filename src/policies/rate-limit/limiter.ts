/**
 * The gateway's one rate limiter: in-process buckets (or, with several workers, the buckets the
 * cluster primary keeps for all of them: src/cluster/shared-stores.ts), or Redis buckets shared
 * by every gateway when `redis:` is configured. When Redis does not answer, `redis.whenDown` decides: fail-open
 * (the default) enforces the same limits per gateway with the local buckets; fail-closed
 * refuses. The switch is published as a `redis.down` / `redis.up` event (logged) and counted
 * in `stats`, which metrics read.
 */
import type { EventLog } from '../../observe/events.js';
import { LocalBuckets, type BucketStore, type Decision } from './bucket.js';
import { RedisBuckets } from './redis.js';

export interface LimiterStats {
  /** Redis commands that failed or timed out. */
  redisErrors: number;
  /** Calls decided by local buckets because Redis was down (fail-open). */
  failOpen: number;
  /** Calls refused because Redis was down (fail-closed). */
  failClosed: number;
  /** Redis reachable as far as the gateway knows; null without Redis. */
  redisUp: boolean | null;
}

/** A decision refused only because the shared store is unreachable (fail-closed). */
export const STORE_DOWN: Decision = { allowed: false, remaining: 0, retryAfterMs: 1000, resetMs: 1000 };

export class Limiter {
  readonly local = new LocalBuckets();
  /** Where limits without Redis (and with Redis down, fail-open) are counted: `local`, or the cluster's. */
  private readonly buckets: BucketStore;
  private readonly redis: RedisBuckets | null;
  readonly stats: LimiterStats = { redisErrors: 0, failOpen: 0, failClosed: 0, redisUp: null };

  constructor(
    redis: { url: string; whenDown: 'fail-open' | 'fail-closed'; timeout: number } | undefined,
    private readonly events: EventLog,
    shared?: BucketStore,
  ) {
    this.buckets = shared ?? this.local;
    this.failClosed = redis?.whenDown === 'fail-closed';
    this.redis = redis ? new RedisBuckets(redis.url, redis.timeout, (up, reason) => this.mark(up, reason)) : null;
  }

  private readonly failClosed: boolean;

  private mark(up: boolean, reason: string): void {
    if (this.stats.redisUp === up) return;
    const first = this.stats.redisUp === null;
    this.stats.redisUp = up;
    if (first && up) return;
    this.events.publish({
      type: up ? 'redis.up' : 'redis.down',
      reason: up ? 'Redis answers again: rate limits are shared again' : `Redis is unreachable (${reason}): rate limits are ${this.failClosed ? 'refusing calls (fail-closed)' : 'enforced per gateway (fail-open)'}`,
    });
  }

  take(key: string, capacity: number, per: number): Decision | Promise<Decision> {
    if (!this.redis) return this.buckets.take(key, capacity, per);
    if (this.stats.redisUp === false) return this.fallback(key, capacity, per);
    return this.redis.take(key, capacity, per).then(
      (d) => d,
      (err: Error) => {
        this.stats.redisErrors++;
        this.mark(false, err.message);
        return this.fallback(key, capacity, per);
      },
    );
  }

  private fallback(key: string, capacity: number, per: number): Decision | Promise<Decision> {
    if (this.failClosed) {
      this.stats.failClosed++;
      return STORE_DOWN;
    }
    this.stats.failOpen++;
    return this.buckets.take(key, capacity, per);
  }

  close(): void {
    this.redis?.close();
  }
}
