/**
 * Config for a fleet: versions of the fleet-wide part of the config published to the database
 * (`causeway config push`, POST /api/fleet/config), and on each node an agent that applies the
 * newest version by the rules of a reload (an invalid one is never applied) and reports, every
 * heartbeat, which version it runs and in what state.
 *
 * What is published is YAML text without the per-node keys (NODE_KEYS): `${ENV}` references stay
 * references, resolved by each node from its own environment (secrets need not live in the
 * database). A node's config is its own file's per-node keys plus the published document.
 * History is linear: a rollback publishes an old version's text again as a new version.
 */
import { readFileSync } from 'node:fs';
import { parseDocument, isMap, isScalar } from 'yaml';
import { ConfigError, formatProblem, parseConfig } from '../config/load.js';
import { lintConfig } from '../config/lint.js';
import type { Config } from '../config/schema.js';
import type { EventLog } from '../observe/events.js';
import type { Sql } from './db.js';
import { describeDbError } from './db.js';

/** Keys each node keeps from the file it was started with; everything else is fleet-wide. */
export const NODE_KEYS = ['node', 'listen', 'admin', 'storage', 'workers', 'log'] as const;

export const CONFIG_CHANNEL = 'causeway_config';

export interface ConfigVersion {
  version: number;
  created: number;
  source: string;
  note: string | null;
}

export type NodeState = 'applied' | 'rejected' | 'local';

export interface NodeStatus {
  node: string;
  /** The published version the node runs; null: its own file only (nothing published yet). */
  configVersion: number | null;
  /** applied: runs configVersion; rejected: the newest version was invalid on it (error says why), it runs configVersion; local: no version published. */
  state: NodeState;
  error: string | null;
  started: number;
  lastSeen: number;
  /** lastSeen within three heartbeats. */
  up: boolean;
  admin: string | null;
  listen: string | null;
  pid: number | null;
}

/** Top-level keys of a YAML document (a non-map document has none). */
function topKeys(text: string): string[] {
  const doc = parseDocument(text);
  if (!isMap(doc.contents)) return [];
  return doc.contents.items.map((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)));
}

/** The fleet-wide part of a config document: the text without the per-node keys (comments kept). */
export function fleetPart(text: string): string {
  const doc = parseDocument(text);
  for (const k of NODE_KEYS) doc.delete(k);
  return String(doc);
}

/** A node's whole config text: its own file's per-node keys, and the published fleet-wide keys. */
export function mergeForNode(localText: string, fleetText: string): string {
  const doc = parseDocument(localText);
  const keep = new Set<string>(NODE_KEYS);
  for (const k of topKeys(localText)) if (!keep.has(k)) doc.delete(k);
  const fleet = parseDocument(fleetText);
  if (isMap(fleet.contents)) for (const p of fleet.contents.items) if (!keep.has(isScalar(p.key) ? String(p.key.value) : String(p.key))) doc.set(p.key, p.value);
  return String(doc);
}

/** Validates a config text as `causeway check` does (schema, cross references, lint errors); throws ConfigError. */
export function validateConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const config = parseConfig(text, file, env);
  const errors = lintConfig(config).filter((f) => f.severity === 'error');
  if (errors.length) throw new ConfigError(errors.map((f) => ({ file, line: 0, column: 0, path: f.path, message: `${f.message} (fix: ${f.fix})` })));
  return config;
}

/** The published versions: push, read, roll back, and the nodes' reports. */
export class FleetConfigStore {
  constructor(private readonly sql: Sql) {}

  /** Publishes the fleet-wide part of `text` (validated first: an invalid config is never published); returns its version. */
  async push(text: string, source: string, note: string | null = null, file = '<pushed config>'): Promise<number> {
    validateConfig(text, file);
    return this.publish(fleetPart(text), source, note);
  }

  private async publish(yaml: string, source: string, note: string | null): Promise<number> {
    return this.sql.begin(async (tx) => {
      const [row] = await tx<Array<{ version: number }>>`INSERT INTO fleet_config (yaml, created, source, note) VALUES (${yaml}, ${Date.now()}, ${source}, ${note}) RETURNING version`;
      await tx`SELECT pg_notify(${CONFIG_CHANNEL}, ${String(row!.version)})`;
      return row!.version;
    });
  }

  /** Publishes version `version`'s text again as the newest version. */
  async rollback(version: number, source: string): Promise<number> {
    const old = await this.get(version);
    if (!old) throw new Error(`no config version ${version} in the fleet database`);
    return this.publish(old.yaml, source, `rollback to version ${version}`);
  }

  async latest(): Promise<(ConfigVersion & { yaml: string }) | null> {
    const [row] = await this.sql<Array<ConfigVersion & { yaml: string }>>`SELECT version, yaml, created, source, note FROM fleet_config ORDER BY version DESC LIMIT 1`;
    return row ?? null;
  }

  async get(version: number): Promise<(ConfigVersion & { yaml: string }) | null> {
    const [row] = await this.sql<Array<ConfigVersion & { yaml: string }>>`SELECT version, yaml, created, source, note FROM fleet_config WHERE version = ${version}`;
    return row ?? null;
  }

  /** Newest first. */
  history(limit = 50): Promise<ConfigVersion[]> {
    return this.sql<ConfigVersion[]>`SELECT version, created, source, note FROM fleet_config ORDER BY version DESC LIMIT ${limit}`;
  }

