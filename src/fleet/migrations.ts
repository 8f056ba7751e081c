/**
 * The fleet database's schema, as versioned migrations (db.ts applies the pending ones on start,
 * in order, each once). A released migration never changes: a new version is appended instead.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'consumers, credentials, subscriptions',
    // The same three tables as the SQLite file's (src/policies/consumers/sqlite-store.ts); every
    // write bumps policy_revision in its transaction, so a node's periodic check is one row.
    sql: `
CREATE TABLE policy_consumers (name text PRIMARY KEY, created bigint NOT NULL);
CREATE TABLE policy_credentials (id text PRIMARY KEY, consumer text NOT NULL, kind text NOT NULL, key_hash text, secret text, created bigint NOT NULL);
CREATE TABLE policy_subscriptions (consumer text NOT NULL, route text NOT NULL, status text NOT NULL, requested bigint NOT NULL, decided bigint, PRIMARY KEY (consumer, route));
CREATE TABLE policy_revision (id boolean PRIMARY KEY DEFAULT true CHECK (id), revision bigint NOT NULL);
INSERT INTO policy_revision (revision) VALUES (0);
`,
  },
  {
    version: 2,
    name: 'call log, partitioned by day',
    // Partitions (calls_YYYYMMDD) are created ahead of the writes and dropped whole by retention.
    sql: `
CREATE TABLE calls (
  request_id text NOT NULL,
  time bigint NOT NULL,
  node text NOT NULL,
  route text,
  upstream text,
  target text,
  consumer text,
  method text NOT NULL,
  path text NOT NULL,
  status integer NOT NULL,
  code text,
  duration real NOT NULL,
  bytes_in bigint NOT NULL,
  bytes_out bigint NOT NULL,
  client_ip text NOT NULL,
  trace_id text,
  attempts text NOT NULL
) PARTITION BY RANGE (time);
CREATE INDEX calls_request_id ON calls (request_id);
CREATE INDEX calls_time ON calls (time);
CREATE INDEX calls_route_time ON calls (route, time);
CREATE INDEX calls_node_time ON calls (node, time);
`,
  },
  {
    version: 3,
    name: 'fleet config versions and node heartbeats',
    sql: `
CREATE TABLE fleet_config (version serial PRIMARY KEY, yaml text NOT NULL, created bigint NOT NULL, source text NOT NULL, note text);
CREATE TABLE fleet_nodes (
  node text PRIMARY KEY,
  config_version integer,
  state text NOT NULL,
  error text,
  started bigint NOT NULL,
  last_seen bigint NOT NULL,
  admin text,
  listen text,
  pid integer
);
`,
  },
];
