/**
 * The circuit breaker of an upstream: closed → open when the failure rate of calls over a
 * sliding window crosses the threshold (with a minimum number of calls); open → half-open after
 * `openFor`, letting a limited number of probe calls through; half-open → closed when every
 * probe succeeds, back to open on the first probe failure. While open, calls are refused before
 * any backend work (CIRCUIT_OPEN). Failures are timeouts, connection failures and 502/503/504
 * answers — never 4xx, never calls the gateway itself refused (pool exhaustion, circuit open).
 */
import type { CircuitBreakerConfig } from '../config/schema.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** What acquire() grants: a normal call, a half-open probe, or nothing (fail fast). */
export type Permit = 'call' | 'probe' | null;

export type BreakerListener = (from: BreakerState, to: BreakerState, reason: string) => void;

const BUCKETS = 10;

export class CircuitBreaker {
  state: BreakerState = 'closed';
  private openedAt = 0;
  private probesInFlight = 0;
  private probeSuccesses = 0;
  private readonly bucketMs: number;
  private readonly requests = new Array<number>(BUCKETS).fill(0);
  private readonly failures = new Array<number>(BUCKETS).fill(0);
  private readonly starts = new Array<number>(BUCKETS).fill(-Infinity);
  /** Calls refused while open, since start. */
  rejected = 0;

  constructor(
    readonly config: CircuitBreakerConfig,
    private readonly onChange: BreakerListener = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.bucketMs = Math.max(1, config.window / BUCKETS);
  }

  /** Asks to make a call. A granted permit must be settled with record() or release(). */
  acquire(): Permit {
    if (this.state === 'open') {
      if (this.now() - this.openedAt < this.config.openFor) {
        this.rejected++;
        return null;
      }
      this.transition('half-open', `open for ${Math.round(this.config.openFor)} ms: letting ${this.config.halfOpenRequests} probe calls through`);
    }
    if (this.state === 'half-open') {
      if (this.probesInFlight + this.probeSuccesses >= this.config.halfOpenRequests) {
        this.rejected++;
        return null;
      }
      this.probesInFlight++;
      return 'probe';
    }
    return 'call';
  }

  /** The outcome of a permitted call. */
  record(permit: Permit, ok: boolean): void {
    if (permit === 'probe') {
      this.probesInFlight = Math.max(0, this.probesInFlight - 1);
      if (this.state !== 'half-open') return;
      if (!ok) {
        this.open('a probe call failed while half-open');
        return;
      }
      if (++this.probeSuccesses >= this.config.halfOpenRequests) {
        this.transition('closed', `${this.probeSuccesses} probe calls succeeded`);
      }
      return;
    }
    if (permit !== 'call' || this.state !== 'closed') return;
    const i = this.bucket();
    this.requests[i]!++;
    if (!ok) this.failures[i]!++;
    // Evaluated on successes too: the call that reaches minRequests may be a success while the
    // failure rate is already over the threshold.
    this.evaluate();
  }

  /** A permit that ended without a verdict on the backend (the client left, the pool was full). */
  release(permit: Permit): void {
    if (permit === 'probe') this.probesInFlight = Math.max(0, this.probesInFlight - 1);
  }

  /**
   * Takes a state another process decided (a cluster worker's breaker, src/cluster/): no
   * listener call, so the change is not announced again. `openedAgoMs`: how long ago it opened.
   */
  apply(to: BreakerState, openedAgoMs = 0): void {
    if (to === 'open') this.openedAt = this.now() - Math.max(0, openedAgoMs);
    if (to === this.state && to !== 'open') return;
    this.set(to);
  }

  /** When the breaker last opened, as performance.now() time. */
  get openedAtMs(): number {
    return this.openedAt;
  }

  /** Calls and failures in the current window. */
  window(): { requests: number; failures: number } {
    const now = this.now();
    let requests = 0;
    let failures = 0;
    for (let i = 0; i < BUCKETS; i++) {
      if (now - this.starts[i]! < this.config.window) {
        requests += this.requests[i]!;
        failures += this.failures[i]!;
      }
    }
    return { requests, failures };
  }

  /** Milliseconds until an open breaker lets probes through (0 unless open). */
  retryAfterMs(): number {
    return this.state === 'open' ? Math.max(0, this.config.openFor - (this.now() - this.openedAt)) : 0;
  }

  private bucket(): number {
    const now = this.now();
    const slot = Math.floor(now / this.bucketMs);
    const i = slot % BUCKETS;
    const start = slot * this.bucketMs;
    if (this.starts[i] !== start) {
      this.starts[i] = start;
      this.requests[i] = 0;
      this.failures[i] = 0;
    }
    return i;
  }

  private evaluate(): void {
    const { requests, failures } = this.window();
    if (requests >= this.config.minRequests && failures / requests >= this.config.failureRate) {
      this.open(`${failures} of ${requests} calls failed in the last ${Math.round(this.config.window)} ms (threshold ${Math.round(this.config.failureRate * 100)}%)`);
    }
  }

  private open(reason: string): void {
    this.openedAt = this.now();
    this.transition('open', reason);
  }

  private transition(to: BreakerState, reason: string): void {
    const from = this.state;
    this.set(to);
    this.onChange(from, to, reason);
  }

  private set(to: BreakerState): void {
    this.state = to;
    this.probesInFlight = 0;
    this.probeSuccesses = 0;
    if (to === 'closed') {
      this.requests.fill(0);
      this.failures.fill(0);
      this.starts.fill(-Infinity);
    }
  }
}
