/**
 * The contract of the call log store (implemented over SQLite in store.ts), used by the admin
 * API, `causeway explain`, the dashboard, the check advisors and alerts.
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
}

export interface StatsQuery {
  since: number;
  until?: number;
  /** Bucket width in ms (e.g. 10_000). */
  bucket: number;
  route?: string;
  upstream?: string;
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

export interface CallStore {
  /** Queues a finished call (never blocks the request path). */
  record(call: CallRecord): void;
  get(requestId: string): CallRecord | undefined;
  query(filter: CallFilter): CallRecord[];
  stats(q: StatsQuery): StatsResult;
  /** Writes what is queued. */
  flush(): void;
  close(): Promise<void>;
}
