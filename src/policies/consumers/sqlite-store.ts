/**
 * The embedded ConsumerStore: credentials and subscriptions created at run time are kept in
 * three `policy_*` tables in the SQLite file of `storage.path`, next to the call log (WAL mode
 * lets both connections share the file). The file is opened only once something has to be
 * read back or written, so a gateway that never uses the admin consumer API creates nothing.
 * API keys are stored as SHA-256 hashes; HMAC secrets must be stored as they are (verifying a
 * signature needs them), so the file deserves the permissions of a secrets file.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { prepareConnection } from '../../util/sqlite.js';
import type { ConsumerStore, PolicyState, StoredCredential, StoredSubscription } from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS policy_consumers (name TEXT PRIMARY KEY, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS policy_credentials (id TEXT PRIMARY KEY, consumer TEXT NOT NULL, kind TEXT NOT NULL, key_hash TEXT, secret TEXT, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS policy_subscriptions (consumer TEXT NOT NULL, route TEXT NOT NULL, status TEXT NOT NULL, requested INTEGER NOT NULL, decided INTEGER, PRIMARY KEY (consumer, route));
`;

export class SqliteConsumerStore implements ConsumerStore {
  private db: Database.Database | null = null;
  /** Called after every write (cluster workers re-read what the lead's admin API changed). */
  onChange: (() => void) | null = null;

  /** `path` null or ':memory:' keeps changes for the life of the process only. */
  constructor(private readonly path: string | null) {}

  private open(): Database.Database {
    if (this.db) return this.db;
    const file = this.path ?? ':memory:';
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    prepareConnection(db, true);
    db.exec(SCHEMA);
    this.db = db;
    return db;
  }

  /** What was persisted by earlier runs (nothing when the file does not exist yet). */
  /**
   * What was persisted by earlier runs (nothing when the file does not exist yet). A file that
   * cannot be opened (a full disk cannot take its WAL index) must not stop the gateway: it starts
   * without the run-time credentials and subscriptions — their callers are refused, never let in.
   */
  load(): PolicyState {
    if (!this.db && (this.path === null || this.path === ':memory:' || !existsSync(this.path))) return { consumers: [], credentials: [], subscriptions: [] };
    let db: Database.Database;
    try {
      db = this.open();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      process.emitWarning(`consumers: cannot read the credentials created through the admin API from ${this.path} (${e.code ?? 'error'}: ${e.message ?? ''}); their callers are refused until a restart with room on the disk`);
      return { consumers: [], credentials: [], subscriptions: [] };
    }
    const credentials = db.prepare('SELECT id, consumer, kind, key_hash AS keyHash, secret, created FROM policy_credentials').all() as StoredCredential[];
    const subscriptions = db.prepare('SELECT consumer, route, status, requested, decided FROM policy_subscriptions').all() as StoredSubscription[];
    const consumers = (db.prepare('SELECT name FROM policy_consumers').all() as Array<{ name: string }>).map((r) => r.name);
    return { consumers, credentials, subscriptions };
  }

  async addConsumer(name: string, at: number): Promise<void> {
    this.open().prepare('INSERT OR IGNORE INTO policy_consumers (name, created) VALUES (?, ?)').run(name, at);
    this.onChange?.();
  }

  async putCredential(c: StoredCredential): Promise<void> {
    this.open()
      .prepare('INSERT OR REPLACE INTO policy_credentials (id, consumer, kind, key_hash, secret, created) VALUES (?, ?, ?, ?, ?, ?)')
      .run(c.id, c.consumer, c.kind, c.keyHash, c.secret, c.created);
    this.onChange?.();
  }

  async deleteCredential(id: string): Promise<void> {
    this.open().prepare('DELETE FROM policy_credentials WHERE id = ?').run(id);
    this.onChange?.();
  }

  async putSubscription(s: StoredSubscription): Promise<void> {
    this.open()
      .prepare('INSERT OR REPLACE INTO policy_subscriptions (consumer, route, status, requested, decided) VALUES (?, ?, ?, ?, ?)')
      .run(s.consumer, s.route, s.status, s.requested, s.decided);
    this.onChange?.();
  }

  async deleteSubscription(consumer: string, route: string): Promise<void> {
    this.open().prepare('DELETE FROM policy_subscriptions WHERE consumer = ? AND route = ?').run(consumer, route);
    this.onChange?.();
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}
