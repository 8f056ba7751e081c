/** An upstream at run time: its targets with their pools and live counters, and its balancer. */
import { readFileSync } from 'node:fs';
import type { UpstreamConfig } from '../config/schema.js';
import { createBalancer, type Balancer } from './balancer.js';
import type { LookupFn } from './connector.js';
import { TargetPool, type PoolStats } from './pool.js';
import { parseTarget, type Target } from './target.js';
import { DEFAULT_TIMEOUTS } from './policy.js';

/** Smoothing of the latency average: about the last 10 responses. */
const EWMA_ALPHA = 0.2;
/** Retries always allowed in flight, however small the traffic (as Envoy's min_retry_concurrency). */
const MIN_RETRY_CONCURRENCY = 3;

export class TargetState {
  inflight = 0;
  ewma = 0;
  requests = 0;
  failures = 0;
  constructor(
    readonly target: Target,
    readonly pool: TargetPool,
  ) {}
  get weight(): number {
    return this.target.weight;
  }
  observeLatency(ms: number): void {
    this.ewma = this.ewma === 0 ? ms : this.ewma + EWMA_ALPHA * (ms - this.ewma);
  }
}

export interface UpstreamStats {
  name: string;
  balance: string;
  activeRequests: number;
  activeRetries: number;
  targets: Array<{ id: string; url: string; weight: number; inflight: number; ewmaMs: number; requests: number; failures: number; pool: PoolStats }>;
}

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
  private readonly balancer: Balancer<TargetState>;
  activeRequests = 0;
  activeRetries = 0;

  constructor(
    readonly name: string,
    readonly config: UpstreamConfig,
    lookup?: LookupFn,
  ) {
    const connectTimeout = config.timeouts.connect ?? DEFAULT_TIMEOUTS.connect;
    // `tls.ca` names a PEM file: read it once here, never per connection (and never pass the path as PEM).
    const tls = { ...config.tls, ca: config.tls.ca === undefined ? undefined : readCa(name, config.tls.ca) };
    this.targets = config.targets.map((t) => {
      const target = parseTarget(t.url, t.weight);
      const pool = new TargetPool(target, {
        maxConnections: config.pool.maxConnections,
        maxQueue: config.pool.maxQueue,
        queueTimeout: config.pool.queueTimeout,
        idleTimeout: config.pool.idleTimeout,
        connect: { timeout: connectTimeout, lookup, tls },
      });
      return new TargetState(target, pool);
    });
    this.balancer = createBalancer<TargetState>(config.balance);
  }

  /** Picks a target, preferring ones this call has not tried yet. */
  pick(tried: ReadonlySet<TargetState> | null): TargetState {
    if (this.targets.length === 1) return this.targets[0]!;
    if (tried && tried.size > 0 && tried.size < this.targets.length) {
      return this.balancer.pick(this.targets.filter((t) => !tried.has(t)));
    }
    return this.balancer.pick(this.targets);
  }

  /** The retry budget: retries in flight stay under a share of the requests in flight. */
  retryAllowed(budget: number): boolean {
    return this.activeRetries < Math.max(MIN_RETRY_CONCURRENCY, budget * this.activeRequests);
  }

  stats(): UpstreamStats {
    return {
      name: this.name,
      balance: this.balancer.name,
      activeRequests: this.activeRequests,
      activeRetries: this.activeRetries,
      targets: this.targets.map((t) => ({
        id: t.target.id,
        url: t.target.url,
        weight: t.weight,
        inflight: t.inflight,
        ewmaMs: Math.round(t.ewma * 100) / 100,
        requests: t.requests,
        failures: t.failures,
        pool: t.pool.stats(),
      })),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.pool.close()));
  }
}
