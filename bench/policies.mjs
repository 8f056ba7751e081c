#!/usr/bin/env node
// The throughput cost of each policy: the same small GET through Causeway with one policy on,
// against the same route with none, in one run. wrk on CPU 0, gateway and backend on CPU 1 (as
// bench/run.mjs). HMAC is not measured: every signed request needs a fresh nonce, which plain
// wrk cannot make. Options: --duration 5 --connections 50
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const duration = Number(args.duration ?? 5);
const connections = Number(args.connections ?? 50);
const pin = cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const onCpu = (cpu, cmd, argv) => (pin ? ['taskset', ['-c', String(cpu), cmd, ...argv]] : [cmd, argv]);
const KEY = 'bench-key-0123456789abcdef';

const variants = [
  { name: 'none', route: '' },
  { name: 'auth: [key]', route: 'auth: [key]', headers: [`X-API-Key: ${KEY}`] },
  { name: 'auth + subscription', route: 'auth: [key], subscription: required', headers: [`X-API-Key: ${KEY}`] },
  { name: 'rateLimit (local, never hit)', route: 'rateLimit: { requests: 1000000000, per: 1s, by: ip }' },
  { name: 'cache (every call a HIT)', route: 'cache: { ttl: 1h }' },
  { name: 'cache (every call a MISS)', route: 'cache: { ttl: 1h }', headers: ['Cache-Control: no-cache'] },
  { name: 'faults (header-gated, not sent)', route: 'faults: { abort: { status: 503 }, header: x-chaos }' },
  // The same as the first: the spread between the two is the noise of the run.
  { name: 'none (again)', route: '' },
];

const children = [];
function start(cpu, cmd, argv) {
  const [c, a] = onCpu(cpu, cmd, argv);
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}
const firstLine = (child) =>
  new Promise((resolve) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')).trim());
    });
  });
const freePort = () => new Promise((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
async function waitPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => { const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true))); s.on('error', () => r(false)); });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} did not open`);
}
const stop = (child) => new Promise((r) => { if (child.exitCode !== null) return r(); child.once('exit', r); child.kill('SIGTERM'); setTimeout(() => child.kill('SIGKILL'), 5000).unref(); });
function wrk(port, seconds, headers = []) {
  const [c, a] = onCpu(0, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, ...headers.flatMap((h) => ['-H', h]), `http://127.0.0.1:${port}/bench`]);
  const out = spawnSync(c, a, { encoding: 'utf8' }).stdout;
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), non2xx };
}

const tmp = mkdtempSync(join(tmpdir(), 'causeway-bench-policies-'));
const results = [];
try {
  const backend = start(1, process.execPath, [join(here, 'backend.mjs')]);
  const upstream = `http://127.0.0.1:${Number(await firstLine(backend))}`;
  for (const v of variants) {
    const port = await freePort();
    const cfg = join(tmp, 'gw.yaml');
    writeFileSync(cfg, `listen: { host: 127.0.0.1, port: ${port} }
log: { access: false }
storage: { enabled: false }
consumers: [{ name: bench, keys: [${KEY}], subscriptions: [bench] }]
upstreams:
  b: { targets: [{ url: "${upstream}" }] }
routes:
  - { name: bench, match: { path: /* }, upstream: b${v.route ? `, ${v.route}` : ''} }
`);
    const gw = start(1, process.execPath, [join(root, 'dist/src/cli/main.js'), 'start', '-c', cfg]);
    await waitPort(port);
    wrk(port, 2, v.headers);
    const r = wrk(port, duration, v.headers);
    results.push({ variant: v.name, ...r });
    console.error(`${v.name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} req/s  non-2xx ${r.non2xx}`);
    await stop(gw);
  }
} finally {
  await Promise.all(children.map(stop));
  rmSync(tmp, { recursive: true, force: true });
}
const base = results[0].rps;
console.log(`\nsmall GET, ${connections} connections, ${duration}s each, wrk on CPU 0, gateway+backend on CPU 1${pin ? '' : ' (not pinned)'}\n`);
console.log('| policy | req/s | vs none |');
console.log('|---|---:|---:|');
for (const r of results) console.log(`| ${r.variant} | ${r.rps.toFixed(0)} | ${r === results[0] ? '—' : `${(((r.rps - base) / base) * 100).toFixed(1)}%`} |`);
