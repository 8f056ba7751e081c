/**
 * Rate limits and HMAC nonces across workers: the primary owns the one set of token buckets and
 * the one nonce cache (StoreHost), and every worker asks it (StoreClient). A limit of "10/s"
 * is then 10/s in total, exactly as in one process, whichever worker each connection lands
 * on; a nonce used on one worker is refused on every other.
 *
 * Cost and bounds: one IPC round trip per decision (about 0.1-0.2 ms on loopback; every
 * decision a worker asks for in one turn of its event loop travels in one message). Decisions
 * are made in arrival order at the primary, with its clock; the only imprecision is that round
 * trip. If the primary does not answer within `timeoutMs` (it is blocked, or gone), the worker
 * decides alone with its own buckets and cache (fail-open: up to N × the limit while that
 * lasts) and counts it in `fallbacks`. Redis-backed limits (`redis:`) are shared by Redis
 * itself and do not come here, except as the fail-open fallback while Redis is down.
 */
import { NonceCache, type NonceStore } from '../policies/auth/nonces.js';
import { LocalBuckets, type BucketStore, type Decision } from '../policies/rate-limit/bucket.js';
import type { StoreOp, StoreResult, WorkerBus } from './bus.js';

/** The primary's side: the buckets and nonces themselves. */
export class StoreHost {
  readonly buckets: LocalBuckets;
  readonly nonces: NonceCache;

  constructor(nonceCapacity: number, now: () => number = Date.now) {
    this.buckets = new LocalBuckets(100_000, now);
    this.nonces = new NonceCache(nonceCapacity, now);
  }

  run(ops: StoreOp[]): StoreResult[] {
    return ops.map((op) => (op[0] === 'take' ? this.buckets.take(op[1], op[2], op[3]) : this.nonces.remember(op[1], op[2])));
  }
}

/** A worker's side: asks the primary, batching what one event-loop turn asks for. */
export class StoreClient implements BucketStore, NonceStore {
  private ops: StoreOp[] = [];
  private waiters: Array<(r: StoreResult | undefined) => void> = [];
  private scheduled = false;
  /** Used only when the primary does not answer in time. */
  private readonly local = new LocalBuckets();
  private readonly localNonces: NonceCache;
  readonly stats = { requests: 0, fallbacks: 0 };

  constructor(
    private readonly bus: WorkerBus,
    nonceCapacity: number,
    private readonly timeoutMs = 1000,
  ) {
    this.localNonces = new NonceCache(nonceCapacity);
  }

  take(key: string, capacity: number, per: number): Promise<Decision> {
    return this.enqueue(['take', key, capacity, per]).then((r) => (r === undefined ? this.local.take(key, capacity, per) : (r as Decision)));
  }

  remember(key: string, expires: number): Promise<boolean> {
    return this.enqueue(['nonce', key, expires]).then((r) => (r === undefined ? this.localNonces.remember(key, expires) : (r as boolean)));
  }

  private enqueue(op: StoreOp): Promise<StoreResult | undefined> {
    return new Promise((resolve) => {
      this.ops.push(op);
      this.waiters.push(resolve);
      if (!this.scheduled) {
        this.scheduled = true;
        // After the poll phase: every request parsed in this turn joins the batch.
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const ops = this.ops;
    const waiters = this.waiters;
    this.ops = [];
    this.waiters = [];
    this.stats.requests += ops.length;
    this.bus.request('primary', 'store', ops, this.timeoutMs).then(
      (results) => waiters.forEach((w, i) => w(results[i])),
      () => {
        this.stats.fallbacks += ops.length;
        for (const w of waiters) w(undefined);
      },
    );
  };
}
