#!/usr/bin/env node
// Gateway throughput with the SQLite call log on and off, in one run: the same small GET through
// two Causeway processes that differ only in `storage.enabled` (access log off in both, so the
// call log is the only difference). wrk on CPU 0; gateway and backend on CPU 1. Rounds are
// interleaved (on, off, off, on, ...) and the median is reported. Needs `npm run build` and wrk.
// Options: --duration 10 --rounds 3 --connections 50
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const duration = Number(args.duration ?? 10);
const rounds = Number(args.rounds ?? 3);
const connections = Number(args.connections ?? 50);
const pinned = cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const onCpu = (cpu, cmd, argv) => (pinned ? ['taskset', ['-c', String(cpu), cmd, ...argv]] : [cmd, argv]);
if (spawnSync('wrk', ['--version']).error) {
  console.error('bench: wrk is not installed');
  process.exit(1);
}

const children = [];
const start = (cpu, cmd, argv) => {
  const [c, a] = onCpu(cpu, cmd, argv);
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
};
const firstLine = (child) =>
  new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')).trim());
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
  });
const freePort = () =>
  new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });
async function waitPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} did not open`);
}
const toMs = (v) => {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v ?? '');
  return m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : NaN;
};
function wrk(port, seconds) {
  const [c, a] = onCpu(0, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/bench`]);
  const out = spawnSync(c, a, { encoding: 'utf8' }).stdout;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: toMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1]),
    p99: toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
    errors: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
  };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const tmp = mkdtempSync(join(tmpdir(), 'causeway-calllog-bench-'));
try {
  const backendPort = Number(await firstLine(start(1, process.execPath, [join(here, 'backend.mjs')])));
  const variants = {};
  for (const [name, storage] of [
    ['call log on', `storage: { path: ${join(tmp, 'calls.db')} }`],
    ['call log off', 'storage: { enabled: false }'],
  ]) {
    const port = await freePort();
    const adminPort = await freePort();
    const cfg = join(tmp, `${name.replace(/ /g, '-')}.yaml`);
    writeFileSync(cfg, `listen: { host: 127.0.0.1, port: ${port} }\nadmin: { host: 127.0.0.1, port: ${adminPort} }\nlog: { access: false, level: warn }\n${storage}\nupstreams:\n  b: { targets: [{ url: "http://127.0.0.1:${backendPort}" }] }\nroutes:\n  - { name: bench, match: { path: /* }, upstream: b }\n`);
    start(1, process.execPath, [join(root, 'dist/src/cli/main.js'), 'start', '-c', cfg]);
    await waitPort(port);
    wrk(port, 2);
    variants[name] = { port, runs: [] };
  }
  const names = Object.keys(variants);
  for (let r = 0; r < rounds; r++) {
    for (const name of r % 2 ? [...names].reverse() : names) {
      const m = wrk(variants[name].port, duration);
      variants[name].runs.push(m);
      console.error(`round ${r + 1}/${rounds}  ${name.padEnd(13)} ${m.rps.toFixed(0).padStart(7)} req/s  p50 ${m.p50.toFixed(2)} ms  p99 ${m.p99.toFixed(2)} ms${m.errors ? `  errors ${m.errors}` : ''}`);
    }
  }
  const summary = names.map((name) => {
    const runs = variants[name].runs;
    return { variant: name, rps: median(runs.map((m) => m.rps)), p50: median(runs.map((m) => m.p50)), p99: median(runs.map((m) => m.p99)), rpsEachRound: runs.map((m) => Math.round(m.rps)) };
  });
  console.log(`\nsmall GET, ${connections} connections, ${rounds} interleaved rounds × ${duration} s, median; wrk on CPU 0, gateway + backend on CPU 1${pinned ? '' : ' (NOT pinned)'}\n`);
  console.log('| variant | req/s | p50 ms | p99 ms | req/s each round |\n|---|---:|---:|---:|---|');
  for (const s of summary) console.log(`| ${s.variant} | ${s.rps.toFixed(0)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.rpsEachRound.join(' / ')} |`);
  console.log(`\ncall log cost: ${((1 - summary[0].rps / summary[1].rps) * 100).toFixed(1)}% of throughput; database after the run: ${Math.round(statSync(join(tmp, 'calls.db')).size / 1e6)} MB (+ WAL)`);
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'calllog.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, duration, rounds, connections, pinned, summary }, null, 2) + '\n');
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(tmp, { recursive: true, force: true });
}
