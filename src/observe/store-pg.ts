/**
 * The call log of a fleet, in PostgreSQL (`storage.url`): every node writes its calls, tagged
 * with its node id, into one `calls` table partitioned by day; reads (explain, /api/calls,
 * /api/stats, advisors, alerts) see the whole fleet, or one node with `node`.
 *
 *   const store = await PgCallStore.open(sql, { node: 'gw-1:8080', maxAgeMs: 7 * 86_400_000 });
 *   gateway.sinks.add(store);         // record(call) only queues
 *   await store.get(id); await store.query({ node, code, limit }); await store.stats({ since, bucket });
 *
 * Writes never touch the request path: record() appends the call's row to a bounded buffer
 * (`maxBuffered` calls); a timer sends it with COPY in batches, one COPY at a time. While the
 * database is slow or down, the buffer fills and new calls past its bound are dropped and counted
 * (`dropped`, the `calllog.overflow` event, the causeway_call_log_dropped_total metric), never
 * queued without bound; a failed batch is retried after a pause. Retention drops whole day
 * partitions (DROP TABLE), not rows.
 */
import type { Sql } from '../fleet/db.js';
import { describeDbError } from '../fleet/db.js';
import type { EventLog } from './events.js';
import type { CallRecord } from './call-record.js';
import type { CallFilter, CallStore, StatsQuery, StatsResult } from './store-api.js';
import { binOfSql, COLUMNS, NCOL, COL, MINUTE, bucketTally, countRoute, finishStats, isError, pushRow, statsAccumulator, toRecord, type Row, type RowValue } from './store-format.js';

const DAY = 86_400_000;
/** The partitions' advisory lock (creating and dropping them from several nodes at once). */
const PARTITION_LOCK = 0x63_77_70_61_72;

export interface PgCallStoreOptions {
  /** This node's id, written with every call (config `node`). */
  node: string;
  /** Partitions wholly older than this are dropped (ms). */
  maxAgeMs?: number;
  /** Calls held while the database is slow or down; past it, new calls are dropped and counted. */
  maxBuffered?: number;
  /** Calls per COPY. */
  batchSize?: number;
  /** How long a call may wait in the buffer before its batch is sent (ms). */
  flushMs?: number;
  /** Drop old partitions on a timer (default true; one node is enough, but any may). */
  prune?: boolean;
  pruneMs?: number;
  now?: () => number;
}

/** What the writer did: calls written, dropped at the buffer's bound, and held now. */
export interface CallLogCounters {
  written: number;
  dropped: number;
  buffered: number;
  failedWrites: number;
}

/** COPY's text format: \N for null, backslash escapes for the separators. */
function copyValue(v: RowValue): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v;
}

const dayName = (day: number) => `calls_${new Date(day * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`;

export class PgCallStore implements CallStore {
  readonly node: string;
  /** Where overflow and outages are told (the gateway's event log, and through it metrics); set by the gateway. */
  events: EventLog | null = null;
  private queue: RowValue[] = [];
  /** The batch being written (or waiting to be retried), counted against the buffer's bound. */
  private inflight: RowValue[] | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private kickPending = false;
  private readonly partitions = new Set<number>();
  private readonly maxBuffered: number;
  private readonly batchSize: number;
  private readonly flushMs: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly counters: CallLogCounters = { written: 0, dropped: 0, buffered: 0, failedWrites: 0 };
  private overflowing = false;
  private failing = false;
  private closed = false;

  private constructor(
    private readonly sql: Sql,
    opts: PgCallStoreOptions,
  ) {
    this.node = opts.node;
    this.maxBuffered = opts.maxBuffered ?? 100_000;
    this.batchSize = opts.batchSize ?? 5000;
    this.flushMs = opts.flushMs ?? 200;
    this.maxAgeMs = opts.maxAgeMs ?? 7 * DAY;
    this.now = opts.now ?? Date.now;
  }

  /** Creates today's and tomorrow's partitions, and starts retention. */
  static async open(sql: Sql, opts: PgCallStoreOptions): Promise<PgCallStore> {
    const store = new PgCallStore(sql, opts);
    const today = Math.floor(store.now() / DAY);
    await store.ensurePartitions([today, today + 1]);
    if (opts.prune !== false) {
      store.pruneTimer = setInterval(() => void store.prune().catch(() => undefined), opts.pruneMs ?? 3_600_000);
      store.pruneTimer.unref();
    }
    return store;
  }

