/**
 * Why a start failed, as one line that names the setting to change: a port in use, a host that
 * is not this machine's, a file that cannot be opened. `causeway start` prints it (never a stack);
 * the same text reaches the primary from a worker that could not start.
 */
import { resolve } from 'node:path';
import type { Config } from './config/schema.js';
import { isWritten } from './config/load.js';
import { CertError } from './edge/tls.js';

/** A start failure attributed to one config setting (`listen.port`, `storage.path`, ...). */
export class StartupError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

/** Why a file could not be opened, by errno (SQLite's own codes included), in words. */
const FILE_REASONS: Record<string, string> = {
  ENOENT: 'its directory does not exist',
  EACCES: 'no permission to create or write it',
  EPERM: 'no permission to create or write it',
  ENOTDIR: 'a part of its path is a file, not a directory',
  EEXIST: 'a part of its path is a file, not a directory',
  EISDIR: 'it is a directory',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'its path has a symbolic-link loop',
  EMFILE: 'the process has too many open files',
  ENFILE: 'the system has too many open files',
  SQLITE_CANTOPEN: 'it is a directory, or its directory cannot be written',
  SQLITE_NOTADB: 'it is not a SQLite database',
  SQLITE_CORRUPT: 'the database file is corrupt',
  SQLITE_READONLY: 'the database file is read-only',
  SQLITE_PERM: 'no permission to write it',
  SQLITE_FULL: 'the disk is full',
  SQLITE_BUSY: 'another process holds a lock on it',
};

/**
 * Runs `open` (which opens or creates the file at `path` that `setting` names) and turns a
 * failure into a StartupError: `cannot open the call log ./data/c.db (ENOTDIR: a part of its path is a file, not a directory)`.
 */
export function opening<T>(setting: string, what: string, path: string, open: () => T): T {
  try {
    return open();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const reason = FILE_REASONS[code] ?? (err as Error).message;
    throw new StartupError(setting, `cannot open ${what} ${path} (${code}: ${reason})`);
  }
}

/** Which listener a listen failure is about, for the words and the setting. */
export type ListenerKind = 'data' | 'admin';

/**
 * A listener that could not listen, in words naming the setting: `the admin port 127.0.0.1:9901
 * is in use`. `section` is where the listener is configured: `admin`, `listen`, `listen[1]`.
 */
export function listenFailure(err: unknown, kind: ListenerKind, host: string, port: number, section: string = kind === 'data' ? 'listen' : 'admin'): StartupError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const at = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new StartupError(`${section}.port`, `the ${kind} port ${at} is in use`);
    case 'EACCES':
    case 'EPERM':
      return new StartupError(`${section}.port`, `the ${kind} port ${at} needs privileges this process lacks (ports below 1024 do); pick a port from 1024 up`);
    case 'EADDRNOTAVAIL':
      return new StartupError(`${section}.host`, `the ${kind} host ${host} is not an address of this machine`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return new StartupError(`${section}.host`, `the ${kind} host ${host} does not resolve (${code})`);
    default:
      return new StartupError(`${section}.host`, `cannot listen on ${at} for the ${kind} listener (${code || (err as Error).message})`);
  }
}

/**
 * A data listener's listen failure: which of `listen` it was (node's error carries the address),
 * named the way the file writes it (`listen.port` for one listener, `listen[1].port` in a list).
 */
export function dataListenFailure(err: unknown, config: Config): StartupError {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  const i = Math.max(0, config.listen.findIndex((l) => l.port === e.port && (e.address === undefined || l.host === e.address)));
  const l = config.listen[i]!;
  const single = isWritten(config, 'listen.port') || isWritten(config, 'listen.host') || !isWritten(config, 'listen[0]');
  return listenFailure(err, 'data', e.address ?? l.host, e.port ?? l.port, single && i === 0 ? 'listen' : `listen[${i}]`);
}

/** The config path that names a TLS file (a listener's cert, key, clientCa or extra certificate). */
function tlsSetting(config: Config, file: string): string {
  const single = !isWritten(config, 'listen[0]');
  for (const [i, l] of config.listen.entries()) {
    const at = single ? 'listen.tls' : `listen[${i}].tls`;
    const t = l.tls;
    if (!t) continue;
    if (t.cert === file) return `${at}.cert`;
    if (t.key === file) return `${at}.key`;
    if (t.clientCa === file) return `${at}.clientCa`;
    const j = t.certificates.findIndex((c) => c.cert === file || c.key === file);
    if (j >= 0) return `${at}.certificates[${j}].${t.certificates[j]!.cert === file ? 'cert' : 'key'}`;
  }
  return 'listen.tls';
}

/**
 * One line for an error that stopped a start: a StartupError ends with the setting to change
 * (`; set listen.port in ./causeway.yaml`); any other error is its message.
 */
export function startupFailure(err: unknown, file?: string, config?: Config): string {
  if (config && err instanceof CertError) err = new StartupError(tlsSetting(config, err.file), err.message);
  if (err instanceof StartupError) return `${err.message}; set ${err.setting}${file ? ` in ${file}` : ''}`;
  return (err as Error)?.message ?? String(err);
}

/** Builds what `causeway start` runs; a failure is printed as one line (startupFailure) and gives null. */
export function buildForStart<T>(make: () => T, file?: string, config?: Config): T | null {
  try {
    return make();
  } catch (err) {
    console.error(`causeway start: ${startupFailure(err, file, config)}`);
    return null;
  }
}

/** What `causeway start` prints once it listens, after "gateway listening on …": the dashboard, and the files it uses. */
export function startupLines(file: string, config: Config, adminUrl: string): Array<{ msg: string; fields: Record<string, string> }> {
  const st = config.storage;
  return [
    { msg: `admin API and dashboard on ${adminUrl}/`, fields: { admin: adminUrl } },
    { msg: `config ${file}`, fields: { config: file } },
    {
      msg: st.enabled ? `call log ${st.path === ':memory:' ? 'in memory (storage.path: ":memory:")' : resolve(st.path)}` : 'call log off (storage.enabled: false)',
      fields: { storage: st.enabled ? st.path : 'off' },
    },
  ];
}
