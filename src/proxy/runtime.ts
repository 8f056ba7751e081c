/** The running form of a config: compiled routes bound to live upstreams. */
import type { Config, RetryCondition } from '../config/schema.js';
import type { EventLog } from '../observe/events.js';
import { Router } from '../routing/router.js';
import type { ResponseStore } from '../policies/cache/store.js';
import type { LookupFn } from '../upstream/connector.js';
import { effectiveRetries, effectiveTimeouts } from '../upstream/policy.js';
import { Upstream, type UpstreamOptions } from '../upstream/upstream.js';
import { upstreamCall } from './call.js';
import type { RouteRuntime } from './exchange.js';
import { routeFallback } from './fallback.js';

/** What the runtime shares with the gateway around it. */
export interface RuntimeShared {
  events?: EventLog | undefined;
  /** The gateway's response store (the cache's and the stale fallback's). */
  responses: ResponseStore;
  /** How new upstreams share their state with other workers (src/cluster/). */
  upstream?: UpstreamOptions | undefined;
}

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
  const routes = config.routes.map((r): RouteRuntime => {
    const upstream = upstreams.get(r.upstream)!;
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
      maxBodySize: r.maxBodySize ?? config.server.maxBodySize,
      escapedSlashes: r.escapedSlashes,
      pathParameters: r.pathParameters,
      fallback: routeFallback(r.name, r.fallback, shared.responses),
      pipeline: upstreamCall,
    };
  });
  const router = new Router(config.routes.map((r, i) => ({ spec: { name: r.name, ...r.match }, value: routes[i]! })));
  return { router, upstreams, routes };
}
