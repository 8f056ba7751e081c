/**
 * A node of a fleet (`storage.url`): the database connection and what lives there — consumers
 * (policies/consumers/pg-store.ts), the call log (observe/store-pg.ts), the published config and
 * the nodes' heartbeats (config.ts). `causeway start` opens it before building the gateway, which
 * then uses these stores in place of the SQLite file (docs/fleet.md).
 */
import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import { PgCallStore } from '../observe/store-pg.js';
import { PgConsumerStore } from '../policies/consumers/pg-store.js';
import { FleetConfigStore, FleetNode } from './config.js';
import { connect, migrate, type Sql } from './db.js';

export interface Fleet {
  sql: Sql;
  node: string;
  consumers: PgConsumerStore;
  calls: PgCallStore;
  config: FleetConfigStore;
  /** This node's config agent: applies published versions, writes the heartbeat. */
  agent: FleetNode;
  close(): Promise<void>;
}

/** This node's id: `node:` from the config, else the host name and the (first) listen port. */
export function nodeId(config: Config): string {
  if (config.node) return config.node;
  const listen = config.listen as unknown as { port: number } | Array<{ port: number }>;
  return `${hostname()}:${Array.isArray(listen) ? (listen[0]?.port ?? 0) : listen.port}`;
}

export interface OpenFleetOptions {
  /** The file the node was started with: its per-node keys (listen, admin, storage, workers, log, node). */
  file: string;
  heartbeatMs?: number;
  /** Consumers: the safety-net poll (ms). */
  checkMs?: number;
  /** The call log's writer: how long a call may wait before its batch is sent (ms). */
  flushMs?: number;
}

/** Connects, migrates (several nodes may start at once), reads the consumers and prepares the call log. Fails when the database is unreachable. */
export async function openFleet(config: Config, opts: OpenFleetOptions): Promise<Fleet> {
  const url = config.storage.url;
  if (!url) throw new Error('storage.url is not set');
  const sql = connect(url, { max: 6 });
  try {
    await migrate(sql);
    const node = nodeId(config);
    const consumers = await PgConsumerStore.open(sql, { checkMs: opts.checkMs });
    const calls = await PgCallStore.open(sql, { node, maxAgeMs: config.storage.retention.maxAge, maxBuffered: config.storage.buffer, flushMs: opts.flushMs });
    const store = new FleetConfigStore(sql);
    const agent = new FleetNode(store, sql, { node, file: opts.file, heartbeatMs: opts.heartbeatMs });
    return {
      sql,
      node,
      consumers,
      calls,
      config: store,
      agent,
      async close() {
        await agent.stop();
        await calls.close();
        await consumers.close();
        await sql.end({ timeout: 2 });
      },
    };
  } catch (err) {
    await sql.end({ timeout: 0 });
    throw err;
  }
}
