/**
 * Prometheus metrics (prom-client, a registry of the gateway's own). Calls are counted as they
 * finish (a CallSink); the state of upstreams, targets, pools, health and breakers is read from
 * `Upstream.stats()` when scraped; gateway events (ejections, health, breakers) are counted by type.
 *
 *   const metrics = new Metrics({ upstreams: () => gateway.upstreams, events: gateway.events });
 *   gateway.sinks.add(metrics);
 *   await metrics.render();  metrics.contentType;     // or: metricsHandler(gateway) for node:http
 *
 * Names (all prefixed causeway_): requests_total{route,upstream,status}, errors_total{route,
 * upstream,code}, request_duration_seconds{route,upstream}, attempts_total{upstream,target,outcome},
 * grpc_calls_total{route,upstream,grpc_status},
 * upstream_active_requests, upstream_active_retries, target_inflight, target_ewma_seconds,
 * target_up, target_healthy, target_ejected, target_ejection_streak, pool_in_use, pool_idle,
 * pool_queued, pool_connected, pool_max_connections, pool_exhausted_total, breaker_state,
 * breaker_rejected_total, events_total{type,upstream}; plus prom-client's process and nodejs_ metrics.
 *
 * A finished call costs a few map lookups and additions (CallTally): no label hashing, no objects.
 * The call counters are brought up to date from the tallies when scraped (prom-client's collect),
 * and the latency histogram is kept here and handed to prom-client in its own metric shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallRecord, CallSink } from './call-record.js';
import { grpcCodeName } from '../grpc/status.js';
import type { EventLog, GatewayEvent } from './events.js';
import type { EdgeObserver } from '../edge/listeners.js';

/** What metrics read from a target's and an upstream's stats; fields the upstream lacks are skipped. */
interface TargetStatsLike {
  id: string;
  inflight: number;
  ewmaMs: number;
  state?: string;
  healthy?: boolean;
  ejected?: boolean;
  ejections?: number;
  pool: { inUse: number; idle: number; queued: number; connected: number; maxConnections: number; exhausted: number };
}
interface UpstreamStatsLike {
  name: string;
  activeRequests: number;
  activeRetries: number;
  breaker?: { state: string; rejected?: number } | null;
  targets: TargetStatsLike[];
}
export interface UpstreamLike {
  stats(): object;
}

export interface MetricsSources {
  /** Read at every scrape: a reload may replace the upstreams. */
  upstreams: () => Iterable<UpstreamLike> | ReadonlyMap<string, UpstreamLike>;
  events?: EventLog;
  /**
   * The call log's writing state, read at every scrape (absent: no call log). `written` and
   * `buffered` are known for a fleet's call log (store-pg.ts).
   */
  callLog?: (() => { ok: boolean; dropped: number; written?: number; buffered?: number }) | undefined;
  /** The certificates the listeners serve (src/edge/), read at every scrape: a reload may replace them. */
  certificates?: () => { listener: string; cert: { file: string; names: string[]; notAfter: Date } }[];
}

const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
/** Latency buckets (s): 1 ms to 60 s, dense where APIs live. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What calls of one (route, upstream) added since the last scrape; the histogram's counts are kept for good. */
class CallTally {
  readonly labels: { route: string; upstream: string };
  statuses = new Map<number, number>();
  codes = new Map<string, number>();
  /** gRPC calls by the grpc-status the client received (UNAVAILABLE...). */
  grpc = new Map<string, number>();
  /** target → outcome → attempts. */
  attempts = new Map<string, Map<string | number, number>>();
  /** Calls per latency bucket (not cumulative); the last is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  constructor(route: string, upstream: string) {
    this.labels = { route, upstream };
  }
}

const add = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);

function bucketOf(seconds: number): number {
  let i = 0;
  while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
  return i;
}

/** A value in the shape prom-client's registry prints and its AggregatorRegistry merges. */
interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** causeway_request_duration_seconds: a Prometheus histogram over the tallies (registered as a prom-client metric). */
class DurationHistogram {
  readonly name = 'causeway_request_duration_seconds';
  readonly help = 'Whole-call latency, retries included.';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(private readonly tallies: () => Iterable<CallTally>) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const t of this.tallies()) {
      if (t.count === 0) continue;
      let acc = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        acc += t.buckets[i]!;
        values.push({ labels: { le, ...t.labels }, value: acc, metricName: bucket });
      });
      values.push({ labels: { le: '+Inf', ...t.labels }, value: t.count, metricName: bucket });
      values.push({ labels: { ...t.labels }, value: t.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...t.labels }, value: t.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const t of this.tallies()) {
      t.buckets.fill(0);
      t.sum = 0;
      t.count = 0;
    }
  }
}

