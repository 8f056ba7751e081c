// Shared helpers of the bench scripts: child processes that are always cleaned up (process groups,
// also on Ctrl-C), CPU pinning, wrk, ports, and the configs of Causeway, nginx and HAProxy.
// Loopback addresses only.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..');
export const causewayMain = join(root, 'dist/src/cli/main.js');

/** `--key value` and `--flag` arguments. */
export function parseArgs(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[a.slice(2)] = true;
    else {
      out[a.slice(2)] = next;
      i++;
    }
  }
  return out;
}

export const pinned = cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
export const has = (cmd, args = ['-v']) => !spawnSync(cmd, args, { stdio: 'ignore' }).error;

// ---- children and cleanup -------------------------------------------------------------------
const children = new Set();
const cleanups = [];
/** Runs `fn` at exit, on failure and on Ctrl-C (last registered first). */
export function onCleanup(fn) {
  cleanups.push(fn);
}
function killGroup(child, sig) {
  try {
    process.kill(-child.pid, sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      /* gone */
    }
  }
}
let cleaning = null;
export function cleanup() {
  cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stop(c)));
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error('cleanup:', err.message);
      }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (children.size || cleanups.length) console.error(`\n${sig}: stopping every child and cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}
process.on('exit', () => {
  for (const c of children) killGroup(c, 'SIGKILL');
});

/**
 * Starts a command in its own process group (so nginx workers and wrappers die with it),
 * optionally pinned to a CPU. stdout is piped (the first line is usually a port); stderr inherits
 * unless `quiet`.
 */
export function start(cmd, argv, { cpu, quiet = false, env, nofile } = {}) {
  let c = cmd;
  let a = argv;
  if (nofile) [c, a] = ['sh', ['-c', `ulimit -n ${nofile} 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$0" "$@"`, c, ...a]];
  if (cpu !== undefined && pinned) [c, a] = ['taskset', ['-c', String(cpu), c, ...a]];
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', quiet ? 'ignore' : 'inherit'], detached: true, env: env ? { ...process.env, ...env } : process.env });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
export function stop(child, graceMs = 5000) {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) return r();
    const t = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      killGroup(child, 'SIGKILL'); // leftovers of the group
      r();
    });
    killGroup(child, 'SIGTERM');
  });
}
export function firstLine(child, ms = 15_000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('no output in time')), ms);
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve(buf.slice(0, nl).trim());
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`exited with ${code} before printing its port`));
    });
  });
}
/** Collects a child's whole stdout. */
export function output(child) {
  return new Promise((resolve) => {
    let buf = '';
    child.stdout.on('data', (d) => (buf += d));
    child.once('exit', (code) => resolve({ code, out: buf }));
  });
}
export async function waitPort(port, ms = 10_000, host = '127.0.0.1') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, host, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`port ${port} did not open`);
}
export function freePort() {
  return new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- wrk ------------------------------------------------------------------------------------
const toMs = (v) => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v);
  return m ? Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 })[m[2]] : NaN;
};
/** wrk on CPU 0 against a loopback port; resolves with req/s, p50, p99 (ms) and errors. */
export async function wrk(port, seconds, connections = 50, path = '/bench', headers = []) {
  const h = headers.flatMap((x) => ['-H', x]);
  const child = start('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '--latency', ...h, `http://127.0.0.1:${port}${path}`], { cpu: 0 });
  const { out } = await output(child);
  const n = (re) => Number(re.exec(out)?.[1] ?? 0);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: toMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    p99: toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    requests: n(/(\d+) requests in/),
    non2xx: n(/Non-2xx or 3xx responses:\s+(\d+)/),
    socketErrors: n(/Socket errors: connect (\d+)/) + n(/Socket errors:.*read (\d+)/) + n(/Socket errors:.*write (\d+)/) + n(/Socket errors:.*timeout (\d+)/),
  };
}

// ---- process probes -------------------------------------------------------------------------
export function procStats(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    let fds = 0;
    let sockets = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      fds++;
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
      } catch {
        /* closed meanwhile */
      }
    }
    return { rssMb: rssKb / 1024, fds, sockets };
  } catch {
    return null;
  }
}

// ---- configs --------------------------------------------------------------------------------
export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Does this build of Causeway accept the config? (feature detection for keys being added.) */
export function causewayAccepts(dir, yaml) {
  const f = join(dir, `probe-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, yaml);
  const r = spawnSync(process.execPath, [causewayMain, 'check', '-c', f], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * nginx in the foreground with every path in `dir`. `upstreamBlock`/`locationExtra` carry the
 * scenario-specific parts; worker_processes 1 matches one Node process.
 */
export function nginxConfig(dir, { port, servers, upstreamExtra = '', serverExtra = '', locationExtra = '', workers = 1, accessLog = true }) {
  const conf = `# generated by bench/lib.mjs
worker_processes ${workers};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 8000; }
http {
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  ${accessLog ? `access_log ${dir}/nginx-access.log combined buffer=64k flush=1s;` : 'access_log off;'}
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  upstream b {
${servers.map((s) => `    server ${s};`).join('\n')}
    keepalive 128;
    keepalive_requests 1000000;
    ${upstreamExtra}
  }
  server {
    listen 127.0.0.1:${port} reuseport;
    ${serverExtra}
    location / {
      proxy_pass http://b;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${locationExtra}
    }
  }
}
`;
  const f = join(dir, `nginx-${port}.conf`);
  writeFileSync(f, conf);
  return { cmd: '/usr/sbin/nginx', argv: ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', f], file: f };
}

/** HAProxy in the foreground (-db), one thread to match one Node process. */
export function haproxyConfig(dir, { port, servers, backendExtra = '', serverOpts = '', defaultsExtra = '', threads = 1 }) {
  const conf = `# generated by bench/lib.mjs
global
  nbthread ${threads}
  maxconn 8000
  pidfile ${dir}/haproxy-${port}.pid
defaults
  mode http
  option http-keep-alive
  timeout connect 1s
  timeout client 60s
  timeout server 30s
  timeout http-keep-alive 60s
  ${defaultsExtra}
frontend f
  bind 127.0.0.1:${port}
  default_backend b
backend b
  http-reuse safe
  ${backendExtra}
${servers.map((s, i) => `  server s${i + 1} ${s} ${serverOpts}`).join('\n')}
`;
  const f = join(dir, `haproxy-${port}.cfg`);
  writeFileSync(f, conf);
  return { cmd: '/usr/sbin/haproxy', argv: ['-db', '-f', f], file: f };
}

export const hasNginx = () => existsSync('/usr/sbin/nginx') || has('nginx');
export const hasHaproxy = () => existsSync('/usr/sbin/haproxy') || has('haproxy');
export const haveWrk = () => has('wrk', ['--version']);
