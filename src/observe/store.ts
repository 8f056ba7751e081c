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
 * past 500 queued calls, on a later tick): a crash loses at most the batch being assembled and the
 * one being written (about 2 × 200 ms of calls); close() — and so SIGTERM — loses nothing. For a file, the writes and the retention deletes run in a worker thread (store-worker.ts)
 * and the request thread only hands batches over; flush() waits for them, so a query right after
 * it sees every call. An in-memory log, which another thread cannot open, writes inline.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { CallRecord } from './call-record.js';
import type { CallFilter, CallStore, StatsQuery, StatsResult } from './store-api.js';
import { COLUMNS, MINUTE, NCOL, SCHEMA, statementCache, addCodes, addPacked, binOf, bucketTally, countRoute, finishStats, pairTally, isError, pushRow, statsAccumulator, toRecord, where, type Row, type RowValue } from './store-format.js';
import { CallWriter, WriteHealth, type WriteState } from './store-writer.js';
import { prepareConnection } from '../util/sqlite.js';
import type { AccessTarget } from './access-log.js';

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
  /** Enforce retention on a timer (default true). Cluster workers share one file: only the lead prunes. */
  prune?: boolean;
  /** The clock retention is measured by (tests). */
  now?: () => number;
  /** The access log, written by the call log's writer thread with each batch (access-log.ts); see writesAccessLog. */
  accessLog?: AccessTarget | undefined;
  /** Told when writing starts failing (a full disk) and when it recovers. */
  onWriteState?: ((s: WriteState) => void) | undefined;
}

