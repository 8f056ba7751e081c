/**
 * An upstream at run time: its targets (each with its pool, live counters, health and ejection
 * state), its balancer, its circuit breaker and its active health checker.
 *
 * A target is in rotation when it passes active health checks (if configured) and is not
 * ejected by passive outlier detection: `consecutiveFailures` failed attempts in a row eject it
 * for `ejectFor` × the number of its recent ejections (capped by `maxEjectFor`); it comes back
 * by itself when that time is over — no active check needed. At most `maxEjectedPercent` of the
 * targets (at least one) are ejected at once. When no target is in rotation, calls fail at once
 * with NO_HEALTHY_TARGET.
 *
 * With several worker processes (src/cluster/), every local change of that state — an ejection
 * or return, a health-check verdict, a breaker transition — is handed to `onTransition` (the
 * worker broadcasts it), and `apply()` takes the changes other workers made, silently: they
 * were announced (event, log line) by the worker that made them, and are not broadcast again.
 */
import { readFileSync } from 'node:fs';
import type { PassiveHealthConfig, UpstreamConfig } from '../config/schema.js';
import type { EventLog } from '../observe/events.js';
import { createBalancer, type Balancer } from './balancer.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import type { LookupFn } from './connector.js';
import { ActiveHealthChecker, ObservedOutcomes, type ObservedHealth } from './health.js';
import { TargetPool, type PoolStats, type UpstreamPool } from './pool.js';
import { H2TargetPool } from './h2-pool.js';
import { parseTarget, type Target } from './target.js';
import { DEFAULT_TIMEOUTS } from './policy.js';

/** Smoothing of the latency averages: about the last 10 samples. */
const EWMA_ALPHA = 0.2;
/** The moving average `avg` with one more sample (the first sample starts it). */
const smooth = (avg: number, x: number) => (avg === 0 ? x : avg + EWMA_ALPHA * (x - avg));
/** Retries always allowed in flight, however small the traffic (as Envoy's min_retry_concurrency). */
const MIN_RETRY_CONCURRENCY = 3;

export class TargetState {
  inflight = 0;
  ewma = 0;
  requests = 0;
  failures = 0;
  /** Passing active health checks (always true without them). */
  healthy = true;
  /** Failed attempts in a row (passive outlier detection). */
  consecutiveFailures = 0;
  /** Ejected until this time (performance.now()); 0 when in rotation. */
  ejectedUntil = 0;
  /** Ejections in the current streak, which lengthen each repeat. */
  ejections = 0;
  totalEjections = 0;
  lastReturnedAt = -Infinity;
  returnTimer: NodeJS.Timeout | null = null;
  /** The current ejection was decided by another worker: its end is announced there. */
  remoteEjection = false;
  /** Average time of this target's successful connects (DNS + TCP + TLS), ms; 0 before the first. */
  connectEwma = 0;
  /** Connects raced elsewhere and still pending (retries.hedgeConnect): new calls avoid the target meanwhile. */
  slowConnects = 0;
  /** What recent traffic says, apart from active checks and ejection. */
  readonly observed = new ObservedOutcomes();
  constructor(
    readonly target: Target,
    readonly pool: UpstreamPool,
  ) {}
  get weight(): number {
    return this.target.weight;
  }
  get ejected(): boolean {
    return this.ejectedUntil !== 0;
  }
  get available(): boolean {
    return this.healthy && this.ejectedUntil === 0;
  }
  observeLatency(ms: number): void {
    this.ewma = smooth(this.ewma, ms);
  }
  observeConnect(ms: number): void {
    this.connectEwma = smooth(this.connectEwma, ms);
  }
}

export interface TargetStats {
  id: string;
  url: string;
  weight: number;
  /**
   * `up` in rotation; `failing`: in rotation, but most of its recent calls fail (whether or not
   * a health check is configured); `ejected` by passive detection; `unhealthy` by active checks.
   */
  state: 'up' | 'failing' | 'ejected' | 'unhealthy';
  /** Passing the active health checks (true without them: see `activeHealth` and `observed`). */
  healthy: boolean;
  /** The active health check's verdict, or that none is configured. */
  activeHealth: 'passing' | 'failing' | 'not-configured';
  /** The last calls' outcomes (this process's traffic). */
  observed: ObservedHealth;
  ejected: boolean;
  ejectedForMs: number;
  ejections: number;
  consecutiveFailures: number;
  inflight: number;
  ewmaMs: number;
  requests: number;
  failures: number;
  pool: PoolStats;
}

