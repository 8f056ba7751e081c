/**
 * A real PostgreSQL server for tests: `initdb` into a temporary directory and `pg_ctl` on a free
 * loopback port, its unix socket in that directory, run as the `postgres` OS user when the tests
 * run as root (the server refuses root). `stop()` and `start()` take it down and bring it back
 * on the same port and data (the outage scenarios); `destroy()` removes everything.
 * `postgresMissing()` says why tests must skip when the binaries are missing — except on CI
 * (CI=true), where a missing PostgreSQL is a failure, not a skip.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cluster.js';

/** The newest installed PostgreSQL's bin directory (Debian keeps them off PATH). */
export function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0]!, 'bin') : null;
}

export function postgresMissing(): string | null {
  if (postgresBin()) return null;
  if (process.env.CI === 'true') throw new Error('PostgreSQL is required on CI (CI=true) but /usr/lib/postgresql/*/bin/initdb is missing (apt-get install postgresql)');
  return 'PostgreSQL is not installed (apt-get install postgresql); skipping the fleet store tests';
}

export interface PostgresServer {
  /** postgres://causeway@127.0.0.1:PORT/causeway */
  url: string;
  port: number;
  dir: string;
  /** Fast shutdown (connections are cut, as when the database goes away). */
  stop(): void;
  /** Starts it again on the same port and data. */
  start(): void;
  /** Stops it and removes its directory. */
  destroy(): void;
}

const asRoot = process.getuid?.() === 0;

function run(bin: string, args: string[]): void {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
}

/** initdb + pg_ctl start; a database `causeway` owned by the trust-authenticated user `causeway`. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'causeway-pg-'));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  run(join(bin, 'initdb'), ['-D', data, '-U', 'causeway', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  const start = () => run(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-o', opts, '-w', '-t', '60', 'start']);
  const stop = () => run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
  start();
  run(join(bin, 'createdb'), ['-h', dir, '-p', String(port), '-U', 'causeway', 'causeway']);
  let running = true;
  return {
    url: `postgres://causeway@127.0.0.1:${port}/causeway`,
    port,
    dir,
    stop() {
      if (running) stop();
      running = false;
    },
    start() {
      if (!running) start();
      running = true;
    },
    destroy() {
      try {
        if (running) stop();
      } finally {
        running = false;
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
