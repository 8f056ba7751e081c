/**
 * The write side of the call log: batches of calls in one transaction each, with their
 * per-minute rollups merged in, and retention (age, then row count) in small deletes. It runs in
 * a worker thread for file-backed logs (store-worker.ts), so no write ever holds the request
 * thread; in-memory logs, which another thread cannot open, write inline. With `access`, each
 * batch's access-log lines are written too (access-log.ts), before its transaction.
 */
import type Database from 'better-sqlite3';
import { accessLines, writeAll, type AccessTarget } from './access-log.js';
import { COL, COLUMNS, MINUTE, NCOL, PRUNE_CHUNK, statementCache, addCodes, addPacked, binOf, isError, packHist, tally, type RowValue, type Tally } from './store-format.js';

export interface RetentionOptions {
  maxAgeMs: number;
  maxRows: number;
  now: () => number;
}

export interface WriterOptions extends RetentionOptions {
  /** The access log, when this writer writes it. */
  access?: AccessTarget | undefined;
}

/** Whether the call log is being written: a change of state goes to whoever watches (the gateway). */
export interface WriteState {
  ok: boolean;
  /** The SQLite error code of the failure (SQLITE_FULL, SQLITE_IOERR...), when not ok. */
  code?: string | undefined;
  message?: string | undefined;
  /** Calls lost since the log stopped being written. */
  dropped: number;
}

/**
 * Runs the writer's tasks so that a failure (the disk is full, the file unwritable) costs only
 * the calls of that batch: it is caught, counted, and reported once per failing stretch; the
 * first task that succeeds afterwards reports the recovery.
 */
export class WriteHealth {
  private failing = false;
  private dropped = 0;
  constructor(private readonly report: (s: WriteState) => void) {}

  run(task: () => void, calls: number): void {
    try {
      task();
    } catch (err) {
      this.dropped += calls;
      if (!this.failing) {
        this.failing = true;
        const e = err as { code?: string; message?: string };
        this.report({ ok: false, code: e.code, message: e.message, dropped: this.dropped });
      }
      return;
    }
    if (this.failing) {
      this.failing = false;
      this.report({ ok: true, dropped: this.dropped });
    }
  }
}

/** Rows per multi-row INSERT (16 columns each: 512 parameters, well under SQLite's limit). */
const ROWS_PER_INSERT = 32;

export class CallWriter {
  private readonly insert: Database.Statement;
  /** ROWS_PER_INSERT rows in one statement: a fifth less time per row than one statement each (bench/RESULTS.md). */
  private readonly insertMany: Database.Statement;
  private readonly stmt: (sql: string) => Database.Statement;
  private readonly maxAgeMs: number;
  private readonly maxRows: number;
  private readonly now: () => number;
  private readonly access: AccessTarget | undefined;
  private accessFailing = false;

  constructor(
    private readonly db: Database.Database,
    retention: WriterOptions,
  ) {
    this.access = retention.access;
    this.maxAgeMs = retention.maxAgeMs;
    this.maxRows = retention.maxRows;
    this.now = retention.now;
    this.stmt = statementCache(db);
    // A multi-row INSERT inside a transaction keeps a statement journal (to undo just that
    // statement); past 64 KB it spills to a temporary file, opened, written and deleted on every
    // batch. In memory it costs ~1 µs less per call (bench/RESULTS.md, session 5).
    db.pragma('temp_store = MEMORY');
    const row = `(${COLUMNS.split(',').map(() => '?').join(',')})`;
    this.insert = db.prepare(`INSERT INTO calls (${COLUMNS}) VALUES ${row}`);
    this.insertMany = db.prepare(`INSERT INTO calls (${COLUMNS}) VALUES ${Array<string>(ROWS_PER_INSERT).fill(row).join(',')}`);
  }

  /** Writes one batch of flat rows (store-format.ts pushRow) in one transaction. */
  write(rows: RowValue[]): void {
    if (this.access) this.writeAccess(this.access, rows);
    const insert = this.insert;
    // Per-minute rollups (route, upstream): counts, codes and a latency histogram, merged in.
    const minutes = new Map<string, { minute: number; route: string; upstream: string; t: Tally }>();
    for (let i = 0; i < rows.length; i += NCOL) {
      const time = rows[i + COL.time] as number;
      const route = (rows[i + COL.route] as string | null) ?? '';
      const upstream = (rows[i + COL.upstream] as string | null) ?? '';
      const code = rows[i + COL.code] as string | null;
      const minute = time - (time % MINUTE);
      const key = `${minute}\0${route}\0${upstream}`;
      let m = minutes.get(key);
      if (!m) minutes.set(key, (m = { minute, route, upstream, t: tally() }));
      m.t.requests++;
      if (isError(code, rows[i + COL.status] as number)) m.t.errors++;
      if (code) m.t.byCode[code] = (m.t.byCode[code] ?? 0) + 1;
      m.t.hist[binOf(rows[i + COL.duration] as number)]!++;
    }
    const readMinute = this.stmt('SELECT requests, errors, codes, hist FROM minutes WHERE minute = ? AND route = ? AND upstream = ?');
    const writeMinute = this.stmt('INSERT OR REPLACE INTO minutes (minute, route, upstream, requests, errors, codes, hist) VALUES (?, ?, ?, ?, ?, ?, ?)');
    // BEGIN IMMEDIATE: the write lock is taken before the rollups are read, so another process
    // writing the same file (a cluster worker, src/cluster/) cannot merge into the same minute
    // between this read and this write (a deferred transaction would lose one of the two).
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
      const many = ROWS_PER_INSERT * NCOL;
      let i = 0;
      for (; i + many <= rows.length; i += many) this.insertMany.run(rows.slice(i, i + many));
      for (; i < rows.length; i += NCOL) insert.run(rows.slice(i, i + NCOL));
    }).immediate();
  }

  /** A failing access log (disk full, say) must not cost the call log its batch: warned once per failing stretch. */
  private writeAccess(access: AccessTarget, rows: RowValue[]): void {
    try {
      writeAll(access.fd, accessLines(rows, access.fields));
      this.accessFailing = false;
    } catch (err) {
      if (!this.accessFailing) process.emitWarning(`access log: writing failed (${(err as Error).message}); its lines are lost until it recovers`);
      this.accessFailing = true;
    }
  }

  /** Deletes calls past the age limit and beyond the row limit, oldest first, in chunks. */
  prune(): number {
    if (!this.db.open) return 0;
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
}
