/**
 * The call log over SQLite (better-sqlite3, WAL): one row per call, its attempts as JSON, and
 * indexed columns for the filters the admin API, `explain`, the advisors and alerts use.
 *
 *   const store = openCallStore({ path: './data/causeway.db', maxAgeMs: 7 * 86_400_000, maxRows: 1e6 });
 *   gateway.sinks.add(store);                   // record(call) only queues
 *   store.get(id); store.query({ route, code, since, limit }); store.stats({ since, bucket });
 *   await store.close();                        // writes what is queued
 *
 * Calls are queued in memory and written in one transaction per batch (every 200 ms, or at once
 * past 500 queued calls, on a later tick): a crash loses at most the queued batch; close() loses
 * nothing. Retention (age and row count) is enforced in the background, in small deletes.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { CallRecord } from './call-record.js';
import type { CallFilter, CallStore, StatsBucket, StatsQuery, StatsResult } from './store-api.js';

export interface StoreOptions {
  /** SQLite file, created with its directory; `:memory:` for a store that dies with the process. */
  path: string;
  /** Calls older than this are pruned (ms). */
  maxAgeMs?: number;
  /** At most this many calls are kept. */
  maxRows?: number;
  /** Open an existing file for reading only (the CLI, while a gateway writes). */
  readonly?: boolean;
  flushMs?: number;
  batchSize?: number;
  pruneMs?: number;
  /** The clock retention is measured by (tests). */
  now?: () => number;
}

/** Latency histogram resolution: bin = round(ln(1 + ms) × 20), about 5% wide, up to 3 hours. */
const BINS_PER_E = 20;
const BINS = 330;
const MINUTE = 60_000;
/** Rows deleted per statement when pruning, so a prune never holds the thread for long. */
const PRUNE_CHUNK = 5000;

