/**
 * `causeway start` as a user runs it, with `workers:` — a real primary and real worker
 * processes on loopback ports picked free for the test (with node:cluster every worker binds the
 * same port, so it is chosen up front). The log (log.file, or standard output) is read back as
 * JSON lines: the primary's lifecycle lines say which worker has which process id, the access
 * log says which worker served which call.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BIN = join(process.cwd(), 'dist/src/cli/main.js');

export type LogLine = Record<string, unknown> & { msg?: string; kind?: string; worker?: number };

export interface TestCluster {
  child: ChildProcess;
  /** The primary's process id. */
  pid: number;
  port: number;
  url: string;
  adminUrl: string;
  dir: string;
  file: string;
  /** log.file, or null when the log goes to standard output. */
  logFile: string | null;
  stdout(): string;
  stderr(): string;
  /** Every complete log line so far, parsed (throws on a line that is not JSON: an interleaved write). */
  lines(): LogLine[];
  /** Resolves with the first log line (from `from` on) that matches. */
  waitFor(match: (l: LogLine) => boolean, ms?: number, from?: number): Promise<LogLine>;
  /** Worker number → process id of its latest incarnation (from the primary's "ready" lines). */
  pids(): Map<number, number>;
  /** The access-log lines. */
  access(): LogLine[];
  /** Resolves with the primary's exit code. */
  exited: Promise<number | null>;
  /** Sends `signal` to the primary and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Kills whatever is left and removes the directory. */
  cleanup(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ClusterOptions {
  workers?: number | 'auto';
  /** Log to a file (default) or to standard output. */
  logFile?: boolean;
  /** Lines added at the top of the config (storage, admin token...). */
  extra?: string;
  /** Wait for this log message before resolving (default: the primary's "N workers serving"). */
  readyMessage?: RegExp;
}

/** Starts `causeway start -c FILE` with `body` (upstreams, routes...) under listen/admin/storage/log/workers set here. */
export async function startCluster(body: string, opts: ClusterOptions = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'causeway-workers-'));
  const port = await freePort();
  const adminPort = await freePort();
  const logFile = opts.logFile === false ? null : join(dir, 'causeway.log');
  const file = join(dir, 'causeway.yaml');
  writeFileSync(
    file,
    `listen: { host: 127.0.0.1, port: ${port} }\nadmin: { host: 127.0.0.1, port: ${adminPort} }\nworkers: ${opts.workers ?? 2}\n` +
      `storage: { path: ${join(dir, 'causeway.db')} }\n${logFile ? `log: { file: ${logFile} }\n` : ''}${opts.extra ?? ''}${body}`,
  );
  const child = spawn(process.execPath, [BIN, 'start', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const text = () => (logFile ? (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '') : out);
  const lines = (): LogLine[] => {
    const t = text();
    const complete = t.slice(0, t.lastIndexOf('\n') + 1);
    return complete
      .split('\n')
      .filter(Boolean)
      .map((l, i) => {
        try {
          return JSON.parse(l) as LogLine;
        } catch {
          throw new Error(`log line ${i + 1} is not JSON (an interleaved write?): ${l.slice(0, 300)}`);
        }
      });
  };
  let gone = false;
  void exited.then(() => (gone = true));
  const c: TestCluster = {
    child,
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    dir,
    file,
    logFile,
    stdout: () => out,
    stderr: () => err,
    lines,
    async waitFor(match, ms = 20_000, from = 0) {
      const end = Date.now() + ms;
      for (;;) {
        const hit = lines().slice(from).find(match);
        if (hit) return hit;
        if (gone) throw new Error(`causeway exited before the expected log line\nstderr: ${err}`);
        if (Date.now() > end) throw new Error(`no matching log line within ${ms} ms\nstderr: ${err}\nlog tail: ${text().slice(-2000)}`);
        await sleep(50);
      }
    },
    pids() {
      const m = new Map<number, number>();
      for (const l of lines()) if (l.role === 'primary' && typeof l.msg === 'string' && / ready/.test(l.msg) && typeof l.worker === 'number') m.set(l.worker, l.pid as number);
      return m;
    },
    access: () => lines().filter((l) => l.kind === 'access'),
    exited,
    async stop(signal = 'SIGTERM') {
      if (!gone) child.kill(signal);
      return exited;
    },
    async cleanup() {
      let workers: number[] = [];
      try {
        workers = [...c.pids().values()];
      } catch {
        /* an unreadable log: nothing to add */
      }
      if (!gone) {
        // Gracefully first (workers drain and exit with the primary), then by force.
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      // No worker may outlive a test: it would hold this process's pipes open.
      for (const pid of workers) {
        try {
          // Only if that process id is still one of this cluster's workers.
          if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(file)) process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await c.waitFor((l) => typeof l.msg === 'string' && (opts.readyMessage ?? /workers serving on/).test(l.msg));
  } catch (e) {
    await c.cleanup();
    throw e;
  }
  return c;
}

/** The access-log lines of calls whose path starts with `prefix`, by worker number. */
export function byWorker(lines: LogLine[], prefix: string): Map<number, LogLine[]> {
  const m = new Map<number, LogLine[]>();
  for (const l of lines) {
    if (typeof l.path !== 'string' || !l.path.startsWith(prefix)) continue;
    const w = l.worker as number;
    m.set(w, [...(m.get(w) ?? []), l]);
  }
  return m;
}
