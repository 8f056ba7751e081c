/**
 * The write side of the call log: batches of calls in one transaction each, with their
 * per-minute rollups merged in, and retention (age, then row count) in small deletes. It runs in
 * a worker thread for file-backed logs (store-worker.ts), so no write ever holds the request
 * thread; in-memory logs, which another thread cannot open, write inline.
 */
import type Database from 'better-sqlite3';
import type { CallRecord } from './call-record.js';
import { COLUMNS, MINUTE, PRUNE_CHUNK, statementCache, addCodes, addPacked, isError, binOf, packHist, tally, type Tally } from './store-format.js';

export interface RetentionOptions {
  maxAgeMs: number;
  maxRows: number;
  now: () => number;
}

export class CallWriter {
  private readonly insert: Database.Statement;
  private readonly stmt: (sql: string) => Database.Statement;
  private readonly maxAgeMs: number;
  private readonly maxRows: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Database.Database,
    retention: RetentionOptions,
  ) {
    this.maxAgeMs = retention.maxAgeMs;
    this.maxRows = retention.maxRows;
    this.now = retention.now;
    this.stmt = statementCache(db);
    this.insert = db.prepare(`INSERT INTO calls (${COLUMNS}) VALUES (${COLUMNS.split(',').map(() => '?').join(',')})`);
  }

  /** Writes one batch in one transaction. */
  write(batch: CallRecord[]): void {
    const insert = this.insert;
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