export interface UpstreamStats {
  name: string;
  balance: string;
  activeRequests: number;
  activeRetries: number;
  breaker: { state: BreakerState; requests: number; failures: number; rejected: number; retryAfterMs: number } | null;
  healthChecks: { path: string; interval: number } | null;
  targets: TargetStats[];
}

/** A change of shared upstream state, as cluster workers tell each other (times are epoch ms). */
export type Transition =
  | { kind: 'ejected'; upstream: string; target: string; until: number; ejections: number }
  | { kind: 'returned'; upstream: string; target: string }
  | { kind: 'health'; upstream: string; target: string; healthy: boolean }
  | { kind: 'breaker'; upstream: string; state: BreakerState; openedAt: number };

export interface UpstreamOptions {
  /** Told of every local change of shared state (a cluster worker broadcasts it). */
  onTransition?: ((t: Transition) => void) | undefined;
  /** Run the active health checks in this process (default true; other workers take the lead's verdicts). */
  healthChecks?: boolean | undefined;
}

/** How an attempt on a target went, for outlier detection. */
export type AttemptVerdict = 'success' | 'failure' | 'neutral';

function readCa(upstream: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`upstreams.${upstream}.tls.ca: cannot read the CA file ${file} (${e.code ?? e.message})`);
  }
}

export class Upstream {
  readonly targets: TargetState[];
  readonly breaker: CircuitBreaker | null;
  private readonly balancer: Balancer<TargetState>;
  private readonly passive: PassiveHealthConfig | undefined;
  private readonly health: ActiveHealthChecker | null;
  /** Targets out of rotation; 0 lets pick() skip filtering. */
  private outOfRotation = 0;
  /** Targets with a raced connect still pending (slowConnects > 0), which pick() avoids. */
  private slowTargets = 0;
  activeRequests = 0;
  activeRetries = 0;
  private readonly share: ((t: Transition) => void) | undefined;
  private readonly runChecks: boolean;

  constructor(
    readonly name: string,
    readonly config: UpstreamConfig,
    lookup?: LookupFn,
    private readonly events?: EventLog,
    options: UpstreamOptions = {},
  ) {
    this.share = options.onTransition;
    this.runChecks = options.healthChecks ?? true;
    const connectTimeout = config.timeouts.connect ?? DEFAULT_TIMEOUTS.connect;
    // `tls.ca` names a PEM file: read it once here, never per connection (and never pass the path as PEM).
    const tls = { ...config.tls, ca: config.tls.ca === undefined ? undefined : readCa(name, config.tls.ca) };
    this.targets = config.targets.map((t) => {
      const target = parseTarget(t.url, t.weight);
      const options = {
        maxConnections: config.pool.maxConnections,
        maxQueue: config.pool.maxQueue,
        queueTimeout: config.pool.queueTimeout,
        idleTimeout: config.pool.idleTimeout,
        connect: { timeout: connectTimeout, lookup, tls },
      };
      const pool = target.h2 ? new H2TargetPool(target, options) : new TargetPool(target, options);
      return new TargetState(target, pool);
    });
    this.balancer = createBalancer<TargetState>(config.balance);
    this.passive = config.healthCheck?.passive;
    const cb = config.circuitBreaker;
    this.breaker = cb
      ? new CircuitBreaker(cb, (from, to, reason) => {
          this.events?.publish({ type: `breaker.${to}`, upstream: name, from, reason });
          this.share?.({ kind: 'breaker', upstream: name, state: to, openedAt: Date.now() });
        })
      : null;
    const active = config.healthCheck?.active;
    this.health = active
      ? new ActiveHealthChecker(
          this.targets,
          active,
          ({ subject, healthy, reason }) => {
            // An ejected target is already counted out of rotation.
            if (!(subject as TargetState).ejected) this.outOfRotation += healthy ? -1 : 1;
            this.events?.publish({ type: healthy ? 'health.up' : 'health.down', upstream: name, target: subject.target.id, reason });
            this.share?.({ kind: 'health', upstream: name, target: subject.target.id, healthy });
          },
          tls,
        )
      : null;
  }

