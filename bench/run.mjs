#!/usr/bin/env node
// `npm run bench`: the same small-GET workload, one system after another in one run, against
// the backend directly, the bare undici dispatch proxy (the floor) and Causeway with its default
// pipeline. wrk runs pinned to CPU 0, the proxy and the backend to CPU 1. Prints req/s, p50, p99
// and ratios; writes bench/results/latest.json. Options: --duration 10 --connections 50 --only causeway,floor
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const duration = Number(args.duration ?? 10);
const connections = Number(args.connections ?? 50);
const only = args.only ? new Set(args.only.split(',')) : null;
const pin = cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const onCpu = (cpu, cmd, argv) => (pin ? ['taskset', ['-c', String(cpu), cmd, ...argv]] : [cmd, argv]);

if (spawnSync('wrk', ['--version']).error) {
  console.error('bench: wrk is not installed (apt-get install wrk)');
  process.exit(1);
}

const children = [];
function start(cpu, cmd, argv, opts = {}) {
  const [c, a] = onCpu(cpu, cmd, argv);
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
  children.push(child);
  return child;
}
function firstLine(child) {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl).trim());
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before printing its port`)));
  });
}
async function waitPort(port, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} did not open`);
}
function stop(child) {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) return r();
    child.once('exit', r);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}
function freePort() {
  return new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });
}

const toMs = (v) => {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v);
  return m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : NaN;
};
function wrk(port, seconds) {
  const [c, a] = onCpu(0, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/bench`]);
  const r = spawnSync(c, a, { encoding: 'utf8' });
  const out = r.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = toMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors:.*?timeout (\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p50, p99, errors };
}

const tmp = mkdtempSync(join(tmpdir(), 'causeway-bench-'));
const results = [];
try {
  const backend = start(1, process.execPath, [join(here, 'backend.mjs')]);
  const backendPort = Number(await firstLine(backend));
  const upstream = `http://127.0.0.1:${backendPort}`;

  const systems = [
    { name: 'direct', note: 'the backend itself, no proxy', port: async () => backendPort },
    {
      name: 'floor',
      note: 'bare undici dispatch proxy (bench/floor.mjs)',
      port: async () => {
        const c = start(1, process.execPath, [join(here, 'floor.mjs'), upstream]);
        return { port: Number(await firstLine(c)), child: c };
      },
    },
    {
      name: 'causeway',
      note: 'default pipeline: access log to a file',
      port: async () => {
        const port = await freePort();
        const cfg = join(tmp, 'causeway.yaml');
        writeFileSync(cfg, `listen: { host: 127.0.0.1, port: ${port} }\nlog: { file: ${join(tmp, 'access.log')} }\nupstreams:\n  b: { targets: [{ url: "${upstream}" }] }\nroutes:\n  - { name: bench, match: { path: /* }, upstream: b }\n`);
        const c = start(1, process.execPath, [join(root, 'dist/src/cli/main.js'), 'start', '-c', cfg]);
        await waitPort(port);
        return { port, child: c };
      },
    },
  ];

  for (const sys of systems) {
    if (only && !only.has(sys.name)) continue;
    const started = await sys.port();
    const port = typeof started === 'number' ? started : started.port;
    wrk(port, 2); // warm-up: JIT and connection pools
    const r = wrk(port, duration);
    results.push({ system: sys.name, note: sys.note, ...r });
    console.error(`${sys.name.padEnd(10)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}`);
    if (typeof started !== 'number') await stop(started.child);
  }
} finally {
  await Promise.all(children.map(stop));
  rmSync(tmp, { recursive: true, force: true });
}

const base = (n) => results.find((r) => r.system === n)?.rps;
const floor = base('floor');
const direct = base('direct');
console.log(`\nsmall GET, ${connections} connections, ${duration}s each, wrk on CPU 0, proxy+backend on CPU 1${pin ? '' : ' (not pinned: taskset unavailable)'}\n`);
console.log('| system | req/s | p50 ms | p99 ms | vs direct | vs floor |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(`| ${r.system} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${direct ? (r.rps / direct).toFixed(2) : '-'} | ${floor ? (r.rps / floor).toFixed(2) : '-'} |`);
}
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'latest.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, duration, connections, pinned: pin, results }, null, 2) + '\n');
