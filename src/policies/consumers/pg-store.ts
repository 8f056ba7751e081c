/**
 * The fleet's ConsumerStore: consumers, credentials and subscriptions in PostgreSQL
 * (`storage.url`), shared by every node. Each node keeps a full copy in memory (these tables are
 * small) and serves from it; the data plane never waits for the database.
 *
 * Every write bumps `policy_revision` and sends NOTIFY in its transaction; each node LISTENs and
 * re-reads on the notification (well within a second), and also polls the revision every
 * `checkMs` as a safety net for a notification lost with a dropped connection. While the
 * database is unreachable, the copy in memory keeps serving (keys keep working) and writes fail
 * with StoreWriteError, which the admin API answers with 503.
 */
import type { Sql } from '../../fleet/db.js';
import { describeDbError } from '../../fleet/db.js';
import { StoreWriteError, type ConsumerStore, type PolicyState, type StoredCredential, type StoredSubscription } from './store.js';

export const CONSUMERS_CHANNEL = 'causeway_consumers';

export interface PgConsumerStoreOptions {
  /** Safety-net poll of the revision (ms); default 5000. */
  checkMs?: number;
}

export class PgConsumerStore implements ConsumerStore {
  private state: PolicyState = { consumers: [], credentials: [], subscriptions: [] };
  private revision = -1;
  onChange: (() => void) | null = null;
  /** Told when the database becomes unreachable and when it is back (set by the gateway: its event log). */
  onHealth: ((up: boolean, reason: string) => void) | null = null;
  private readonly listeners: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private reading: Promise<void> | null = null;
  private up = true;
  private closed = false;

  private constructor(private readonly sql: Sql) {}

  /** Reads the current state (the database must be reachable at start) and starts listening. */
  static async open(sql: Sql, opts: PgConsumerStoreOptions = {}): Promise<PgConsumerStore> {
    const store = new PgConsumerStore(sql);
    await store.read();
    const listening = await sql.listen(CONSUMERS_CHANNEL, () => void store.refresh(), () => void store.refresh());
    store.unlisten = listening.unlisten;
    store.timer = setInterval(() => void store.check(), opts.checkMs ?? 5000);
    store.timer.unref();
    return store;
  }

  load(): PolicyState {
    return this.state;
  }

  watch(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** The revision of the copy in memory (tests, the admin API). */
  get copyRevision(): number {
    return this.revision;
  }

  private async read(): Promise<void> {
    const [rev, consumers, credentials, subscriptions] = await this.sql.begin('isolation level repeatable read read only', (tx) => [
      tx<Array<{ revision: number }>>`SELECT revision FROM policy_revision`,
      tx<Array<{ name: string }>>`SELECT name FROM policy_consumers ORDER BY created, name`,
      tx<StoredCredential[]>`SELECT id, consumer, kind, key_hash AS "keyHash", secret, created FROM policy_credentials ORDER BY created, id`,
      tx<StoredSubscription[]>`SELECT consumer, route, status, requested, decided FROM policy_subscriptions ORDER BY requested, consumer, route`,
    ]);
    const revision = rev[0]?.revision ?? 0;
    const changed = revision !== this.revision;
    this.state = {
      consumers: consumers.map((r) => r.name),
      credentials: credentials.map((c) => ({ ...c })),
      subscriptions: subscriptions.map((s) => ({ ...s })),
    };
    this.revision = revision;
    this.health(true, 'the fleet database is reachable again');
    if (changed) for (const l of this.listeners) l();
  }

  /** Re-reads now (a notification, or a reconnect); one read at a time. */
  refresh(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.reading ??= this.read()
      .catch((err: unknown) => this.health(false, describeDbError(err)))
      .finally(() => (this.reading = null));
    return this.reading;
  }

  /** The safety net: one row read; the whole state only when its revision moved. */
  private async check(): Promise<void> {
    try {
      const [row] = await this.sql<Array<{ revision: number }>>`SELECT revision FROM policy_revision`;
      this.health(true, 'the fleet database is reachable again');
      if (row && row.revision !== this.revision) await this.refresh();
    } catch (err) {
      this.health(false, describeDbError(err));
    }
  }

  private health(up: boolean, reason: string): void {
    if (up === this.up) return;
    this.up = up;
    this.onHealth?.(up, up ? reason : `${reason}; consumers and keys are served from the last copy read`);
  }

  /** Runs one change with the revision bump and the notification, in one transaction. */
  private async write(change: (tx: Sql) => Promise<unknown>): Promise<void> {
    try {
      await this.sql.begin(async (tx) => {
        await change(tx as unknown as Sql);
        await tx`UPDATE policy_revision SET revision = revision + 1`;
        await tx`SELECT pg_notify(${CONSUMERS_CHANNEL}, '')`;
      });
    } catch (err) {
      throw new StoreWriteError(describeDbError(err));
    }
    // This node sees its own change at once, not a notification later.
    await this.refresh();
    this.onChange?.();
  }

  addConsumer(name: string, at: number): Promise<void> {
    return this.write((tx) => tx`INSERT INTO policy_consumers (name, created) VALUES (${name}, ${at}) ON CONFLICT (name) DO NOTHING`);
  }

  putCredential(c: StoredCredential): Promise<void> {
    return this.write(
      (tx) => tx`INSERT INTO policy_credentials (id, consumer, kind, key_hash, secret, created) VALUES (${c.id}, ${c.consumer}, ${c.kind}, ${c.keyHash}, ${c.secret}, ${c.created})
        ON CONFLICT (id) DO UPDATE SET consumer = excluded.consumer, kind = excluded.kind, key_hash = excluded.key_hash, secret = excluded.secret, created = excluded.created`,
    );
  }

  deleteCredential(id: string): Promise<void> {
    return this.write((tx) => tx`DELETE FROM policy_credentials WHERE id = ${id}`);
  }

  putSubscription(s: StoredSubscription): Promise<void> {
    return this.write(
      (tx) => tx`INSERT INTO policy_subscriptions (consumer, route, status, requested, decided) VALUES (${s.consumer}, ${s.route}, ${s.status}, ${s.requested}, ${s.decided})
        ON CONFLICT (consumer, route) DO UPDATE SET status = excluded.status, requested = excluded.requested, decided = excluded.decided`,
    );
  }

  deleteSubscription(consumer: string, route: string): Promise<void> {
    return this.write((tx) => tx`DELETE FROM policy_subscriptions WHERE consumer = ${consumer} AND route = ${route}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.unlisten?.().catch(() => undefined);
  }
}
