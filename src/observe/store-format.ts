/**
 * The call log's on-disk format and the arithmetic both its writer and its queries use: the
 * schema, row <-> record, the per-minute rollup tallies and their latency histograms.
 */
import type Database from 'better-sqlite3';
import { attemptsJson, type CallRecord } from './call-record.js';
import type { StatsBucket, StatsResult } from './store-api.js';

/** Latency histogram resolution: bin = round(ln(1 + ms) × 20), about 5% wide, up to 3 hours. */
const BINS_PER_E = 20;
const BINS = 330;
export const MINUTE = 60_000;
/** Rows deleted per statement when pruning, so a prune never holds the thread for long. */
export const PRUNE_CHUNK = 5000;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (
  id INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL,
  time INTEGER NOT NULL,
  route TEXT,
  upstream TEXT,
  target TEXT,
  consumer TEXT,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER NOT NULL,
  code TEXT,
  duration REAL NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  client_ip TEXT NOT NULL,
  trace_id TEXT,
  attempts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_request_id ON calls(request_id);
CREATE INDEX IF NOT EXISTS calls_time ON calls(time, duration, code, status, route);
CREATE INDEX IF NOT EXISTS calls_route_time ON calls(route, time, duration, code, status);
CREATE INDEX IF NOT EXISTS calls_upstream_time ON calls(upstream, time, duration, code, status);
CREATE INDEX IF NOT EXISTS calls_code_time ON calls(code, time);
CREATE INDEX IF NOT EXISTS calls_status_time ON calls(status, time);
CREATE TABLE IF NOT EXISTS minutes (
  minute INTEGER NOT NULL,
  route TEXT NOT NULL,
  upstream TEXT NOT NULL,
  requests INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  codes TEXT NOT NULL,
  hist BLOB NOT NULL,
  PRIMARY KEY (minute, route, upstream)
) WITHOUT ROWID;
`;

export const COLUMNS = 'request_id, time, route, upstream, target, consumer, method, path, status, code, duration, bytes_in, bytes_out, client_ip, trace_id, attempts';

export interface Row {
  request_id: string;
  time: number;
  route: string | null;
  upstream: string | null;
  target: string | null;
  consumer: string | null;
  method: string;
  path: string;
  status: number;
  code: string | null;
  duration: number;
  bytes_in: number;
  bytes_out: number;
  client_ip: string;
  trace_id: string | null;
  attempts: string;
}

export function toRecord(r: Row): CallRecord {
  const rec: CallRecord = {
    requestId: r.request_id,
    time: r.time,
    route: r.route,
    upstream: r.upstream,
    consumer: r.consumer,
    method: r.method,
    path: r.path,
    status: r.status,
    code: r.code as CallRecord['code'],
    attempts: JSON.parse(r.attempts) as CallRecord['attempts'],
    bytesIn: r.bytes_in,
    bytesOut: r.bytes_out,
    durationMs: r.duration,
    clientIp: r.client_ip,
  };
  if (r.trace_id) rec.traceId = r.trace_id;
  return rec;
}

/** A call counts as an error when the gateway generated a failure or the backend answered 5xx. */
export const isError = (code: string | null, status: number) => code !== null || status >= 500;

/**
 * Calls travel to the writer as flat rows: NCOL values per call in COLUMNS order, one array per
 * batch. Cloning primitives across threads costs a quarter of cloning the records' objects.
 */
export const NCOL = 16;
/** Where each value sits in a row (COLUMNS order). */
export const COL = {
  requestId: 0, time: 1, route: 2, upstream: 3, target: 4, consumer: 5, method: 6, path: 7, status: 8, code: 9,
  duration: 10, bytesIn: 11, bytesOut: 12, clientIp: 13, traceId: 14, attempts: 15,
} as const;
export type RowValue = string | number | null;

/** Appends the call's row to `out`. */
export function pushRow(c: CallRecord, out: RowValue[]): void {
  const last = c.attempts.length ? c.attempts[c.attempts.length - 1]!.target : null;
  out.push(
    c.requestId, c.time, c.route, c.upstream, last, c.consumer, c.method, c.path, c.status, c.code,
    c.durationMs, c.bytesIn, c.bytesOut, c.clientIp, c.traceId ?? null, attemptsJson(c.attempts),
  );
}
export const binOf = (ms: number) => Math.min(BINS - 1, Math.round(Math.log1p(Math.max(0, ms)) * BINS_PER_E));
/** binOf in SQL, over a column of milliseconds (the fleet's call log bins in the database: store-pg.ts). */
export const binOfSql = (column: string) => `least(${BINS - 1}, round(ln(1 + greatest(0, ${column})::float8) * ${BINS_PER_E}))::int`;

/** Counts of one stretch of time: a stats bucket, or one minute of one route in the rollup. */
export interface Tally {
  requests: number;
  errors: number;
  byCode: Record<string, number>;
  hist: Uint32Array;
}
export const tally = (): Tally => ({ requests: 0, errors: 0, byCode: {}, hist: new Uint32Array(BINS) });

export function merge(into: Tally, from: Tally): void {
  into.requests += from.requests;
  into.errors += from.errors;
  for (const [k, v] of Object.entries(from.byCode)) into.byCode[k] = (into.byCode[k] ?? 0) + v;
  for (let i = 0; i < BINS; i++) into.hist[i]! += from.hist[i]!;
}

export function percentile(t: Tally, q: number): number | null {
  if (t.requests === 0) return null;
  const rank = Math.ceil(q * t.requests);
  let seen = 0;
  for (let bin = 0; bin < BINS; bin++) {
    seen += t.hist[bin]!;
    if (seen >= rank) return Math.round(Math.expm1(bin / BINS_PER_E) * 100) / 100;
  }
  return null;
}

/** A histogram stored sparse: (bin, count) pairs of uint32, little-endian. Most minutes fill few bins. */
export function packHist(h: Uint32Array): Buffer {
  let n = 0;
  for (let i = 0; i < BINS; i++) if (h[i]) n++;
  const b = Buffer.allocUnsafe(n * 8);
  let o = 0;
  for (let i = 0; i < BINS; i++) {
    if (!h[i]) continue;
    b.writeUInt32LE(i, o);
    b.writeUInt32LE(h[i]!, o + 4);
    o += 8;
  }
  return b;
}

export function addPacked(into: Uint32Array, b: Buffer): void {
  for (let o = 0; o + 8 <= b.length; o += 8) into[b.readUInt32LE(o)]! += b.readUInt32LE(o + 4);
}

export function addCodes(into: Record<string, number>, codes: string): void {
  if (!codes) return;
  for (const [k, v] of Object.entries(JSON.parse(codes) as Record<string, number>)) into[k] = (into[k] ?? 0) + v;
}

export function where(f: { route?: string | undefined; upstream?: string | undefined; code?: string | undefined; status?: number | undefined; since?: number | undefined; until?: number | undefined }) {
  const parts: string[] = [];
  const params: Array<string | number> = [];
  if (f.route !== undefined) {
    parts.push('route = ?');
    params.push(f.route);
  }
  if (f.upstream !== undefined) {
    parts.push('upstream = ?');
    params.push(f.upstream);
  }
  if (f.code !== undefined) {
    parts.push('code = ?');
    params.push(f.code);
  }
  if (f.status !== undefined) {
    parts.push('status = ?');
    params.push(f.status);
  }
  if (f.since !== undefined) {
    parts.push('time >= ?');
    params.push(f.since);
  }
  if (f.until !== undefined) {
    parts.push('time < ?');
    params.push(f.until);
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** Prepared statements by SQL text, each prepared once per connection. */
export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const cache = new Map<string, Database.Statement>();
  return (sql) => {
    let st = cache.get(sql);
    if (!st) cache.set(sql, (st = db.prepare(sql)));
    return st;
  };
}

/**
 * Tallies of a stats query being assembled: per bucket index, per route for the top failing
 * routes, and per (route, upstream) for each route's sides (a traffic split's, side by side).
 */
export interface StatsAccumulator {
  buckets: Map<number, Tally>;
  routes: Map<string, { route: string; errors: number; requests: number }>;
  pairs: Map<string, { route: string; upstream: string; t: Tally }>;
}

export const statsAccumulator = (): StatsAccumulator => ({ buckets: new Map(), routes: new Map(), pairs: new Map() });

/** The tally of `route` served by `upstream` (created empty); null when either is unknown. */
export function pairTally(acc: StatsAccumulator, route: string | null, upstream: string | null): Tally | null {
  if (!route || !upstream) return null;
  const key = `${route}\0${upstream}`;
  let p = acc.pairs.get(key);
  if (!p) acc.pairs.set(key, (p = { route, upstream, t: tally() }));
  return p.t;
}

/** The tally of bucket `b` (created empty). */
export function bucketTally(acc: StatsAccumulator, b: number): Tally {
  let t = acc.buckets.get(b);
  if (!t) acc.buckets.set(b, (t = tally()));
  return t;
}

export function countRoute(acc: StatsAccumulator, route: string, requests: number, errors: number): void {
  if (!route) return;
  const r = acc.routes.get(route) ?? { route, errors: 0, requests: 0 };
  r.errors += errors;
  r.requests += requests;
  acc.routes.set(route, r);
}

/** The stats answer from the tallies: every bucket of [since, until) (at most 10,000), totals, top failing routes. */
export function finishStats(acc: StatsAccumulator, since: number, until: number, bucket: number): StatsResult {
  const all = tally();
  for (const t of acc.buckets.values()) merge(all, t);
  const out: StatsBucket[] = [];
  const last = Math.min(Math.ceil((until - since) / bucket), 10_000);
  for (let b = 0; b < last; b++) {
    const t = acc.buckets.get(b) ?? tally();
    out.push({ t: since + b * bucket, requests: t.requests, errors: t.errors, byCode: t.byCode, p50: percentile(t, 0.5), p95: percentile(t, 0.95), p99: percentile(t, 0.99) });
  }
  const top = [...acc.routes.values()].filter((r) => r.errors > 0).sort((a, b) => b.errors - a.errors || b.requests - a.requests).slice(0, 10);
  return {
    since,
    until,
    bucket,
    buckets: out,
    totals: { requests: all.requests, errors: all.errors, byCode: all.byCode, p50: percentile(all, 0.5), p95: percentile(all, 0.95), p99: percentile(all, 0.99) },
    topFailingRoutes: top,
    upstreamsByRoute: [...acc.pairs.values()]
      .sort((a, b) => (a.route < b.route ? -1 : a.route > b.route ? 1 : b.t.requests - a.t.requests))
      .map(({ route, upstream, t }) => ({ route, upstream, requests: t.requests, errors: t.errors, p50: percentile(t, 0.5), p95: percentile(t, 0.95), p99: percentile(t, 0.99) })),
  };
}