  /** A store for reading only (the CLI): no partitions made, no retention, nothing recorded. */
  static reader(sql: Sql): PgCallStore {
    const store = new PgCallStore(sql, { node: '' });
    store.closed = true;
    return store;
  }

  /** Whether writes go through, with the counts (for /metrics, like the SQLite log's). */
  get writeState(): { ok: boolean; dropped: number; written: number; buffered: number } {
    const c = this.counts();
    return { ok: !this.failing, dropped: c.dropped, written: c.written, buffered: c.buffered };
  }

  /** Written, dropped and buffered calls (metrics, the admin API, the bench). */
  counts(): CallLogCounters {
    return { ...this.counters, buffered: this.buffered() };
  }

  private buffered(): number {
    return (this.queue.length + (this.inflight?.length ?? 0)) / NCOL;
  }

  record(call: CallRecord): void {
    if (this.closed) return;
    if (this.buffered() >= this.maxBuffered) {
      this.counters.dropped++;
      if (!this.overflowing) {
        this.overflowing = true;
        this.events?.publish({ type: 'calllog.overflow', reason: `the call log buffer is full (${this.maxBuffered} calls waiting for the database): new calls are dropped and counted until it drains` });
      }
      return;
    }
    pushRow(call, this.queue);
    if (this.queue.length >= this.batchSize * NCOL) {
      // A full batch goes at once, but never from the caller's stack.
      if (!this.draining && !this.kickPending) {
        this.kickPending = true;
        setImmediate(this.kick);
      }
    } else this.timer ??= setTimeout(this.kick, this.flushMs);
  }

  private readonly kick = (): void => {
    this.kickPending = false;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // A failed drain has told its event and re-armed the timer: nothing else to do here.
    this.drain().catch(() => undefined);
  };

  /** Sends batches until the buffer is empty; one drain at a time; a failure pauses it (retried by the next kick). */
  private drain(): Promise<void> {
    // finally() runs after the assignment, even when there is nothing to write.
    this.draining ??= this.sendAll().finally(() => (this.draining = null));
    return this.draining;
  }

  private async sendAll(): Promise<void> {
    try {
      for (;;) {
        if (!this.inflight) {
          if (!this.queue.length) break;
          const n = Math.min(this.queue.length, this.batchSize * NCOL);
          this.inflight = n === this.queue.length ? this.queue : this.queue.slice(0, n);
          this.queue = n === this.queue.length ? [] : this.queue.slice(n);
        }
        await this.write(this.inflight);
        this.counters.written += this.inflight.length / NCOL;
        this.inflight = null;
        if (this.failing) {
          this.failing = false;
          this.events?.publish({ type: 'calllog.up', reason: 'the fleet database takes calls again' });
        }
        if (this.overflowing && this.buffered() < this.maxBuffered / 2) {
          this.overflowing = false;
          this.events?.publish({ type: 'calllog.drained', reason: `the call log buffer drained; ${this.counters.dropped} calls were dropped in all` });
        }
      }
    } catch (err) {
      this.counters.failedWrites++;
      if (!this.failing) {
        this.failing = true;
        this.events?.publish({ type: 'calllog.down', reason: `writing the call log failed: ${describeDbError(err)}; calls are held in memory (up to ${this.maxBuffered}) and retried` });
      }
      // Retried after a pause; record() keeps filling the buffer up to its bound meanwhile.
      if (!this.closed) this.timer ??= setTimeout(this.kick, 1000);
      throw err;
    }
  }

  private async write(rows: RowValue[]): Promise<void> {
    const days = new Set<number>();
    let text = '';
    for (let i = 0; i < rows.length; i += NCOL) {
      days.add(Math.floor((rows[i + COL.time] as number) / DAY));
      for (let c = 0; c < NCOL; c++) text += copyValue(rows[i + c]!) + '\t';
      text += copyValue(this.node) + '\n';
    }
    await this.ensurePartitions(days);
    const copy = await this.sql.unsafe(`COPY calls (${COLUMNS}, node) FROM STDIN`).writable();
    await new Promise<void>((resolve, reject) => {
      copy.once('error', reject);
      copy.once('finish', resolve);
      copy.end(text);
    });
  }

