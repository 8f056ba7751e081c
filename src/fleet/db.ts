/**
 * The fleet's PostgreSQL database (`storage.url`): one connection pool per process (the
 * `postgres` client), and the schema, brought up to date on start by versioned migrations.
 * Several nodes starting at once take turns: each runs the pending migrations under a session
 * advisory lock, so exactly one applies each version and the others find it applied.
 */
import postgres from 'postgres';
import { MIGRATIONS } from './migrations.js';

export type Sql = postgres.Sql;

/** Any one advisory lock key: the migrations' (an arbitrary constant, "cw" + "mig"). */
const MIGRATION_LOCK = 0x63_77_6d_69_67;

export interface ConnectOptions {
  /** Connections in the pool (queries of the admin API, the call-log writer, heartbeats). */
  max?: number;
  /** How long a connect may take before the query fails (s). */
  connectTimeout?: number;
}

/** A pool to `url`; connections are opened lazily and re-opened after the server comes back. */
export function connect(url: string, opts: ConnectOptions = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 4,
    connect_timeout: opts.connectTimeout ?? 5,
    idle_timeout: 60,
    // Server notices (a table that already exists...) are not worth a log line each.
    onnotice: () => undefined,
    // Numbers over 2^31 (bigint epoch milliseconds, counts) come back as numbers, not strings.
    types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
    connection: { application_name: 'causeway' },
  });
}

/** Applies every migration newer than the database's schema version; safe from several nodes at once. */
export async function migrate(sql: Sql): Promise<number> {
  return sql.begin(async (tx) => {
    // Transaction-scoped: released at commit or rollback, even if this process dies midway.
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS causeway_migrations (version integer PRIMARY KEY, name text NOT NULL, applied bigint NOT NULL)`;
    const done = new Set((await tx<Array<{ version: number }>>`SELECT version FROM causeway_migrations`).map((r) => r.version));
    let applied = 0;
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await tx.unsafe(m.sql);
      await tx`INSERT INTO causeway_migrations (version, name, applied) VALUES (${m.version}, ${m.name}, ${Date.now()})`;
      applied++;
    }
    return applied;
  });
}

/** A database failure as one line for a person: what failed and why. */
export function describeDbError(err: unknown): string {
  const e = err as { code?: string; message?: string; address?: string; port?: number };
  if (e.code === 'ECONNREFUSED') return `the fleet database refused the connection (${e.address ?? ''}${e.port ? `:${e.port}` : ''}): is PostgreSQL running?`;
  if (e.code === 'CONNECT_TIMEOUT') return 'connecting to the fleet database timed out';
  if (e.code === 'CONNECTION_CLOSED' || e.code === 'CONNECTION_ENDED' || e.code === 'CONNECTION_DESTROYED') return 'the connection to the fleet database was lost';
  if (e.code === '57P01' || e.code === '57P03') return 'the fleet database is shutting down or starting up';
  return `the fleet database failed: ${e.message ?? String(err)}`;
}