  /** Every node that ever reported, with `up` from its last heartbeat. */
  async nodes(heartbeatMs = HEARTBEAT_MS, now = Date.now()): Promise<NodeStatus[]> {
    const rows = await this.sql<Array<Omit<NodeStatus, 'up'>>>`SELECT node, config_version AS "configVersion", state, error, started, last_seen AS "lastSeen", admin, listen, pid FROM fleet_nodes ORDER BY node`;
    return rows.map((r) => ({ ...r, up: now - r.lastSeen <= 3 * heartbeatMs }));
  }
}

export const HEARTBEAT_MS = 2000;

export interface FleetNodeOptions {
  node: string;
  /** The file the node was started with (its per-node keys). */
  file: string;
  heartbeatMs?: number;
}

/**
 * One node's agent: applies each newly published version (LISTEN, and a check every heartbeat as
 * a safety net), and writes its heartbeat. While the database is unreachable the node keeps the
 * config it runs; its heartbeat stops, so the others see it as not up.
 */
export class FleetNode {
  version: number | null = null;
  state: NodeState = 'local';
  error: string | null = null;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private checking: Promise<void> | null = null;
  /** The newest version seen (applied or rejected): not tried again. */
  private seen = 0;
  /** The published text of the version applied (a reload of the node's own file merges it again). */
  private appliedYaml: string | null = null;
  /** Applies a validated config (the gateway's reload); set once the gateway exists. */
  apply: ((config: Config) => void) | null = null;
  events: EventLog | null = null;
  /** Where the node's admin API and listener are, for the fleet's view. */
  addresses: (() => { admin: string | null; listen: string | null }) | null = null;

  constructor(
    private readonly store: FleetConfigStore,
    private readonly sql: Sql,
    private readonly opts: FleetNodeOptions,
  ) {}

  /**
   * The config to start with: the node's file merged with the newest published version, or the
   * file alone when nothing is published or the newest version is invalid here (then `state` is
   * rejected and `error` says why).
   */
  async initial(local: Config): Promise<Config> {
    const latest = await this.store.latest();
    if (!latest) return local;
    return this.build(latest) ?? local;
  }

  /** Merges and validates a version; on success records it as applied and returns the config, else records why not. */
  private build(v: { version: number; yaml: string }): Config | null {
    this.seen = Math.max(this.seen, v.version);
    try {
      const config = validateConfig(mergeForNode(readFileSync(this.opts.file, 'utf8'), v.yaml), `fleet config version ${v.version} + ${this.opts.file}`);
      this.version = v.version;
      this.appliedYaml = v.yaml;
      this.state = 'applied';
      this.error = null;
      return config;
    } catch (err) {
      this.state = 'rejected';
      this.error = err instanceof ConfigError ? err.message : (err as Error).message;
      this.events?.publish({ type: 'config.reload-failed', reason: `fleet config version ${v.version} is invalid on this node; it keeps ${this.version === null ? 'its own file' : `version ${this.version}`}: ${this.error}` });
      return null;
    }
  }

  async start(): Promise<void> {
    const listening = await this.sql.listen(CONFIG_CHANNEL, () => void this.check(), () => void this.check());
    this.unlisten = listening.unlisten;
    await this.beat();
    this.timer = setInterval(() => void this.beat().then(() => this.check()), this.opts.heartbeatMs ?? HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Applies the newest version if it is newer than what this node has seen. */
  check(): Promise<void> {
    this.checking ??= (async () => {
      try {
        const latest = await this.store.latest();
        if (!latest || latest.version <= this.seen) return;
        const config = this.build(latest);
        if (config) this.apply?.(config);
        await this.beat();
      } catch {
        // The database is unreachable: the node keeps what it runs; the next heartbeat tries again.
      } finally {
        this.checking = null;
      }
    })();
    return this.checking;
  }

  /**
   * The node's config after its own file changed (SIGHUP, POST /api/config/reload): the file's
   * per-node keys with the published version it runs; the file alone when it runs none.
   */
  readLocal(file: string): { ok: true; config: Config; findings: ReturnType<typeof lintConfig> } | { ok: false; problems: ConfigError['problems']; lines: string[] } {
    try {
      const text = readFileSync(file, 'utf8');
      const config = validateConfig(this.appliedYaml === null ? text : mergeForNode(text, this.appliedYaml), this.appliedYaml === null ? file : `fleet config version ${this.version} + ${file}`);
      return { ok: true, config, findings: lintConfig(config) };
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [{ file, line: 0, column: 0, path: '', message: (err as Error).message }];
      return { ok: false, problems, lines: problems.map(formatProblem) };
    }
  }

  /** Writes this node's row: version, state, when. */
  async beat(): Promise<void> {
    const a = this.addresses?.() ?? { admin: null, listen: null };
    try {
      await this.sql`INSERT INTO fleet_nodes (node, config_version, state, error, started, last_seen, admin, listen, pid)
        VALUES (${this.opts.node}, ${this.version}, ${this.state}, ${this.error}, ${this.started}, ${Date.now()}, ${a.admin}, ${a.listen}, ${process.pid})
        ON CONFLICT (node) DO UPDATE SET config_version = excluded.config_version, state = excluded.state, error = excluded.error, started = excluded.started,
          last_seen = excluded.last_seen, admin = excluded.admin, listen = excluded.listen, pid = excluded.pid`;
      this.lastError = null;
    } catch (err) {
      this.lastError = describeDbError(err);
    }
  }

  /** Why the last heartbeat failed, if it did. */
  lastError: string | null = null;

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.unlisten?.().catch(() => undefined);
  }
}