export class Metrics implements CallSink, EdgeObserver {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  private readonly requests: Counter<'route' | 'upstream' | 'status'>;
  private readonly errors: Counter<'route' | 'upstream' | 'code'>;
  private readonly attempts: Counter<'upstream' | 'target' | 'outcome'>;
  private readonly grpcCalls: Counter<'route' | 'upstream' | 'grpc_status'>;
  private readonly events: Counter<'type' | 'upstream'>;
  private readonly tlsFailures: Counter<'listener' | 'reason'>;
  private readonly onEvent = (e: GatewayEvent) => this.events.inc({ type: e.type, upstream: e.upstream ?? '' });
  /** route → upstream → tally. */
  private readonly tallies = new Map<string, Map<string, CallTally>>();

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client's nodejs_active_{handles,requests,resources}_total are gauges (with a twin of
    // the same value without the suffix): a name ending in _total is a counter (Prometheus naming).
    for (const m of this.registry.getMetricsAsArray()) if (m instanceof Gauge && m.name.endsWith('_total')) this.registry.removeSingleMetric(m.name);
    // Every call counter is brought up to date when any of them is read.
    const fold = () => this.fold();
    this.requests = new Counter({ name: 'causeway_requests_total', help: 'Calls finished, by route, upstream and status sent to the client.', labelNames: ['route', 'upstream', 'status'], registers, collect: fold });
    this.errors = new Counter({ name: 'causeway_errors_total', help: 'Calls that ended with a Causeway failure code.', labelNames: ['route', 'upstream', 'code'], registers, collect: fold });
    this.registry.registerMetric(new DurationHistogram(() => this.allTallies()) as unknown as Parameters<Registry['registerMetric']>[0]);
    this.attempts = new Counter({ name: 'causeway_attempts_total', help: 'Attempts on each target, by outcome (HTTP status or failure code).', labelNames: ['upstream', 'target', 'outcome'], registers, collect: fold });
    this.grpcCalls = new Counter({
      name: 'causeway_grpc_calls_total',
      help: 'gRPC calls finished, by the grpc-status the client received (the backend\'s, or the gateway\'s own for a failure it generated; the HTTP status of both is 200).',
      labelNames: ['route', 'upstream', 'grpc_status'],
      registers,
      collect: fold,
    });
    this.events = new Counter({ name: 'causeway_events_total', help: 'Gateway state changes (target.ejected, health.down, breaker.open, ...).', labelNames: ['type', 'upstream'], registers });
    this.defineStateMetrics(registers);
    if (sources.callLog) this.defineCallLogMetrics(registers, sources.callLog);
    this.tlsFailures = new Counter({ name: 'causeway_tls_handshake_failures_total', help: 'TLS handshakes with clients that failed (a client-side failure: no backend was involved), by listener and OpenSSL/node error code.', labelNames: ['listener', 'reason'], registers });
    const certificates = sources.certificates;
    new Gauge({
      name: 'causeway_tls_certificate_expiry_seconds',
      help: 'Seconds until a served certificate expires (negative once expired), by listener, file and first name.',
      labelNames: ['listener', 'file', 'name'],
      registers,
      // Every worker serves the same files: the cluster total is one value, not a sum.
      aggregator: 'min',
      collect() {
        this.reset();
        const now = Date.now();
        for (const { listener, cert } of certificates?.() ?? []) this.set({ listener, file: cert.file, name: cert.names[0] ?? '' }, Math.round((cert.notAfter.getTime() - now) / 1000));
      },
    });
    sources.events?.on('event', this.onEvent);
  }

  record(c: CallRecord): void {
    const route = c.route ?? '';
    const upstream = c.upstream ?? '';
    let byUpstream = this.tallies.get(route);
    if (!byUpstream) this.tallies.set(route, (byUpstream = new Map()));
    let t = byUpstream.get(upstream);
    if (!t) byUpstream.set(upstream, (t = new CallTally(route, upstream)));
    add(t.statuses, c.status);
    if (c.code) add(t.codes, c.code);
    if (c.grpc) add(t.grpc, c.grpc.status === null ? 'NONE' : grpcCodeName(c.grpc.status));
    const seconds = c.durationMs / 1000;
    t.buckets[bucketOf(seconds)]!++;
    t.sum += seconds;
    t.count++;
    for (const a of c.attempts) {
      let outcomes = t.attempts.get(a.target);
      if (!outcomes) t.attempts.set(a.target, (outcomes = new Map()));
      add(outcomes, a.outcome);
    }
  }

  private *allTallies(): Iterable<CallTally> {
    for (const byUpstream of this.tallies.values()) yield* byUpstream.values();
  }

  /** Moves what the tallies counted since the last scrape into the call counters. */
  private fold(): void {
    for (const t of this.allTallies()) {
      const { route, upstream } = t.labels;
      for (const [status, n] of t.statuses) this.requests.inc({ route, upstream, status }, n);
      for (const [code, n] of t.codes) this.errors.inc({ route, upstream, code }, n);
      for (const [status, n] of t.grpc) this.grpcCalls.inc({ route, upstream, grpc_status: status }, n);
      for (const [target, outcomes] of t.attempts) for (const [outcome, n] of outcomes) this.attempts.inc({ upstream, target, outcome: String(outcome) }, n);
      t.statuses = new Map();
      t.codes = new Map();
      t.grpc = new Map();
      t.attempts = new Map();
    }
  }

  private upstreamStats(): UpstreamStatsLike[] {
    const src = this.sources.upstreams();
    const list = src instanceof Map ? [...src.values()] : [...(src as Iterable<UpstreamLike>)];
    return list.map((u) => u.stats() as UpstreamStatsLike);
  }

  /** Gauges whose values are read from the upstreams at scrape time. */
  private defineStateMetrics(registers: Registry[]): void {
    const read = () => this.upstreamStats();
    // Emptied and filled again from what the upstreams report, at every scrape.
    const scraped = <L extends string, M extends { reset(): void }>(name: string, help: string, labelNames: L[], fill: (m: M, ups: UpstreamStatsLike[]) => void) => ({
      name,
      help,
      labelNames,
      registers,
      collect(this: M) {
        this.reset();
        fill(this, read());
      },
    });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[], fill: (g: Gauge<L>, ups: UpstreamStatsLike[]) => void) => new Gauge<L>(scraped(name, help, labelNames, fill));
    // A count the upstreams keep (pools, breakers) is a counter: its running total, added to an emptied counter.
    const counter = <L extends string>(name: string, help: string, labelNames: L[], fill: (c: Counter<L>, ups: UpstreamStatsLike[]) => void) => new Counter<L>(scraped(name, help, labelNames, fill));
    const perTarget = (name: string, help: string, value: (t: TargetStatsLike) => number | undefined) =>
      gauge(name, help, ['upstream', 'target'], (g, ups) => {
        for (const u of ups)
          for (const t of u.targets) {
            const v = value(t);
            if (v !== undefined) g.set({ upstream: u.name, target: t.id }, v);
          }
      });
    const bool = (b: boolean | undefined) => (b === undefined ? undefined : b ? 1 : 0);

    gauge('causeway_upstream_active_requests', 'Calls in flight per upstream.', ['upstream'], (g, ups) => ups.forEach((u) => g.set({ upstream: u.name }, u.activeRequests)));
    gauge('causeway_upstream_active_retries', 'Calls in flight that are retrying.', ['upstream'], (g, ups) => ups.forEach((u) => g.set({ upstream: u.name }, u.activeRetries)));
    perTarget('causeway_target_inflight', 'Attempts in flight on the target.', (t) => t.inflight);
    perTarget('causeway_target_ewma_seconds', 'Moving average of the time to response headers.', (t) => t.ewmaMs / 1000);
    perTarget('causeway_target_up', '1 when the target is in rotation (healthy and not ejected, even if failing).', (t) => (t.state === undefined ? undefined : t.state === 'up' || t.state === 'failing' ? 1 : 0));
    perTarget('causeway_target_healthy', '1 when the target passes active health checks.', (t) => bool(t.healthy));
    perTarget('causeway_target_ejected', '1 while passive outlier detection keeps the target out.', (t) => bool(t.ejected));
    perTarget('causeway_target_ejection_streak', 'Ejections of the target in its current streak (each one ejects it for longer).', (t) => t.ejections);
    perTarget('causeway_pool_in_use', 'Connections leased to attempts.', (t) => t.pool.inUse);
    perTarget('causeway_pool_idle', 'Connections open and idle.', (t) => t.pool.idle);
    perTarget('causeway_pool_queued', 'Calls waiting for a connection.', (t) => t.pool.queued);
    perTarget('causeway_pool_connected', 'Connections open.', (t) => t.pool.connected);
    perTarget('causeway_pool_max_connections', 'pool.maxConnections.', (t) => t.pool.maxConnections);
    counter('causeway_pool_exhausted_total', 'Leases refused: queue full or queueTimeout passed (UPSTREAM_POOL_EXHAUSTED).', ['upstream', 'target'], (c, ups) => {
      for (const u of ups) for (const t of u.targets) c.inc({ upstream: u.name, target: t.id }, t.pool.exhausted);
    });
    gauge('causeway_breaker_state', 'Circuit breaker state: 1 for the current one of closed, open, half-open.', ['upstream', 'state'], (g, ups) => {
      for (const u of ups) {
        if (!u.breaker) continue;
        for (const s of BREAKER_STATES) g.set({ upstream: u.name, state: s }, u.breaker.state === s ? 1 : 0);
      }
    });
    counter('causeway_breaker_rejected_total', 'Calls failed fast by an open breaker (CIRCUIT_OPEN).', ['upstream'], (c, ups) => {
      for (const u of ups) if (u.breaker?.rejected !== undefined) c.inc({ upstream: u.name }, u.breaker.rejected);
    });
  }

  /** The fleet call log's counters, read at scrape time. */
  private defineCallLogMetrics(registers: Registry[], read: NonNullable<MetricsSources['callLog']>): void {
    const counter = (name: string, help: string, value: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    new Gauge({ name: 'causeway_call_log_up', help: 'Whether the call log is being written (0: writes fail, e.g. the disk is full or the fleet database is down; proxying goes on).', registers, collect() { this.set(read().ok ? 1 : 0); } });
    counter('causeway_call_log_dropped_total', 'Calls not written to the call log: its writes failed, or a fleet\'s buffer was full while the database was slow or down.', () => read().dropped);
    if (read().written === undefined) return;
    counter('causeway_call_log_written_total', 'Calls written to the fleet call log (PostgreSQL).', () => read().written ?? 0);
    new Gauge({
      name: 'causeway_call_log_buffered',
      help: 'Calls waiting in memory for the fleet database.',
      registers,
      collect() {
        this.set(read().buffered ?? 0);
      },
    });
  }

  tlsHandshakeFailed(listener: string, reason: string): void {
    this.tlsFailures.inc({ listener, reason });
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops listening to gateway events. */
  close(): void {
    this.sources.events?.off('event', this.onEvent);
  }
}

/** A node:http handler serving `metrics` (GET /metrics on the admin port). */
export function metricsHandler(source: { metrics: Metrics }): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    source.metrics.render().then(
      (text) => {
        res.writeHead(200, { 'content-type': source.metrics.contentType });
        res.end(text);
      },
      (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics: ${err.message}\n`);
      },
    );
  };
}
