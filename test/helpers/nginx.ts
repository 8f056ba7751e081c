/**
 * A real nginx as a backend: 127.0.0.1 on a free port, in the foreground, its files in a temp
 * directory. It decodes and normalises request paths the way stock nginx does (%2F to /, dot
 * segments, merged slashes), which is what makes a path the gateway forwards unchanged dangerous.
 * `nginxMissing()` says why tests must skip without the binary — except on CI (CI=true).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cluster.js';

const BIN = ['/usr/sbin/nginx', 'nginx'].find((b) => !spawnSync(b, ['-v'], { stdio: 'ignore' }).error);

export function nginxMissing(): string | null {
  if (BIN) return null;
  if (process.env.CI === 'true') throw new Error('nginx is required on CI (CI=true) but is not installed');
  return 'nginx is not installed (apt-get install nginx); skipping the tests against a stock nginx backend';
}

export interface Nginx {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts nginx with `servers` (server blocks; `PORT` in them is replaced by the port). */
export async function startNginx(servers: string): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'causeway-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t};`).join(' ');
  writeFileSync(
    conf,
    `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents { worker_connections 256; }\n` +
      `http {\n  access_log off;\n  ${temp}\n  default_type text/plain;\n${servers.replaceAll('PORT', String(port))}\n}\n`,
  );
  const child: ChildProcess = spawn(BIN!, ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const end = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > end) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