const SCHEMA = `
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

const COLUMNS = 'request_id, time, route, upstream, target, consumer, method, path, status, code, duration, bytes_in, bytes_out, client_ip, trace_id, attempts';

interface Row {
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

function toRecord(r: Row): CallRecord {
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
const isError = (c: CallRecord) => c.code !== null || c.status >= 500;
const binOf = (ms: number) => Math.min(BINS - 1, Math.round(Math.log1p(Math.max(0, ms)) * BINS_PER_E));

/** Counts of one stretch of time: a stats bucket, or one minute of one route in the rollup. */
interface Tally {
  requests: number;
  errors: number;
  byCode: Record<string, number>;
  hist: Uint32Array;
}
const tally = (): Tally => ({ requests: 0, errors: 0, byCode: {}, hist: new Uint32Array(BINS) });

function merge(into: Tally, from: Tally): void {
  into.requests += from.requests;
  into.errors += from.errors;
  for (const [k, v] of Object.entries(from.byCode)) into.byCode[k] = (into.byCode[k] ?? 0) + v;
  for (let i = 0; i < BINS; i++) into.hist[i]! += from.hist[i]!;
}

function percentile(t: Tally, q: number): number | null {
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
function packHist(h: Uint32Array): Buffer {
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

function addPacked(into: Uint32Array, b: Buffer): void {
  for (let o = 0; o + 8 <= b.length; o += 8) into[b.readUInt32LE(o)]! += b.readUInt32LE(o + 4);
}

function addCodes(into: Record<string, number>, codes: string): void {
  if (!codes) return;
  for (const [k, v] of Object.entries(JSON.parse(codes) as Record<string, number>)) into[k] = (into[k] ?? 0) + v;
}

function where(f: { route?: string | undefined; upstream?: string | undefined; code?: string | undefined; status?: number | undefined; since?: number | undefined; until?: number | undefined }) {
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

export class SqliteCallStore implements CallStore {
  readonly path: string;
  private readonly db: Database.Database;
  private queue: CallRecord[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private readonly pruneTimer: NodeJS.Timeout | null = null;
  private readonly insert: Database.Statement | null = null;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly flushMs: number;
  private readonly batchSize: number;
  private readonly maxAgeMs: number;
  private readonly maxRows: number;
  private readonly now: () => number;
  private closed = false;

  constructor(opts: StoreOptions) {
    this.path = opts.path;
    this.flushMs = opts.flushMs ?? 200;
    this.batchSize = opts.batchSize ?? 500;
    this.maxAgeMs = opts.maxAgeMs ?? 7 * 86_400_000;
    this.maxRows = opts.maxRows ?? 1_000_000;
    this.now = opts.now ?? Date.now;
    if (opts.path !== ':memory:' && !opts.readonly) mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    if (opts.readonly) return;
    this.db.pragma('journal_mode = WAL');
    // WAL + NORMAL: a commit survives a process crash; only an OS crash may lose the last one.
    this.db.pragma('synchronous = NORMAL');
    // Another process (a second gateway, the CLI) may hold the write lock for a moment.
    this.db.pragma('busy_timeout = 2000');
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare(`INSERT INTO calls (${COLUMNS}) VALUES (${COLUMNS.split(',').map(() => '?').join(',')})`);
    this.pruneTimer = setInterval(() => this.prune(), opts.pruneMs ?? 60_000);
    this.pruneTimer.unref();
  }

  record(call: CallRecord): void {
    if (this.closed || !this.insert) return;
    this.queue.push(call);
    if (this.queue.length >= this.batchSize) {
      // Never write on the caller's stack: the call that filled the batch is still finishing.
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    } else this.flushTimer ??= setTimeout(this.flush, this.flushMs);
  }

  /** Writes every queued call in one transaction. */
  flush = (): void => {
    this.flushScheduled = false;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (!this.queue.length || !this.insert || !this.db.open) return;
    const batch = this.queue;
    this.queue = [];
    this.writeBatch(batch);
  };

  private readonly writeBatch = (batch: CallRecord[]): void => {
    const insert = this.insert!;
    // Per-minute rollups (route, upstream): counts, codes and a latency histogram, merged in.
    const minutes = new Map<string, { minute: number; route: string; upstream: string; t: Tally }>();
    for (const c of batch) {
      const minute = c.time - (c.time % MINUTE);
      const key = `${minute}\0${c.route ?? ''}\0${c.upstream ?? ''}`;
      let m = minutes.get(key);
      if (!m) minutes.set(key, (m = { minute, route: c.route ?? '', upstream: c.upstream ?? '', t: tally() }));
      m.t.requests++;
      if (isError(c)) m.t.errors++;
      if (c.code) m.t.byCode[c.code] = (m.t.byCode[c.code] ?? 0) + 1;
      m.t.hist[binOf(c.durationMs)]!++;
    }
    const readMinute = this.stmt('SELECT requests, errors, codes, hist FROM minutes WHERE minute = ? AND route = ? AND upstream = ?');
    const writeMinute = this.stmt('INSERT OR REPLACE INTO minutes (minute, route, upstream, requests, errors, codes, hist) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const m of minutes.values()) {
        const prev = readMinute.get(m.minute, m.route, m.upstream) as { requests: number; errors: number; codes: string; hist: Buffer } | undefined;
        if (prev) {
          m.t.requests += prev.requests;
          m.t.errors += prev.errors;
          addCodes(m.t.byCode, prev.codes);
          addPacked(m.t.hist, prev.hist);
        }
        const codes = Object.keys(m.t.byCode).length ? JSON.stringify(m.t.byCode) : '';
        writeMinute.run(m.minute, m.route, m.upstream, m.t.requests, m.t.errors, codes, packHist(m.t.hist));
      }
      for (const c of batch) {
        const last = c.attempts.length ? c.attempts[c.attempts.length - 1]!.target : null;
        insert.run(
          c.requestId, c.time, c.route, c.upstream, last, c.consumer, c.method, c.path, c.status, c.code,
          c.durationMs, c.bytesIn, c.bytesOut, c.clientIp, c.traceId ?? null, JSON.stringify(c.attempts),
        );
      }
    })();
  };

  /** Deletes calls past the age limit and beyond the row limit, oldest first, in chunks. */
  prune(): number {
    if (!this.insert || !this.db.open) return 0;
    let deleted = 0;
    const byAge = this.stmt(`DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE time < ? ORDER BY time LIMIT ${PRUNE_CHUNK})`);
    for (let i = 0; i < 1000; i++) {
      const n = byAge.run(this.now() - this.maxAgeMs).changes;
      deleted += n;
      if (n < PRUNE_CHUNK) break;
    }
    const boundary = this.stmt('SELECT id FROM calls ORDER BY id DESC LIMIT 1 OFFSET ?').get(this.maxRows) as { id: number } | undefined;
    if (boundary) deleted += this.stmt('DELETE FROM calls WHERE id <= ?').run(boundary.id).changes;
    // Rollups go with the minutes no call is left of.
    const oldest = this.stmt('SELECT min(time) AS t FROM calls').get() as { t: number | null };
    this.stmt('DELETE FROM minutes WHERE minute < ?').run(oldest.t === null ? this.now() - this.maxAgeMs : oldest.t - (oldest.t % MINUTE));
    return deleted;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** The newest call with this request id (a client may reuse one). */
  get(requestId: string): CallRecord | undefined {
    const row = this.stmt(`SELECT ${COLUMNS} FROM calls WHERE request_id = ? ORDER BY id DESC LIMIT 1`).get(requestId) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  query(filter: CallFilter): CallRecord[] {
    const w = where(filter);
    const limit = Math.max(1, Math.min(1000, filter.limit ?? 100));
    const rows = this.stmt(`SELECT ${COLUMNS} FROM calls ${w.sql} ORDER BY time DESC LIMIT ${limit}`).all(...w.params) as Row[];
    return rows.map(toRecord);
  }

  /** Calls matching a filter, counted (no limit). */
  count(filter: Omit<CallFilter, 'limit'>): number {
    const w = where(filter);
    return (this.stmt(`SELECT count(*) AS n FROM calls ${w.sql}`).get(...w.params) as { n: number }).n;
  }

  /**
   * Aggregates over a time range. Buckets of whole minutes read the per-minute rollups (the range
   * is widened to whole minutes; `since` in the result says where it starts): a day of a busy
   * gateway is thousands of rows, not millions. Shorter buckets scan the calls themselves.
   */
  stats(q: StatsQuery): StatsResult {
    const bucket = Math.max(1, Math.floor(q.bucket));
    const rollup = bucket % MINUTE === 0;
    const since = rollup ? q.since - (q.since % MINUTE) : q.since;
    const rawUntil = q.until ?? this.now();
    const until = rollup ? Math.ceil(rawUntil / MINUTE) * MINUTE : rawUntil;
    const buckets = new Map<number, Tally>();
    const bucketOf = (b: number) => {
      let acc = buckets.get(b);
      if (!acc) buckets.set(b, (acc = tally()));
      return acc;
    };
    const routes = new Map<string, { route: string; errors: number; requests: number }>();
    const countRoute = (route: string, requests: number, errors: number) => {
      if (!route) return;
      const r = routes.get(route) ?? { route, errors: 0, requests: 0 };
      r.errors += errors;
      r.requests += requests;
      routes.set(route, r);
    };
    if (rollup) {
      const w = where({ route: q.route, upstream: q.upstream });
      const cond = w.sql ? `${w.sql} AND` : 'WHERE';
      const rows = this.stmt(`SELECT minute, route, requests, errors, codes, hist FROM minutes ${cond} minute >= ? AND minute < ?`).raw().all(...w.params, since, until) as Array<[number, string, number, number, string, Buffer]>;
      for (const [minute, route, requests, errors, codes, hist] of rows) {
        const acc = bucketOf(Math.floor((minute - since) / bucket));
        acc.requests += requests;
        acc.errors += errors;
        addCodes(acc.byCode, codes);
        addPacked(acc.hist, hist);
        countRoute(route, requests, errors);
      }
    } else {
      const w = where({ route: q.route, upstream: q.upstream, since, until });
      const rows = this.stmt(`SELECT time, route, code, status, duration FROM calls ${w.sql}`).raw().all(...w.params) as Array<[number, string | null, string | null, number, number]>;
      for (const [time, route, code, status, duration] of rows) {
        const acc = bucketOf(Math.floor((time - since) / bucket));
        const err = code !== null || status >= 500 ? 1 : 0;
        acc.requests++;
        acc.errors += err;
        if (code) acc.byCode[code] = (acc.byCode[code] ?? 0) + 1;
        acc.hist[binOf(duration)]!++;
        countRoute(route ?? '', 1, err);
      }
    }
    const all = tally();
    for (const t of buckets.values()) merge(all, t);
    const out: StatsBucket[] = [];
    const last = Math.min(Math.ceil((until - since) / bucket), 10_000);
    for (let b = 0; b < last; b++) {
      const t = buckets.get(b) ?? tally();
      out.push({ t: since + b * bucket, requests: t.requests, errors: t.errors, byCode: t.byCode, p50: percentile(t, 0.5), p95: percentile(t, 0.95), p99: percentile(t, 0.99) });
    }
    const top = [...routes.values()].filter((r) => r.errors > 0).sort((a, b) => b.errors - a.errors || b.requests - a.requests).slice(0, 10);
    return {
      since,
      until,
      bucket,
      buckets: out,
      totals: { requests: all.requests, errors: all.errors, byCode: all.byCode, p50: percentile(all, 0.5), p95: percentile(all, 0.95), p99: percentile(all, 0.99) },
      topFailingRoutes: top,
    };
  }

  /** Writes what is queued, stops the timers and closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    if (this.insert) this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}

/** Opens (creating when needed) the call log at `opts.path`. */
export function openCallStore(opts: StoreOptions): SqliteCallStore {
  return new SqliteCallStore(opts);
}
