/** The running form of a config: compiled routes bound to live upstreams. */
import type { Config, RetryCondition, RetryPolicy } from '../config/schema.js';
import { Router } from '../routing/router.js';
import type { CallSink } from '../observe/call-record.js';
import type { LookupFn } from '../upstream/connector.js';
import { effectiveRetries, effectiveTimeouts, type EffectiveTimeouts } from '../upstream/policy.js';
import { Upstream } from '../upstream/upstream.js';

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
}

/** What every call shares with the gateway around it. */
export interface CallEnv {
  expose: boolean;
  sink: CallSink;
  lookup: LookupFn | undefined;
  isTrustedPeer(address: string | undefined): boolean;
  /** Calls in flight, for graceful shutdown. */
  inflight: Set<unknown>;
  /** The gateway is shutting down: responses close their connection. */
  draining(): boolean;
}

export interface Runtime {
  router: Router<RouteRuntime>;
  upstreams: Map<string, Upstream>;
  routes: RouteRuntime[];
}

export function buildRuntime(config: Config, lookup?: LookupFn): Runtime {
  const upstreams = new Map<string, Upstream>();
  for (const [name, u] of Object.entries(config.upstreams)) upstreams.set(name, new Upstream(name, u, lookup));
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
    };
  });
  const router = new Router(config.routes.map((r, i) => ({ spec: { name: r.name, ...r.match }, value: routes[i]! })));
  return { router, upstreams, routes };
}
