/**
 * The policies of a gateway: the state they share across routes and reloads (consumers and
 * their credentials, the HMAC nonce cache, the rate limiter and its Redis connection, the
 * response store) and the chain each route with policies gets (chain.ts). `attach` gives the
 * routes of a runtime their chains; a route without policies gets none and pays nothing.
 */
import type { IncomingMessage } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { addressMatcher } from '../config/cidr.js';
import type { Config, RouteConfig } from '../config/schema.js';
import type { EventLog } from '../observe/events.js';
import type { RouteRuntime, Runtime } from '../proxy/runtime.js';
import { auth } from './auth/index.js';
import { NonceCache, type NonceStore } from './auth/nonces.js';
import { cache } from './cache/index.js';
import { ResponseStore } from './cache/store.js';
import { PolicyChain } from './chain.js';
import { ConsumerRegistry } from './consumers/registry.js';
import { PolicyStore } from './consumers/store.js';
import { cors } from './cors/index.js';
import { faults } from './faults/index.js';
import { headerRewrites } from './headers/index.js';
import { ipRules, type IpRules } from './ip-rules/index.js';
import { JwtIssuers } from './jwt/index.js';
import { routeRuntime } from '../proxy/runtime.js';
import type { BucketStore } from './rate-limit/bucket.js';
import { Limiter } from './rate-limit/limiter.js';
import { rateLimit } from './rate-limit/index.js';
import { subscription } from './subscription/index.js';

/** State kept outside this process: with several workers, the cluster primary's (src/cluster/shared-stores.ts). */
export interface SharedPolicyState {
  buckets?: BucketStore;
  nonces?: NonceStore;
}

export class Policies {
  /** Replaced when a reload changes `consumers:`; attach() then builds chains on the new one. */
  consumers: ConsumerRegistry;
  readonly nonces: NonceCache;
  readonly limiter: Limiter;
  readonly responses: ResponseStore;
  private readonly store: PolicyStore;
  private consumersConfig: Config['consumers'];
  private readonly isTrusted: (address: string | undefined) => boolean;
  /** Where HMAC nonces are checked: `nonces`, or the cluster's shared store. */
  private readonly nonceStore: NonceStore;
  private runtime: Runtime | null = null;
  /** The trusted JWT issuers and their key caches; rebuilt when a reload changes `jwt:`. */
  jwt: JwtIssuers | null = null;
  private globalIpRules: IpRules | null = null;

  constructor(
    private readonly config: () => Config,
    private readonly events: EventLog,
    shared: SharedPolicyState = {},
  ) {
    const c = config();
    // Runtime-created credentials live next to the call log; no call log, no persistence.
    this.store = new PolicyStore(c.storage.enabled ? c.storage.path : null);
    this.consumersConfig = c.consumers;
    this.consumers = new ConsumerRegistry(c.consumers, this.store);
    this.nonces = new NonceCache(c.auth.nonceCache);
    this.nonceStore = shared.nonces ?? this.nonces;
    this.limiter = new Limiter(c.redis, events, shared.buckets);
    this.responses = new ResponseStore(c.cache.maxSize, c.cache.maxEntrySize);
    this.isTrusted = addressMatcher(c.server.trustedProxies);
  }

  /** Gives every route of `runtime` that has policies its chain (after a reload too). */
  attach(runtime: Runtime): void {
    this.runtime = runtime;
    const config = this.config();
    if (!isDeepStrictEqual(config.consumers, this.consumersConfig)) {
      this.consumersConfig = config.consumers;
      this.consumers = new ConsumerRegistry(config.consumers, this.store);
    }
    if (!isDeepStrictEqual(config.jwt, this.jwt?.config)) this.jwt = config.jwt ? new JwtIssuers(config.jwt, this.events) : null;
    this.globalIpRules = config.ipRules ? ipRules(config.ipRules, 'ipRules') : null;
    const byName = new Map(config.routes.map((r) => [r.name, r]));
    for (const route of runtime.routes) {
      const r = byName.get(route.name);
      route.policies = r ? this.chainFor(r, config, route, runtime) : undefined;
    }
  }

  private chainFor(r: RouteConfig, config: Config, route: RouteRuntime, runtime: Runtime): PolicyChain | undefined {
    const rules = [this.globalIpRules, r.ipRules ? ipRules(r.ipRules, `routes[${r.name}].ipRules`) : null].filter((x): x is IpRules => x !== null);
    if (!r.auth && r.subscription !== 'required' && !r.rateLimit && !r.cache && !r.faults && !rules.length && !r.cors && !r.headers && !r.split) return undefined;
    const canary = r.split && runtime.upstreams.get(r.split.upstream);
    return new PolicyChain(
      {
        ipRules: rules.length ? rules : undefined,
        cors: r.cors && { policy: cors(r.cors, r.match.methods), methods: r.match.methods },
        auth: r.auth && auth({ methods: r.auth, consumers: this.consumers, nonces: this.nonceStore, clockSkew: config.auth.clockSkew, jwt: this.jwt, scopes: r.scopes }),
        subscription: r.subscription === 'required' ? subscription(this.consumers) : undefined,
        rateLimit: r.rateLimit && rateLimit(r.rateLimit, r.name, this.limiter),
        headers: r.headers && headerRewrites(r.headers),
        cache: r.cache && cache(r.cache, r.name, this.responses),
        faults: r.faults && faults(r.faults),
        split: r.split && canary ? { config: r.split, route: routeRuntime(config, r, canary, { staleStore: route.staleStore ?? undefined }) } : undefined,
      },
      (req) => this.clientIp(req),
    );
  }

  /**
   * The client's address: the peer itself, unless the peer is a trusted proxy; then the nearest
   * X-Forwarded-For hop that is not one (the right-most untrusted entry), as nginx's realip does.
   */
  clientIp(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? '';
    if (!this.isTrusted(peer)) return peer;
    const xff = req.headers['x-forwarded-for'];
    if (typeof xff !== 'string') return peer;
    const hops = xff.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!.trim();
      if (hop && !this.isTrusted(hop)) return hop;
    }
    return peer;
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
    this.store.close();
  }
}
