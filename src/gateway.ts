/**
 * A gateway: the data-plane server with its routes and upstreams, the access log, and an
 * orderly stop that finishes in-flight requests. This is what `causeway start` runs and what
 * tests start in-process.
 */
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { AccessLog, SinkList, closeAccessLog, createLogger, openAccessLog, type AccessTarget } from './observe/access-log.js';
import type { CallSink } from './observe/call-record.js';
import { AlertEngine } from './alerts/engine.js';
import { EventLog } from './observe/events.js';
import { Metrics } from './observe/metrics.js';
import { OtlpExporter } from './observe/otlp.js';
import { openCallLog } from './observe/store-health.js';
import type { CallStore } from './observe/store-api.js';
import { nodeId, type Fleet } from './fleet/index.js';
import type { CallEnv, RouteRuntime } from './proxy/exchange.js';
import { buildRuntime, type Runtime, type RuntimeShared } from './proxy/runtime.js';
import { ResponseStore } from './policies/cache/store.js';
import { createFrontend, type Frontend } from './proxy/server.js';
import { Edge } from './edge/listeners.js';
import type { Tunnel } from './proxy/tunnel.js';
import { createH2Server, type H2Server } from './edge/http2.js';
import type { LookupFn } from './upstream/connector.js';
import { addressMatcher } from './config/cidr.js';
import { Policies, type SharedPolicyState } from './policies/index.js';
import type { Transition, Upstream } from './upstream/upstream.js';
import { opening } from './startup.js';

export interface GatewayOptions {
  /** Replaces the system resolver (tests inject failures; never the machine's DNS). */
  lookup?: LookupFn;
  logger?: Logger;
  /** Extra receivers of call records (tests, the call log store). */
  sinks?: CallSink[];
  /** Set when this gateway is one of several worker processes (`workers:`, src/cluster/). */
  cluster?: ClusterRole;
  /** A node of a fleet (storage.url, src/fleet/): consumers and the call log in its database. */
  fleet?: Fleet;
}

/** What a gateway running as one worker of several gets from src/cluster/worker.ts. */
export interface ClusterRole {
  /** This worker's number, 1..N; a restarted worker keeps its number. */
  worker: number;
  /** The lead (worker 1) runs the admin API, the active health checks, the alerts and the call-log retention. */
  lead: boolean;
  /** Rate-limit buckets and HMAC nonces that the cluster primary keeps for every worker. */
  policies?: SharedPolicyState;
  /** Told of every local change of upstream state (ejections, health, breakers), to broadcast. */
  onTransition?: (t: Transition) => void;
}

/** What a reload changed, by upstream name; `restartRequired` lists sections only a restart applies. */
export interface ReloadSummary {
  routes: number;
  kept: string[];
  changed: string[];
  added: string[];
  removed: string[];
  restartRequired: string[];
}

/** What of `listen` a reload cannot apply: the sockets and their protocols (certificates it can). */
function listenShape(c: Config) {
  return c.listen.map((l) => ({ host: l.host, port: l.port, http2: l.http2, h2c: l.h2c, tls: !!l.tls, mtls: !!l.tls?.clientCa, clientAuth: l.tls?.clientAuth }));
}

/** Sections bound to open sockets and the process: a reload reports them instead of applying them. */
const RESTART_SECTIONS = ['listen', 'workers', 'admin', 'server', 'log', 'storage', 'tracing', 'alerts', 'redis'] as const;