  /** Starts background work (active health checks, unless another worker runs them). */
  start(): void {
    if (this.runChecks) this.health?.start();
  }

  /**
   * Picks a target in rotation, preferring ones this call has not tried yet; null when no
   * target is in rotation.
   */
  pick(tried: ReadonlySet<TargetState> | null): TargetState | null {
    const all = this.targets;
    if (this.outOfRotation === 0 && this.slowTargets === 0 && !(tried && tried.size)) return all.length === 1 ? all[0]! : this.balancer.pick(all);
    let live = this.outOfRotation === 0 ? all : all.filter((t) => t.available);
    if (live.length === 0) return null;
    if (this.slowTargets > 0) {
      // A target whose connects hang is avoided while one is pending, if any other will do.
      const quick = live.filter((t) => t.slowConnects === 0);
      if (quick.length) live = quick;
    }
    if (tried && tried.size) {
      const fresh = live.filter((t) => !tried.has(t));
      if (fresh.length) return fresh.length === 1 ? fresh[0]! : this.balancer.pick(fresh);
    }
    return live.length === 1 ? live[0]! : this.balancer.pick(live);
  }

  /**
   * Whether a call on `current` that tried `tried` before has somewhere else to go: a target in
   * rotation, neither, without a pending slow connect (what a connect race needs).
   */
  hasAlternative(tried: ReadonlySet<TargetState> | null, current: TargetState): boolean {
    return this.targets.some((t) => t !== current && t.available && t.slowConnects === 0 && !tried?.has(t));
  }

  /** A connect to `t` was raced elsewhere (it is slow): new calls avoid `t` until it settles. */
  connectRaced(t: TargetState): void {
    if (t.slowConnects++ === 0) this.slowTargets++;
  }

  /** A raced connect to `t` settled (connected or failed). */
  racedConnectSettled(t: TargetState): void {
    if (--t.slowConnects === 0) this.slowTargets--;
  }

  /** Feeds passive outlier detection with the outcome of one attempt on `t`. */
  report(t: TargetState, verdict: AttemptVerdict, reason: string): void {
    if (verdict === 'neutral') return;
    t.observed.record(verdict === 'failure', reason);
    if (verdict === 'success') {
      t.consecutiveFailures = 0;
      return;
    }
    t.failures++;
    t.consecutiveFailures++;
    const p = this.passive;
    if (!p || t.ejected || t.consecutiveFailures < p.consecutiveFailures) return;
    const ejectedNow = this.targets.reduce((n, x) => n + (x.ejected ? 1 : 0), 0);
    const maxEjected = Math.max(1, Math.floor(p.maxEjectedPercent * this.targets.length));
    if (ejectedNow >= maxEjected) return;
    this.eject(t, p, `${t.consecutiveFailures} consecutive failures; last: ${reason}`);
  }

  private eject(t: TargetState, p: PassiveHealthConfig, reason: string): void {
    const now = performance.now();
    // A target ejected again soon after coming back is ejected longer; a quiet spell resets that.
    if (now - t.lastReturnedAt > p.maxEjectFor) t.ejections = 0;
    t.ejections++;
    t.totalEjections++;
    const forMs = Math.min(p.ejectFor * t.ejections, p.maxEjectFor);
    t.ejectedUntil = now + forMs;
    if (t.healthy) this.outOfRotation++;
    t.remoteEjection = false;
    t.returnTimer = setTimeout(() => this.restore(t), forMs);
    t.returnTimer.unref();
    this.events?.publish({ type: 'target.ejected', upstream: this.name, target: t.target.id, reason, forMs, ejections: t.ejections });
    this.share?.({ kind: 'ejected', upstream: this.name, target: t.target.id, until: Date.now() + forMs, ejections: t.ejections });
  }

