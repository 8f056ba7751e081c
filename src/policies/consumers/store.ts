/**
 * Where consumers, credentials and subscriptions created at run time (through the admin API) are
 * kept: the SQLite file of `storage.path` for one gateway (sqlite-store.ts), or the fleet's
 * PostgreSQL database of `storage.url` (pg-store.ts), which every node of a fleet shares.
 * The data plane never reads a store per request: ConsumerRegistry keeps maps in memory built
 * from `load()`, which is the store's last known copy.
 */

export interface StoredCredential {
  id: string;
  consumer: string;
  kind: 'key' | 'hmac';
  /** sha256 hex of an API key. */
  keyHash: string | null;
  /** An HMAC secret. */
  secret: string | null;
  created: number;
}

export interface StoredSubscription {
  consumer: string;
  route: string;
  status: 'pending' | 'approved';
  requested: number;
  decided: number | null;
}

export interface PolicyState {
  consumers: string[];
  credentials: StoredCredential[];
  subscriptions: StoredSubscription[];
}

export interface ConsumerStore {
  /** The last known state: what was persisted (SQLite), or the copy last read from the database (PostgreSQL). */
  load(): PolicyState;
  /** Writes reject when the store cannot take them (the fleet database unreachable); nothing changes then. */
  addConsumer(name: string, at: number): Promise<void>;
  putCredential(c: StoredCredential): Promise<void>;
  deleteCredential(id: string): Promise<void>;
  putSubscription(s: StoredSubscription): Promise<void>;
  deleteSubscription(consumer: string, route: string): Promise<void>;
  /** Called after every write made through this store (cluster workers re-read what the lead's admin API changed). */
  onChange: (() => void) | null;
  /** Calls `listener` when another process (another node of the fleet) changed the state; `load()` then has it. */
  watch?(listener: () => void): void;
  close(): void | Promise<void>;
}

/** A write the store could not take (the fleet database unreachable); the admin API answers it as 503 UNAVAILABLE. */
export class StoreWriteError extends Error {
  override readonly name = 'StoreWriteError';
}