export class SqliteCallStore implements CallStore {
  readonly path: string;
  private readonly db: Database.Database;
  /** Queued calls as flat rows (NCOL values each). */
  private queue: RowValue[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private readonly pruneTimer: NodeJS.Timeout | null = null;
  private readonly stmt: (sql: string) => Database.Statement;
  private readonly flushMs: number;
  private readonly batchSize: number;
  private readonly now: () => number;
  /** Inline writer (in-memory logs, injected clocks); null when a worker thread writes. */
  private writer: CallWriter | null = null;
  private worker: Worker | null = null;
  /** The writer thread writes the access log given in the options (only a thread does: its writes may block). */
  readonly writesAccessLog: boolean = false;
  /** [posted seq, written seq, rows the last prune deleted], shared with the worker. */
  private readonly barrier: Int32Array | null = null;
  private seq = 0;
  /** Inline writes' failures; the writer thread keeps its own and posts the changes. */
  private readonly health: WriteHealth;
  /** The latest state of writing (for /metrics and the admin API). */
  writeState: WriteState = { ok: true, dropped: 0 };
  private readonly writable: boolean;
  private closed = false;

  constructor(opts: StoreOptions) {
    this.path = opts.path;
    this.flushMs = opts.flushMs ?? 200;
    this.batchSize = opts.batchSize ?? 500;
    this.now = opts.now ?? Date.now;
    this.writable = !opts.readonly;
    const onState = (st: WriteState) => {
      this.writeState = st;
      opts.onWriteState?.(st);
    };
    this.health = new WriteHealth(onState);
    if (opts.path !== ':memory:' && !opts.readonly) mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    this.stmt = statementCache(this.db);
    prepareConnection(this.db, !opts.readonly);
    if (opts.readonly) return;
    this.db.exec(SCHEMA);
    const retention = { maxAgeMs: opts.maxAgeMs ?? 7 * 86_400_000, maxRows: opts.maxRows ?? 1_000_000, now: this.now };
    if (opts.path === ':memory:' || opts.now) {
      // Inline: the access log stays with the caller (AccessLog, asynchronous), never written here.
      this.writer = new CallWriter(this.db, retention);
    } else {
      const writing = { maxAgeMs: retention.maxAgeMs, maxRows: retention.maxRows, access: opts.accessLog };
      this.writesAccessLog = opts.accessLog !== undefined;
      const shared = new SharedArrayBuffer(12);
      this.barrier = new Int32Array(shared);
      // The parent's flags apply to the thread too (profiling, say), but not a flag only for -e code.
      const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
      const spawn = (argv: string[]) => new Worker(new URL('./store-worker.js', import.meta.url), { workerData: { path: opts.path, ...writing, barrier: shared }, execArgv: argv });
      try {
        this.worker = spawn(execArgv);
      } catch (err) {
        // A process-wide flag (--single-threaded-gc, say) that a thread refuses: start it without the parent's flags.
        if ((err as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
        this.worker = spawn([]);
      }
      // Before unref(): a 'message' listener refs the worker's port, and unref() must see it.
      this.worker.on('message', (m: { health?: WriteState }) => m.health && onState(m.health));
      this.worker.unref();
      this.worker.once('error', (err) => {
        // The log must not take the gateway down: keep logging from this thread instead.
        process.emitWarning(`call log writer thread failed (${err.message}); writing inline from now on`);
        this.worker = null;
        // The access log was the thread's: it goes on inline too (blocking writes, a degraded mode) rather than going silent.
        this.writer = new CallWriter(this.db, { ...retention, access: opts.accessLog });
      });
    }
    if (opts.prune === false) return;
    this.pruneTimer = setInterval(() => this.post({ prune: true }), opts.pruneMs ?? 60_000);
    this.pruneTimer.unref();
  }

  record(call: CallRecord): void {
    if (this.closed || !this.writable) return;
    pushRow(call, this.queue);
    if (this.queue.length >= this.batchSize * NCOL) {
      // Never write on the caller's stack: the call that filled the batch is still finishing.
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.handOver);
      }
    } else this.flushTimer ??= setTimeout(this.handOver, this.flushMs);
  }

  /** Hands the queue to the writer without waiting (the timer path). */
  private readonly handOver = (): void => {
    this.flushScheduled = false;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (!this.queue.length || !this.db.open) return;
    const batch = this.queue;
    this.queue = [];
    this.post({ batch });
  };

  /** Runs a writer task inline, or posts it to the writer thread; returns its sequence number. */
  private post(task: { batch?: RowValue[]; prune?: boolean; close?: boolean }): number {
    const w = this.writer;
    if (w) {
      if (task.batch) this.health.run(() => w.write(task.batch!), task.batch.length / NCOL);
      if (task.prune) this.health.run(() => w.prune(), 0);
      return 0;
    }
    if (!this.worker || !this.barrier) return 0;
    const seq = ++this.seq;
    Atomics.store(this.barrier, 0, seq);
    this.worker.postMessage({ ...task, seq });
    return seq;
  }

  /** Blocks until the writer thread has finished task `seq` (only readers and close() wait). */
  private await(seq: number): void {
    const b = this.barrier;
    if (!b || !this.worker || seq === 0) return;
    for (let i = 0; i < 100 && Atomics.load(b, 1) < seq; i++) Atomics.wait(b, 1, Atomics.load(b, 1), 100);
  }

  /** Writes what is queued and waits until it is on disk, so a query right after sees it. */
  flush(): void {
    this.handOver();
    this.await(this.seq);
  }

  /** Deletes calls past the age limit and beyond the row limit; returns how many. */
  prune(): number {
    this.flush();
    if (this.writer) return this.writer.prune();
    if (!this.barrier) return 0;
    this.await(this.post({ prune: true }));
    return Atomics.load(this.barrier, 2);
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
    const acc = statsAccumulator();
    if (rollup) {
      const w = where({ route: q.route, upstream: q.upstream });
      const cond = w.sql ? `${w.sql} AND` : 'WHERE';
      const rows = this.stmt(`SELECT minute, route, upstream, requests, errors, codes, hist FROM minutes ${cond} minute >= ? AND minute < ?`).raw().all(...w.params, since, until) as Array<[number, string, string, number, number, string, Buffer]>;
      for (const [minute, route, upstream, requests, errors, codes, hist] of rows) {
        const t = bucketTally(acc, Math.floor((minute - since) / bucket));
        t.requests += requests;
        t.errors += errors;
        addCodes(t.byCode, codes);
        addPacked(t.hist, hist);
        countRoute(acc, route, requests, errors);
        const p = pairTally(acc, route, upstream);
        if (p) {
          p.requests += requests;
          p.errors += errors;
          addPacked(p.hist, hist);
        }
      }
    } else {
      const w = where({ route: q.route, upstream: q.upstream, since, until });
      const rows = this.stmt(`SELECT time, route, upstream, code, status, duration FROM calls ${w.sql}`).raw().all(...w.params) as Array<[number, string | null, string | null, string | null, number, number]>;
      for (const [time, route, upstream, code, status, duration] of rows) {
        const t = bucketTally(acc, Math.floor((time - since) / bucket));
        const err = isError(code, status) ? 1 : 0;
        t.requests++;
        t.errors += err;
        if (code) t.byCode[code] = (t.byCode[code] ?? 0) + 1;
        t.hist[binOf(duration)]!++;
        countRoute(acc, route ?? '', 1, err);
        const p = pairTally(acc, route, upstream);
        if (p) {
          p.requests++;
          p.errors += err;
          p.hist[binOf(duration)]!++;
        }
      }
    }
    return finishStats(acc, since, until, bucket);
  }

  /** Writes what is queued, stops the timers, the writer thread and the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    if (this.worker) {
      // Unref'd while running so an idle writer never holds the process open; held while closing.
      this.worker.ref();
      const exited = new Promise((r) => this.worker!.once('exit', r));
      this.await(this.post({ close: true }));
      await exited;
    } else if (this.writable) this.health.run(() => this.db.pragma('wal_checkpoint(TRUNCATE)'), 0);
    this.db.close();
  }
}

/** Opens (creating when needed) the call log at `opts.path`. */
export function openCallStore(opts: StoreOptions): SqliteCallStore {
  return new SqliteCallStore(opts);
}
