/** The running form of a config: compiled routes bound to live upstreams. */
import type { Config, RetryCondition, RouteConfig } from '../config/schema.js';
import type { EventLog } from '../observe/events.js';
import { Router } from '../routing/router.js';
import type { ResponseStore } from '../policies/cache/store.js';
import type { LookupFn } from '../upstream/connector.js';
import { effectiveRetries, effectiveTimeouts } from '../upstream/policy.js';
import { Upstream, type UpstreamOptions } from '../upstream/upstream.js';
import { upstreamCall } from './call.js';
import type { RouteRuntime } from './exchange.js';
import { routeFallback } from './fallback.js';
import { grpcCodeOfRetryName } from '../grpc/status.js';

/** What the runtime shares with the gateway around it. */
export interface RuntimeShared {
  events?: EventLog | undefined;
  /** The gateway's response store (the cache's and the stale fallback's). */
  responses: ResponseStore;
  /** How new upstreams share their state with other workers (src/cluster/). */
  upstream?: UpstreamOptions | undefined;
}

/** Session limits of `websocket: true` (docs/edge.md). */
const WEBSOCKET_DEFAULTS = { idleTimeout: 300_000, maxLifetime: 86_400_000 };

export interface Runtime {
  router: Router<RouteRuntime>;
  upstreams: Map<string, Upstream>;
  routes: RouteRuntime[];
}

/** `reuse` hands back a live Upstream to keep (a reload keeps the pools of unchanged upstreams). */
export function buildRuntime(
  config: Config,
  lookup: LookupFn | undefined,
  reuse: ((name: string, config: Config['upstreams'][string]) => Upstream | undefined) | undefined,
  shared: RuntimeShared,
): Runtime {
  const upstreams = new Map<string, Upstream>();
  for (const [name, u] of Object.entries(config.upstreams)) upstreams.set(name, reuse?.(name, u) ?? new Upstream(name, u, lookup, shared.events, shared.upstream));
  const routes = config.routes.map((r): RouteRuntime => routeRuntime(config, r, upstreams.get(r.upstream)!, shared));
  // A CORS route answers preflights (OPTIONS) itself, whatever methods it proxies.
  const withPreflight = (r: RouteConfig) => (r.cors && r.match.methods && !r.match.methods.includes('OPTIONS') ? { ...r.match, methods: [...r.match.methods, 'OPTIONS' as const] } : r.match);
  const router = new Router(config.routes.map((r, i) => ({ spec: { name: r.name, ...withPreflight(r) }, value: routes[i]! })));
  return { router, upstreams, routes };
}

/** The running form of route `r` sending to `upstream`: its own, or the second side of a split. */
export function routeRuntime(config: Config, r: RouteConfig, upstream: Upstream, shared: Pick<RuntimeShared, 'responses'>): RouteRuntime {
  const retries = effectiveRetries(upstream.config, r);
  return {
    name: r.name,
    upstream,
    stripPrefix: r.stripPrefix,
    preserveHost: r.preserveHost,
    timeouts: effectiveTimeouts(upstream.config.timeouts, r.timeouts),
    retries,
    retryOn: new Set(retries.on.filter((c): c is RetryCondition => typeof c === 'string')),
    retryStatuses: new Set(retries.on.filter((c): c is number => typeof c === 'number')),
    retryGrpc: new Set(retries.on.map((c) => (typeof c === 'string' ? grpcCodeOfRetryName(c) : undefined)).filter((c): c is number => c !== undefined)),
    maxBodySize: r.maxBodySize ?? config.server.maxBodySize,
    escapedSlashes: r.escapedSlashes,
    pathParameters: r.pathParameters,
    fallback: routeFallback(r.name, r.fallback, shared.responses),
    pipeline: upstreamCall,
    websocket: r.websocket === false ? null : r.websocket === true ? WEBSOCKET_DEFAULTS : r.websocket,
  };
}