export class Gateway {
  readonly logger: Logger;
  readonly sinks = new SinkList();
  /** State changes (ejections, health, breakers, reloads), readable at run time. */
  readonly events: EventLog;
  /** The call log (explain, stats, advisors, alerts); null when `storage.enabled` is false. */
  readonly store: (CallStore & { writesAccessLog?: boolean }) | null;
  /** The fleet this gateway is a node of (storage.url); null for a gateway on its own SQLite file. */
  readonly fleet: Fleet | null;
  /** This node's id (config `node:`, else host name and listen port): what a fleet's calls carry. */
  readonly node: string;
  /** Prometheus metrics: `await gateway.metrics.render()`. */
  readonly metrics: Metrics;
  /** Alert rules and their states: `gateway.alerts.list()`. */
  readonly alerts: AlertEngine;
  private readonly tracer: OtlpExporter | null;
  /** The access log's file; written by the call log's writer, or by `accessLog` when the call log is off. */
  private readonly access: AccessTarget | null;
  private readonly accessLog: AccessLog | null;
  private readonly frontend: Frontend;
  /** The HTTP/2 side of every listener (edge/http2.ts). */
  private readonly h2: H2Server;
  /** The listeners (`listen:`), TLS and protocol choice (edge/listeners.ts). */
  readonly edge: Edge;
  private runtime: Runtime;
  private current: Config;
  private readonly env: CallEnv;
  private readonly lookup: LookupFn | undefined;
  private readonly inflight = { calls: 0 };
  /** Upgraded sessions (WebSocket) past their 101. */
  private readonly tunnels = new Set<Tunnel>();
  /** Shared by every runtime this gateway builds (reloads keep the stored responses and the event log). */
  private readonly shared: RuntimeShared;
  /** Upstreams replaced by a reload, closing once their in-flight calls finish. */
  private readonly retiring = new Set<Promise<void>>();
  private stopping = false;
  /** Consumers, credentials, rate limits, the response cache (src/policies/). */
  readonly policies: Policies;
  /** This worker's place in a cluster; null for a single process. */
  readonly cluster: ClusterRole | null;

  constructor(config: Config, options: GatewayOptions = {}) {
    this.current = config;
    this.lookup = options.lookup;
    const cluster = (this.cluster = options.cluster ?? null);
    const logFile = config.log.file;
    this.logger = options.logger ?? opening('log.file', 'the log file', logFile ?? '', () => createLogger({ level: config.log.level, file: logFile }));
    this.events = new EventLog(this.logger, 1000, cluster ? { worker: cluster.worker } : undefined);
    const responses = new ResponseStore(config.cache.maxSize, config.cache.maxEntrySize);
    this.shared = { events: this.events, responses, upstream: cluster ? { onTransition: cluster.onTransition, healthChecks: cluster.lead } : undefined };
    const access = (this.access = config.log.access ? opening('log.file', 'the log file', logFile ?? '', () => openAccessLog(logFile, cluster?.worker)) : null);
    for (const s of options.sinks ?? []) this.sinks.add(s);
    const st = config.storage;
    // Workers share the file: one pruner (the lead) is enough. The call log's writer writes the access log too.
    this.fleet = options.fleet ?? null;
    this.node = this.fleet?.node ?? nodeId(config);
    const store = this.fleet ? this.fleet.calls : st.enabled ? openCallLog(st, { prune: !cluster || cluster.lead, accessLog: access ?? undefined }, this.logger, this.events) : null;
    this.store = store;
    if (store) this.sinks.add(store);
    this.accessLog = access && !this.store?.writesAccessLog ? new AccessLog(access) : null;
    if (this.accessLog) this.sinks.add(this.accessLog);
    this.metrics = new Metrics({
      upstreams: () => this.runtime.upstreams,
      events: this.events,
      certificates: () => this.edge.certificates(),
      callLog: store ? () => store.writeState : undefined,
    });
    this.sinks.add(this.metrics);
    const otlp = config.tracing.otlp;
    this.tracer = otlp ? new OtlpExporter({ endpoint: otlp.endpoint, headers: otlp.headers, serviceName: otlp.serviceName }) : null;
    if (this.tracer) this.sinks.add(this.tracer);
    if (config.alerts.length && !this.store) this.logger.warn({ kind: 'lifecycle' }, 'alerts are configured but storage.enabled is false: alerts read the call log, so none will fire');
    this.alerts = new AlertEngine(config.alerts, this.store, { events: this.events });
    this.runtime = buildRuntime(config, options.lookup, undefined, this.shared);
    const isTrusted = addressMatcher(config.server.trustedProxies);
    const env: CallEnv = (this.env = {
      expose: config.errors.expose,
      sink: this.sinks,
      lookup: options.lookup,
      isTrustedPeer: isTrusted,
      inflight: this.inflight,
      draining: () => this.stopping,
      tunnels: this.tunnels,
      closeGrace: config.server.websocketCloseGrace,
    });
    if (this.fleet) {
      this.fleet.calls.events = this.events;
      this.fleet.consumers.onHealth = (up, reason) => this.events.publish({ type: up ? 'fleet.db-up' : 'fleet.db-down', reason });
    }
    this.policies = new Policies(() => this.current, this.events, responses, { ...cluster?.policies, ...(this.fleet ? { consumers: this.fleet.consumers } : {}) });
    this.frontend = createFrontend(config, this.runtime, env, (r) => this.policies.attach(r));
    this.h2 = createH2Server(config, this.frontend.handle as unknown as Parameters<typeof createH2Server>[1], (kind, session) => {
      this.logger.warn({ kind: 'http2', abuse: kind, client: session.socket?.remoteAddress }, 'HTTP/2 client abuse: connection closed (ENHANCE_YOUR_CALM)');
    });
    this.edge = new Edge(config.listen, { logger: this.logger, h1: this.frontend.server, h2: (socket) => this.h2.accept(socket), sniffTimeout: config.server.headersTimeout, observer: this.metrics });
  }