  /** Creates the day partitions not known to exist; several nodes may race: one lock, IF NOT EXISTS. */
  private async ensurePartitions(days: Iterable<number>): Promise<void> {
    const missing = [...days].filter((d) => !this.partitions.has(d));
    if (!missing.length) return;
    await this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`;
      for (const d of missing) await tx.unsafe(`CREATE TABLE IF NOT EXISTS ${dayName(d)} PARTITION OF calls FOR VALUES FROM (${d * DAY}) TO (${(d + 1) * DAY})`);
    });
    for (const d of missing) this.partitions.add(d);
  }

  /** Drops the day partitions wholly older than maxAge; returns their names. */
  async prune(): Promise<string[]> {
    const cutoff = this.now() - this.maxAgeMs;
    const dropped: string[] = [];
    await this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`;
      const parts = await tx<Array<{ name: string }>>`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'calls'`;
      for (const { name } of parts) {
        const m = /^calls_(\d{4})(\d{2})(\d{2})$/.exec(name);
        if (!m) continue;
        const day = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / DAY;
        if ((day + 1) * DAY > cutoff) continue;
        await tx.unsafe(`DROP TABLE ${name}`);
        this.partitions.delete(day);
        dropped.push(name);
      }
    });
    return dropped;
  }

  /** Sends what is buffered; resolves when it is written (rejects when the database refuses it). */
  async flush(): Promise<void> {
    this.kick();
    while (this.draining) await this.draining;
    if (this.queue.length || this.inflight) await this.drain();
  }

  async get(requestId: string): Promise<CallRecord | undefined> {
    const [row] = await this.sql.unsafe<Array<Row & { node: string }>>(`SELECT ${COLUMNS}, node FROM calls WHERE request_id = $1 ORDER BY time DESC LIMIT 1`, [requestId]);
    return row ? withNode(row) : undefined;
  }

  async query(filter: CallFilter): Promise<CallRecord[]> {
    const w = pgWhere(filter);
    const limit = Math.max(1, Math.min(1000, filter.limit ?? 100));
    const rows = await this.sql.unsafe<Array<Row & { node: string }>>(`SELECT ${COLUMNS}, node FROM calls ${w.sql} ORDER BY time DESC LIMIT ${limit}`, w.params);
    return rows.map(withNode);
  }

  /**
   * Aggregates in the database: calls grouped by (bucket, route, code, 5xx, latency bin), so what
   * crosses the wire is a histogram, not the calls; percentiles come from the same bins as SQLite's.
   */
  async stats(q: StatsQuery): Promise<StatsResult> {
    const bucket = Math.max(1, Math.floor(q.bucket));
    const whole = bucket % MINUTE === 0;
    const since = whole ? q.since - (q.since % MINUTE) : q.since;
    const rawUntil = q.until ?? this.now();
    const until = whole ? Math.ceil(rawUntil / MINUTE) * MINUTE : rawUntil;
    const w = pgWhere({ route: q.route, upstream: q.upstream, node: q.node, since, until }, 2);
    const rows = await this.sql.unsafe<Array<{ b: number; route: string; code: string | null; status: number; bin: number; n: number }>>(
      `SELECT floor((time - $1) / $2::float8)::int AS b, coalesce(route, '') AS route, code, CASE WHEN status >= 500 THEN 500 ELSE 200 END AS status,
        ${binOfSql('duration')} AS bin, count(*)::int AS n
       FROM calls ${w.sql} GROUP BY 1, 2, 3, 4, 5`,
      [since, bucket, ...w.params],
    );
    const acc = statsAccumulator();
    for (const r of rows) {
      const t = bucketTally(acc, r.b);
      const errors = isError(r.code, r.status) ? r.n : 0;
      t.requests += r.n;
      t.errors += errors;
      if (r.code) t.byCode[r.code] = (t.byCode[r.code] ?? 0) + r.n;
      t.hist[r.bin]! += r.n;
      countRoute(acc, r.route, r.n, errors);
    }
    return finishStats(acc, since, until, bucket);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    // Every buffered call is written before the process goes, if the database takes it within 5 s.
    await Promise.race([this.flush().catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}

function withNode(row: Row & { node: string }): CallRecord {
  return { ...toRecord(row), node: row.node };
}

/** WHERE for a filter with $n placeholders, numbered after `offset` parameters already used. */
function pgWhere(f: CallFilter, offset = 0): { sql: string; params: Array<string | number> } {
  const parts: string[] = [];
  const params: Array<string | number> = [];
  const add = (cond: string, v: string | number | undefined) => {
    if (v === undefined) return;
    params.push(v);
    parts.push(cond.replace('?', `$${offset + params.length}`));
  };
  add('route = ?', f.route);
  add('upstream = ?', f.upstream);
  add('code = ?', f.code);
  add('status = ?', f.status);
  add('node = ?', f.node);
  add('time >= ?', f.since);
  add('time < ?', f.until);
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}
