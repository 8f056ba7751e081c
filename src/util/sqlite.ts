/** SQLite connections of the gateway's storage file (better-sqlite3). */
import type Database from 'better-sqlite3';

/**
 * How every connection to the gateway's SQLite file (call log, consumers) is set up. The lock
 * wait first: another process (a second gateway, a cluster worker, the CLI) may hold the write
 * lock for a moment, switching to WAL included. Then, for a connection that writes, WAL + NORMAL: a commit survives a process
 * crash; only an OS crash may lose the last one.
 */
export function prepareConnection(db: Database.Database, writes: boolean): void {
  db.pragma('busy_timeout = 2000');
  if (!writes) return;
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
}
