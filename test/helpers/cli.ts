/**
 * The `causeway` command as a user runs it, in a child process. `startCli` runs `causeway start`
 * on a config whose listeners bind port 0, and learns the bound addresses from the startup lines
 * it prints (never a port picked in advance, which another process may take first).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(process.cwd(), 'dist/src/cli/main.js');

/** Runs the command to its end. */
export function runCli(args: string[], opts: { cwd?: string; timeout?: number } = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: opts.timeout ?? 30_000, cwd: opts.cwd });
}

export interface RunningCli {
  child: ChildProcess;
  /** The data plane, `http://127.0.0.1:<port>`. */
  url: string;
  /** The admin API and dashboard. */
  adminUrl: string;
  /** Standard output so far, one parsed JSON object per log line (other lines as { text }). */
  lines: Array<Record<string, unknown>>;
  stderr(): string;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
}

/**
 * `causeway start -c file` (single process): resolves once it printed both listen addresses,
 * within `ms`; rejects with its output when it exits first.
 */
export function startCli(file: string, opts: { ms?: number; cwd?: string } = {}): Promise<RunningCli> {
  const child = spawn(process.execPath, [BIN, 'start', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
  const lines: Array<Record<string, unknown>> = [];
  let err = '';
  let tail = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    let url = '';
    let adminUrl = '';
    let done = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`causeway start printed no listen addresses within ${opts.ms ?? 15_000} ms:\n${JSON.stringify(lines)}\n${err}`));
    }, opts.ms ?? 15_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`causeway start exited with ${code} before listening:\n${err}`));
    };
    child.once('exit', onExit);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const parts = (tail + d).split('\n');
      tail = parts.pop()!;
      for (const l of parts) {
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(l) as Record<string, unknown>;
        } catch {
          o = { text: l };
        }
        lines.push(o);
        const msg = String(o['msg'] ?? '');
        url ||= /^gateway listening on (\S+)/.exec(msg)?.[1] ?? '';
        adminUrl ||= typeof o['admin'] === 'string' ? (o['admin'] as string) : '';
      }
      if (url && adminUrl && !done) {
        done = true;
        clearTimeout(timer);
        child.removeListener('exit', onExit);
        resolve({
          child,
          url,
          adminUrl,
          lines,
          stderr: () => err,
          stop: () =>
            new Promise((r) => {
              if (child.exitCode !== null) return r(child.exitCode);
              child.once('exit', (code) => r(code));
              child.kill('SIGTERM');
            }),
        });
      }
    });
  });
}
