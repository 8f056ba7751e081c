/**
 * What a policy is: a folder under src/policies/<name>/ exporting one `PolicyDef`, listed once
 * in src/policies/index.ts (`POLICIES`, in pipeline order). At config load, each route that
 * sets the policy's key gets the stage its `create` returns; a route that sets none of them
 * runs the upstream call alone.
 */
import type { Config, RouteConfig } from '../config/schema.js';
import type { Stage } from '../proxy/exchange.js';
import type { Limiter } from './rate-limit/limiter.js';
import type { ConsumerRegistry } from './consumers/registry.js';
import type { NonceStore } from './auth/nonces.js';
import type { ResponseStore } from './cache/store.js';
import type { JwtIssuers } from './jwt/index.js';
import type { Upstream } from '../upstream/upstream.js';

/** The state a policy's stage may use beyond its own config: shared across routes and reloads. */
export interface PolicyContext {
  config: Config;
  route: RouteConfig;
  consumers: ConsumerRegistry;
  nonces: NonceStore;
  limiter: Limiter;
  responses: ResponseStore;
  /** The gateway's trusted JWT issuers (`jwt:`), null without. */
  jwt: JwtIssuers | null;
  /** The live upstreams of the runtime being built (a split's second side). */
  upstreams: ReadonlyMap<string, Upstream>;
}

export interface PolicyDef<K extends keyof RouteConfig = keyof RouteConfig> {
  /** The route config key that turns the policy on. */
  key: K;
  /** The stage for one route, or null when the value configured means "off" (`subscription: none`). */
  create(value: NonNullable<RouteConfig[K]>, ctx: PolicyContext): Stage | null;
}

/** Declares a policy; typed by its config key. */
export function policy<K extends keyof RouteConfig>(key: K, create: PolicyDef<K>['create']): PolicyDef<K> {
  return { key, create };
}
