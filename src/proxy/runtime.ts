/** The running form of a config: compiled routes bound to live upstreams. */
import type { Config, RetryCondition, RetryPolicy, RouteConfig } from '../config/schema.js';
import type { EventLog } from '../observe/events.js';
import type { PolicyChain } from '../policies/chain.js';
import { Router } from '../routing/router.js';
import type { CallSink } from '../observe/call-record.js';
import type { LookupFn } from '../upstream/connector.js';
import { effectiveRetries, effectiveTimeouts, type EffectiveTimeouts } from '../upstream/policy.js';
import { Upstream, type UpstreamOptions } from '../upstream/upstream.js';
import { StaleStore, staticFallback } from './fallback.js';

export interface RouteRuntime {
  name: string;
  upstream: Upstream;
  stripPrefix: string | undefined;
  preserveHost: boolean;
  timeouts: EffectiveTimeouts;
  retries: RetryPolicy;
  retryOn: Set<RetryCondition>;
  retryStatuses: Set<number>;
  maxBodySize: number;
  /** The route's policies (src/policies/chain.ts), set by Policies.attach; absent: none, and no cost. */
  policies?: PolicyChain | undefined;
  /** How long a stale copy may answer for a failure (0: no stale fallback). */
  staleFor: number;
  /** Where stale copies live (only for routes with staleFor). */
  staleStore: StaleStore | null;
  staticFallback: ReturnType<typeof staticFallback>;
}

/** What the runtime shares with the gateway around it. */
export interface RuntimeShared {
  events?: EventLog | undefined;
  /** One byte-bounded store for every route's stale copies. */
  staleStore?: StaleStore | undefined;
  /** How new upstreams share their state with other workers (src/cluster/). */
  upstream?: UpstreamOptions | undefined;
}

/** What every call shares with the gateway around it. */
export interface CallEnv {
  expose: boolean;
  sink: CallSink;
  lookup: LookupFn | undefined;
  isTrustedPeer(address: string | undefined): boolean;
  /**
   * Calls in flight, for graceful shutdown: a count, not a Set of calls. A long-lived Set that
   * takes and drops an entry per call keeps rehashing its table, and V8 links each replaced table
   * to its successor; once a full GC has moved one into the old generation, every later table and
   * the calls in it are promoted (bench/RESULTS.md, "Session 5: the sustained-load fall").
   */
  inflight: { calls: number };
  /** The gateway is shutting down: responses close their connection. */
  draining(): boolean;
}

export interface Runtime {
  router: Router<RouteRuntime>;
  upstreams: Map<string, Upstream>;
  routes: RouteRuntime[];
}

/** `reuse` hands back a live Upstream to keep (a reload keeps the pools of unchanged upstreams). */
export function buildRuntime(
  config: Config,
  lookup?: LookupFn,
  reuse?: (name: string, config: Config['upstreams'][string]) => Upstream | undefined,
  shared: RuntimeShared = {},
): Runtime {
  const upstreams = new Map<string, Upstream>();
  for (const [name, u] of Object.entries(config.upstreams)) upstreams.set(name, reuse?.(name, u) ?? new Upstream(name, u, lookup, shared.events, shared.upstream));
  const routes = config.routes.map((r): RouteRuntime => routeRuntime(config, r, upstreams.get(r.upstream)!, shared));
  // A CORS route answers preflights (OPTIONS) itself, whatever methods it proxies.
  const withPreflight = (r: RouteConfig) => (r.cors && r.match.methods && !r.match.methods.includes('OPTIONS') ? { ...r.match, methods: [...r.match.methods, 'OPTIONS' as const] } : r.match);
  const router = new Router(config.routes.map((r, i) => ({ spec: { name: r.name, ...withPreflight(r) }, value: routes[i]! })));
  return { router, upstreams, routes };
}

/** The running form of route `r` sending to `upstream` (its own, or the second one of a split). */
export function routeRuntime(config: Config, r: RouteConfig, upstream: Upstream, shared: RuntimeShared = {}): RouteRuntime {
  const retries = effectiveRetries(upstream.config, r);
  const f = r.fallback;
  return {
    name: r.name,
    upstream,
    stripPrefix: r.stripPrefix,
    preserveHost: r.preserveHost,
    timeouts: effectiveTimeouts(upstream.config.timeouts, r.timeouts),
    retries,
    retryOn: new Set(retries.on.filter((c): c is RetryCondition => typeof c === 'string')),
    retryStatuses: new Set(retries.on.filter((c): c is number => typeof c === 'number')),
    maxBodySize: r.maxBodySize ?? config.server.maxBodySize,
    staleFor: f && 'staleFor' in f ? f.staleFor : 0,
    staticFallback: f ? staticFallback(f) : null,
    staleStore: f && 'staleFor' in f ? (shared.staleStore ??= new StaleStore()) : null,
  };
}
