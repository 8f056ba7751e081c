/**
 * The policies of a gateway: the state they share across routes and reloads (consumers and
 * their credentials, the HMAC nonce cache, the rate limiter and its Redis connection, the
 * response store) and, per route, the pipeline of its policy stages in front of the upstream
 * call. `attach` builds the pipelines of a runtime; a route without policies gets the upstream
 * call alone and pays nothing. docs/pipeline.md explains the order of `POLICIES`.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Config, RouteConfig } from '../config/schema.js';
import type { EventLog } from '../observe/events.js';
import { upstreamCall } from '../proxy/call.js';
import { compose, type Stage } from '../proxy/exchange.js';
import type { Runtime } from '../proxy/runtime.js';
import { authPolicy } from './auth/index.js';
import { NonceCache, type NonceStore } from './auth/nonces.js';
import { cachePolicy } from './cache/index.js';
import type { ResponseStore } from './cache/store.js';
import { ConsumerRegistry } from './consumers/registry.js';
import { SqliteConsumerStore } from './consumers/sqlite-store.js';
import type { ConsumerStore } from './consumers/store.js';
import { corsPolicy } from './cors/index.js';
import { faultsPolicy } from './faults/index.js';
import { headersPolicy } from './headers/index.js';
import { globalIpRules, ipRulesPolicy } from './ip-rules/index.js';
import { JwtIssuers } from './jwt/index.js';
import { splitPolicy } from './split/index.js';
import type { PolicyContext, PolicyDef } from './policy.js';
import type { BucketStore } from './rate-limit/bucket.js';
import { Limiter } from './rate-limit/limiter.js';
import { rateLimitPolicy } from './rate-limit/index.js';
import { subscriptionPolicy } from './subscription/index.js';

/** Every policy, in the order a request meets them (docs/pipeline.md says why). */
export const POLICIES: readonly PolicyDef[] = [ipRulesPolicy, corsPolicy, authPolicy, subscriptionPolicy, rateLimitPolicy, headersPolicy, cachePolicy, faultsPolicy, splitPolicy];

/** State kept outside this process: with several workers, the cluster primary's (src/cluster/shared-stores.ts). */
export interface SharedPolicyState {
  buckets?: BucketStore;
  nonces?: NonceStore;
  /** The fleet's consumer store (storage.url, src/policies/consumers/pg-store.ts) instead of the SQLite file. */
  consumers?: ConsumerStore;
}

export class Policies {
  /** Replaced when a reload changes `consumers:`; attach() then builds chains on the new one. */
  consumers: ConsumerRegistry;
  readonly nonces: NonceCache;
  readonly limiter: Limiter;
  private readonly store: ConsumerStore;
  private consumersConfig: Config['consumers'];
  /** Where HMAC nonces are checked: `nonces`, or the cluster's shared store. */
  private readonly nonceStore: NonceStore;
  private runtime: Runtime | null = null;
  /** The trusted JWT issuers and their key caches; rebuilt when a reload changes `jwt:`. */
  jwt: JwtIssuers | null = null;

  constructor(
    private readonly config: () => Config,
    private readonly events: EventLog,
    /** The gateway's response store (the cache's, shared with the stale fallback). */
    readonly responses: ResponseStore,
    shared: SharedPolicyState = {},
  ) {
    const c = config();
    // Runtime-created credentials live next to the call log (no call log, no persistence), or in the fleet's database.
    this.store = shared.consumers ?? new SqliteConsumerStore(c.storage.enabled ? c.storage.path : null);
    this.store.watch?.(() => this.refreshConsumers());
    this.consumersConfig = c.consumers;
    this.consumers = new ConsumerRegistry(c.consumers, this.store);
    this.nonces = new NonceCache(c.auth.nonceCache);
    this.nonceStore = shared.nonces ?? this.nonces;
    this.limiter = new Limiter(c.redis, events, shared.buckets);
  }

  /** Gives every route of `runtime` its pipeline (after a reload too). */
  attach(runtime: Runtime): void {
    this.runtime = runtime;
    const config = this.config();
    if (!isDeepStrictEqual(config.consumers, this.consumersConfig)) {
      this.consumersConfig = config.consumers;
      this.consumers = new ConsumerRegistry(config.consumers, this.store);
    }
    if (!isDeepStrictEqual(config.jwt, this.jwt?.config)) this.jwt = config.jwt ? new JwtIssuers(config.jwt, this.events) : null;
    // The gateway-wide IP rules run first on every route.
    const first = globalIpRules(config);
    const byName = new Map(config.routes.map((r) => [r.name, r]));
    for (const route of runtime.routes) {
      const r = byName.get(route.name);
      const stages = r ? this.stagesFor(r, config, runtime, first) : [];
      route.pipeline = stages.length ? compose(stages, upstreamCall) : upstreamCall;
    }
  }

  private stagesFor(route: RouteConfig, config: Config, runtime: Runtime, first: Stage | null): Stage[] {
    const ctx: PolicyContext = { config, route, consumers: this.consumers, nonces: this.nonceStore, limiter: this.limiter, responses: this.responses, jwt: this.jwt, upstreams: runtime.upstreams };
    const stages: Stage[] = first ? [first] : [];
    for (const p of POLICIES) {
      const value = route[p.key];
      if (value === undefined) continue;
      const stage = p.create(value as never, ctx);
      if (stage) stages.push(stage);
    }
    return stages;
  }

  /** Calls `listener` after every change the admin API makes to consumers, credentials or subscriptions. */
  onConsumersChanged(listener: () => void): void {
    this.store.onChange = listener;
  }

  /**
   * Re-reads the consumers, credentials and subscriptions another process changed in the shared
   * file (a cluster worker told by the lead), and gives the routes chains that use them.
   */
  refreshConsumers(): void {
    this.consumers = new ConsumerRegistry(this.config().consumers, this.store);
    if (this.runtime) this.attach(this.runtime);
  }

  /** Counters metrics and the admin API read. */
  stats() {
    return { rateLimit: { ...this.limiter.stats }, nonces: { size: this.nonces.size, evicted: this.nonces.evicted }, cache: this.responses.stats };
  }

  close(): void {
    this.limiter.close();
    void this.store.close();
  }
}
