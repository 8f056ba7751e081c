/**
 * The contract of the call log store, used by the admin API, `causeway explain`, the dashboard,
 * the check advisors and alerts. Two implementations: SQLite for one gateway (store.ts, reads
 * answer synchronously) and PostgreSQL for a fleet (store-pg.ts, reads answer with promises);
 * readers await every read, so either plugs in.
 */
import type { FailureCode } from '../failures/registry.js';
import type { CallRecord } from './call-record.js';

export interface CallFilter {
  route?: string;
  upstream?: string;
  code?: FailureCode | string;
  status?: number;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  /** Newest first; default 100, at most 1000. */
  limit?: number;
  /** Only calls this node served (a fleet's call log; a single gateway's log is all its own node's). */
  node?: string;
}

export interface StatsQuery {
  since: number;
  until?: number;
  /** Bucket width in ms (e.g. 10_000). */
  bucket: number;
  route?: string;
  upstream?: string;
  /** Only calls this node served (see CallFilter.node). */
  node?: string;
}

export interface StatsBucket {
  /** Start of the bucket, epoch ms. */
  t: number;
  requests: number;
  errors: number;
  /** Calls per failure code in this bucket (gateway-generated failures only). */
  byCode: Record<string, number>;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface StatsResult {
  since: number;
  until: number;
  bucket: number;
  buckets: StatsBucket[];
  totals: { requests: number; errors: number; byCode: Record<string, number>; p50: number | null; p95: number | null; p99: number | null };
  /** Routes with the most gateway-generated failures in the range. */
  topFailingRoutes: Array<{ route: string; errors: number; requests: number }>;
  /**
   * Each route's traffic by the upstream that served it, side by side (a split's two sides):
   * sorted by route, then by requests. Optional: a store that cannot group so leaves it out.
   */
  upstreamsByRoute?: Array<{ route: string; upstream: string; requests: number; errors: number; p50: number | null; p95: number | null; p99: number | null }>;
}

export type Awaitable<T> = T | Promise<T>;

export interface CallStore {
  /** Queues a finished call (never blocks the request path). */
  record(call: CallRecord): void;
  get(requestId: string): Awaitable<CallRecord | undefined>;
  query(filter: CallFilter): Awaitable<CallRecord[]>;
  stats(q: StatsQuery): Awaitable<StatsResult>;
  /** Writes what is queued; a query after it sees every call recorded before. */
  flush(): Awaitable<void>;
  close(): Promise<void>;
}