  private restore(t: TargetState): void {
    if (t.returnTimer) clearTimeout(t.returnTimer);
    t.returnTimer = null;
    if (!t.ejected) return;
    t.ejectedUntil = 0;
    t.consecutiveFailures = 0;
    t.observed.reset();
    t.lastReturnedAt = performance.now();
    if (t.healthy) this.outOfRotation--;
    if (t.remoteEjection) return;
    this.events?.publish({ type: 'target.returned', upstream: this.name, target: t.target.id, reason: 'ejection time over: back in rotation' });
    this.share?.({ kind: 'returned', upstream: this.name, target: t.target.id });
  }

  /**
   * Takes a change another worker made (see the class comment): the same state, without an
   * event and without telling anyone. An ejection ends here at the same time as there, even if
   * word of its end never comes.
   */
  apply(tr: Transition): void {
    if (tr.kind === 'breaker') {
      this.breaker?.apply(tr.state, Date.now() - tr.openedAt);
      return;
    }
    const t = this.targets.find((x) => x.target.id === tr.target);
    if (!t) return;
    if (tr.kind === 'ejected') {
      const forMs = tr.until - Date.now();
      if (forMs <= 0) return;
      const until = performance.now() + forMs;
      if (t.ejected) {
        if (until <= t.ejectedUntil) return;
      } else {
        t.totalEjections++;
        t.remoteEjection = true;
        if (t.healthy) this.outOfRotation++;
      }
      t.ejections = Math.max(t.ejections, tr.ejections);
      t.ejectedUntil = until;
      if (t.returnTimer) clearTimeout(t.returnTimer);
      t.returnTimer = setTimeout(() => this.restore(t), forMs);
      t.returnTimer.unref();
    } else if (tr.kind === 'returned') {
      if (!t.ejected) return;
      t.remoteEjection = true;
      this.restore(t);
    } else if (t.healthy !== tr.healthy) {
      t.healthy = tr.healthy;
      if (!t.ejected) this.outOfRotation += tr.healthy ? -1 : 1;
    }
  }

  /** The retry budget: retries in flight stay under a share of the requests in flight. */
  retryAllowed(budget: number): boolean {
    return this.activeRetries < Math.max(MIN_RETRY_CONCURRENCY, budget * this.activeRequests);
  }

  stats(): UpstreamStats {
    const now = performance.now();
    const b = this.breaker;
    return {
      name: this.name,
      balance: this.balancer.name,
      activeRequests: this.activeRequests,
      activeRetries: this.activeRetries,
      breaker: b ? { state: b.state, ...b.window(), rejected: b.rejected, retryAfterMs: Math.round(b.retryAfterMs()) } : null,
      healthChecks: this.config.healthCheck?.active ? { path: this.config.healthCheck.active.path, interval: this.config.healthCheck.active.interval } : null,
      targets: this.targets.map((t) => {
        const observed = t.observed.stats();
        return {
        id: t.target.id,
        url: t.target.url,
        weight: t.weight,
        state: !t.healthy ? 'unhealthy' : t.ejected ? 'ejected' : observed.failing ? 'failing' : 'up',
        healthy: t.healthy,
        activeHealth: this.health ? (t.healthy ? 'passing' : 'failing') : 'not-configured',
        observed,
        ejected: t.ejected,
        ejectedForMs: t.ejected ? Math.max(0, Math.round(t.ejectedUntil - now)) : 0,
        ejections: t.totalEjections,
        consecutiveFailures: t.consecutiveFailures,
        inflight: t.inflight,
        ewmaMs: Math.round(t.ewma * 100) / 100,
        requests: t.requests,
        failures: t.failures,
        pool: t.pool.stats(),
        };
      }),
    };
  }

  async close(): Promise<void> {
    for (const t of this.targets) if (t.returnTimer) clearTimeout(t.returnTimer);
    await this.health?.stop();
    await Promise.all(this.targets.map((t) => t.pool.close()));
  }
}
