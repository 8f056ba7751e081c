/**
 * Where `causeway explain` finds a call (and `causeway doctor` a config): the call log file a config names (its relative path
 * taken against the config file's directory, as the gateway opens it), or a running gateway's
 * admin API — the one the config names, or the default address the demo and `causeway start`
 * use when no config is at hand.
 *
 *   const src = callSource({ db, admin, token, config });   // decides, without I/O beyond reading the config
 *   const e = await findCall(src, requestId);                 // the explanation, or a reason it is not there
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { CallRecord } from '../observe/call-record.js';
import { openCallStore } from '../observe/store.js';
import { PgCallStore } from '../observe/store-pg.js';
import { connect, describeDbError } from '../fleet/db.js';
import { explainCall, type Explanation } from './explain.js';

export const DEFAULT_ADMIN = 'http://127.0.0.1:9901';

export type CallSource =
  | { kind: 'file'; path: string; admin: { url: string; token?: string | undefined } | null }
  | { kind: 'admin'; url: string; token?: string | undefined }
  /** A fleet: the call log in PostgreSQL (storage.url), whichever node served the call. */
  | { kind: 'fleet'; url: string; admin: { url: string; token?: string | undefined } | null };

/** A path from a config file, as the gateway opens it: relative to the config file's directory. */
export function configRelative(configFile: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(configFile), path);
}

/** The admin base URL a config's gateway serves (a wildcard bind is reached on loopback). */
export function adminUrlOf(admin: { host: string; port: number } | undefined): string {
  if (!admin) return DEFAULT_ADMIN;
  const host = admin.host === '0.0.0.0' ? '127.0.0.1' : admin.host === '::' ? '::1' : admin.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${admin.port}`;
}

export interface SourceOptions {
  db?: string | undefined;
  admin?: string | undefined;
  token?: string | undefined;
  /** The config file (already resolved); used when it exists. */
  config: string;
  /** The config was named explicitly (-c or $CAUSEWAY_CONFIG): a missing file is an error then. */
  configGiven: boolean;
}

/** Decides where to look. Throws the config loader's ConfigError for a broken config. */
export function callSource(o: SourceOptions): CallSource {
  const token = o.token ?? process.env['CAUSEWAY_ADMIN_TOKEN'];
  if (o.db) return { kind: 'file', path: resolve(o.db), admin: null };
  if (o.admin) return { kind: 'admin', url: o.admin.replace(/\/+$/, ''), token };
  if (!o.configGiven && !existsSync(o.config)) return { kind: 'admin', url: DEFAULT_ADMIN, token };
  const cfg = loadConfigFile(o.config);
  const admin = { url: adminUrlOf(cfg.admin), token: token ?? cfg.admin?.token };
  if (cfg.storage.url) return { kind: 'fleet', url: cfg.storage.url, admin };
  if (!cfg.storage.enabled || cfg.storage.path === ':memory:') return { kind: 'admin', ...admin };
  return { kind: 'file', path: configRelative(o.config, cfg.storage.path), admin };
}

export type Found = { ok: true; explanation: Explanation; from: string } | { ok: false; reason: string };

async function fromAdmin(url: string, token: string | undefined, id: string): Promise<Found> {
  const where = `the gateway's admin API at ${url}`;
  let res: Response;
  try {
    res = await fetch(`${url}/api/calls/${encodeURIComponent(id)}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    return { ok: false, reason: `${where} did not answer (${cause}): is the gateway running? Give its admin address with --admin URL, a config with -c, or a call log file with --db` };
  }
  const body = (await res.json().catch(() => null)) as { call?: CallRecord; explanation?: Omit<Explanation, 'call'>; error?: { message?: string } } | null;
  if (res.status === 200 && body?.call && body.explanation) return { ok: true, explanation: { ...body.explanation, call: body.call }, from: where };
  return { ok: false, reason: `${where} answered ${res.status}: ${body?.error?.message ?? 'no explanation'}${res.status === 401 ? ' (give the admin token with --token or $CAUSEWAY_ADMIN_TOKEN)' : ''}` };
}

/** Looks the call up where `src` says; a call log file that lacks it falls back to the config's running gateway. */
export async function findCall(src: CallSource, id: string): Promise<Found> {
  if (src.kind === 'admin') return fromAdmin(src.url, src.token, id);
  let reason: string;
  if (src.kind === 'fleet') {
    const sql = connect(src.url, { max: 1 });
    const store = PgCallStore.reader(sql);
    const where = "the fleet's call log (storage.url)";
    try {
      const e = await explainCall(store, id);
      if (e) return { ok: true, explanation: e, from: where };
      reason = `no call ${id} in ${where} (calls are written within 200 ms; older ones may be pruned by storage.retention)`;
    } catch (err) {
      reason = `${where}: ${describeDbError(err)}`;
    } finally {
      await store.close();
      await sql.end({ timeout: 1 });
    }
  } else if (!existsSync(src.path)) reason = `no call log at ${src.path} (has the gateway run with this config?)`;
  else {
    const store = openCallStore({ path: src.path, readonly: true });
    try {
      const e = await explainCall(store, id);
      if (e) return { ok: true, explanation: e, from: src.path };
      reason = `no call ${id} in ${src.path} (calls are written within 200 ms; older ones may be pruned by storage.retention)`;
    } finally {
      await store.close();
    }
  }
  if (!src.admin) return { ok: false, reason };
  const viaAdmin = await fromAdmin(src.admin.url, src.admin.token, id);
  return viaAdmin.ok ? viaAdmin : { ok: false, reason: `${reason}; ${viaAdmin.reason}` };
}

/** The config a running gateway uses (GET /api/config: parsed, secrets masked), for doctor without a config file. */
export async function fetchRunningConfig(url: string, token: string | undefined): Promise<{ ok: true; config: Config } | { ok: false; reason: string }> {
  const where = `the gateway's admin API at ${url}`;
  try {
    const res = await fetch(`${url}/api/config`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5000) });
    const body = (await res.json().catch(() => null)) as { config?: Config } | null;
    if (res.status === 200 && body?.config) return { ok: true, config: body.config };
    return { ok: false, reason: `${where} answered ${res.status}${res.status === 401 ? ' (give the admin token with --token or $CAUSEWAY_ADMIN_TOKEN)' : ''}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    return { ok: false, reason: `no config file, and ${where} did not answer (${cause}): give a config with -c, or a running gateway's admin address with --admin URL` };
  }
}