  /** The config in force (a reload replaces it). */
  get config(): Config {
    return this.current;
  }

  /** The HTTP/1.x server every listener hands its HTTP/1 connections to (it does not listen itself). */
  get server() {
    return this.frontend.server;
  }

  get upstreams() {
    return this.runtime.upstreams;
  }

  /** The compiled routes in force, in config order. */
  get routes(): readonly RouteRuntime[] {
    return this.runtime.routes;
  }

  /**
   * Starts every listener; resolves with the first one's bound address (`port`/`host` override
   * the first listener's; port 0 picks a free one). `addresses` has all of them.
   */
  async listen(port?: number, host?: string): Promise<AddressInfo> {
    const addrs = await this.edge.listen({ port, host });
    this.addresses = addrs;
    // The HTTP/1 server is handed connections instead of accepting them: 'listening' starts its
    // slow-client checks (headersTimeout, requestTimeout) all the same.
    this.server.emit('listening');
    this.edge.watchCertificates();
    for (const u of this.runtime.upstreams.values()) u.start();
    // Alerts read the call log, which every worker shares: one evaluator, one webhook per alert.
    if (!this.cluster || this.cluster.lead) this.alerts.start();
    this.edge.listeners.forEach((l, i) => {
      const a = addrs[i]!;
      const protocols = l.config.tls ? (l.config.http2 ? 'https (h2, http/1.1)' : 'https (http/1.1)') : l.config.h2c ? 'http (http/1.1, h2c)' : 'http (http/1.1)';
      const url = `${l.config.tls ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
      this.logger.info({ kind: 'lifecycle', address: `${a.address}:${a.port}`, protocols, routes: this.runtime.routes.length }, `gateway listening on ${url}`);
    });
    return addrs[0]!;
  }

  /** The bound address of every listener, in config order (after listen). */
  addresses: AddressInfo[] = [];

  /**
   * Applies a validated config to the running gateway: new calls use the new routes at once,
   * calls in flight finish on what they started with. Upstreams whose config is unchanged keep
   * their live objects (pools, counters, health); replaced and removed ones close after their
   * in-flight calls end. Listener, server and log settings need a restart and are reported.
   */
  reload(next: Config): ReloadSummary {
    const old = this.runtime.upstreams;
    const summary: ReloadSummary = { routes: next.routes.length, kept: [], changed: [], added: [], removed: [], restartRequired: [] };
    const runtime = buildRuntime(
      next,
      this.lookup,
      (name, u) => {
        const prev = old.get(name);
        if (prev && isDeepStrictEqual(prev.config, u)) {
          summary.kept.push(name);
          return prev;
        }
        (prev ? summary.changed : summary.added).push(name);
        return undefined;
      },
      this.shared,
    );
    for (const name of old.keys()) if (!runtime.upstreams.has(name)) summary.removed.push(name);
    for (const key of RESTART_SECTIONS) if (!isDeepStrictEqual(key === 'listen' ? listenShape(this.current) : this.current[key], key === 'listen' ? listenShape(next) : next[key])) summary.restartRequired.push(key);
    // Certificates are read again on every reload, changed paths or not (renewed files keep theirs).
    const certErrors = this.edge.reloadCertificates(next.listen);
    for (const name of [...summary.changed, ...summary.added]) runtime.upstreams.get(name)!.start();
    this.env.expose = next.errors.expose;
    this.runtime = runtime;
    this.current = next;
    this.frontend.setRuntime(runtime);
    for (const name of [...summary.changed, ...summary.removed]) this.retire(old.get(name)!);
    const list = (label: string, names: string[]) => (names.length ? [`${label} ${names.join(', ')}`] : []);
    const parts = [...list('changed', summary.changed), ...list('added', summary.added), ...list('removed', summary.removed)];
    this.events.publish({
      type: 'config.reloaded',
      reason:
        `${summary.routes} routes; upstreams ${parts.length ? parts.join('; ') : 'unchanged'}; ${summary.kept.length} kept with their pools` +
        (summary.restartRequired.length ? `; needs a restart to apply: ${summary.restartRequired.join(', ')}` : '') +
        (certErrors.length ? `; certificates kept after errors: ${certErrors.map((e) => `${e.listener}: ${e.error}`).join('; ')}` : ''),
      ...summary,
    });
    return summary;
  }

  /** Takes a change of upstream state another worker made (src/cluster/). */
  applyTransition(t: Transition): void {
    this.runtime.upstreams.get(t.upstream)?.apply(t);
  }

  /** Closes an upstream no route uses any more once its in-flight calls are done (bounded by shutdownTimeout). */
  private retire(u: Upstream): void {
    const deadline = Date.now() + this.current.server.shutdownTimeout;
    // Sessions on it are told (a close frame) and given the grace; then it closes.
    for (const t of this.tunnels) if (t.upstream === u) t.closeSession('reload', 1001, this.current.server.websocketCloseGrace);
    const done = (async () => {
      while (u.activeRequests > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      await u.close().catch((err: Error) => this.logger.warn({ kind: 'lifecycle', upstream: u.name, err: err.message }, 'closing a replaced upstream failed'));
    })();
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  get inflightCount(): number {
    return this.inflight.calls;
  }

  /**
   * Stops accepting connections, lets in-flight calls finish (up to `server.shutdownTimeout`),
   * then closes every connection and pool.
   */
  async stop(timeoutMs = this.config.server.shutdownTimeout): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const closed = this.edge.close();
    this.server.closeIdleConnections();
    // GOAWAY: HTTP/2 clients open no new streams here; the open ones finish.
    this.h2.closeSessions();
    // WebSocket sessions get a close frame (1001 going away) and the grace to close.
    const grace = Math.min(this.current.server.websocketCloseGrace, timeoutMs);
    for (const t of this.tunnels) t.closeSession('shutdown', 1001, grace);
    const deadline = Date.now() + timeoutMs;
    while (this.inflight.calls > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      this.server.closeIdleConnections();
    }
    if (this.inflight.calls > 0) this.logger.warn({ kind: 'lifecycle', abandoned: this.inflight.calls }, 'shutdown timeout: closing calls still in flight');
    this.server.closeAllConnections();
    this.h2.destroySessions();
    // Ends the HTTP/1 server's slow-client checks (it never listened: no 'close' to wait for).
    this.server.close();
    await closed;
    await Promise.all([...this.runtime.upstreams.values()].map((u) => u.close()));
    await Promise.all(this.retiring);
    await this.accessLog?.close();
    await this.alerts.stop();
    // Every finished call is in the call log before stop resolves (nothing lost on SIGTERM).
    await this.store?.close();
    if (this.access) closeAccessLog(this.access);
    await this.tracer?.close();
    this.policies.close();
    this.metrics.close();
    this.logger.info({ kind: 'lifecycle' }, 'gateway stopped');
    this.logger.flush();
  }
}
