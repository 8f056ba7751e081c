#!/usr/bin/env node
// `npm run bench`: the same small-GET workload against every system, side by side in one run:
// the backend directly, the bare undici dispatch proxy (the floor), the floor adding the headers
// Causeway must add (floor-headers), Causeway with its default pipeline and with both logs off
// (causeway-nologs), nginx, HAProxy and the Node peers (fast-gateway, @fastify/http-proxy, http-proxy).
// wrk runs pinned to CPU 0, the proxies and the backend to CPU 1. The machine is shared and noisy,
// so the systems are INTERLEAVED: every round measures each system once (in a rotated order), and
// the report gives the median over the rounds. Prints req/s, p50, p99 and the ratios to nginx and
// to the floor; writes bench/results/latest.json.
//
// `causeway-2w` is Causeway with `workers: 2` (one primary, two worker processes). On a 2-core
// machine pinning the proxies to CPU 1 would put both workers on one core, so the scaling
// comparison runs with --unpinned: wrk stays on CPU 0, the backend and Causeway (1 or 2 workers)
// are not pinned, the same for both; it writes bench/results/workers.json.
//
//   npm run bench -- [--duration 5] [--rounds 3] [--warmup 1] [--prewarm 5] [--connections 50] [--only causeway,floor,nginx]
//   npm run bench -- --only causeway,causeway-2w --unpinned      (1 vs 2 workers: bench/RESULTS.md, "All cores")
//   npm run bench -- --resilience [...]        (bench/resilience.mjs)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  causewayAccepts, causewayMain, cleanup, firstLine, freePort, haproxyConfig, hasHaproxy, hasNginx, haveWrk, here, median, nginxConfig,
  onCleanup, parseArgs, pinned, start, waitPort, wrk,
} from './lib.mjs';

const args = parseArgs();
if (args.resilience) {
  // Delegate: `npm run bench -- --resilience` is bench/resilience.mjs with the other flags.
  const r = spawnSync(process.execPath, [join(here, 'resilience.mjs'), ...process.argv.slice(2).filter((a) => a !== '--resilience')], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const duration = Number(args.duration ?? 5);
const rounds = Number(args.rounds ?? 3);
const warmup = Number(args.warmup ?? 1);
const prewarm = Number(args.prewarm ?? 5); // once per system at start: JIT and pools
const connections = Number(args.connections ?? 50);
const only = typeof args.only === 'string' ? new Set(args.only.split(',')) : null;
// causeway-2w is opt-in (--only): the default table stays one process per system.
const want = (n) => (only ? only.has(n) : n !== 'causeway-2w');
/** --unpinned: the backend and the proxies run on any CPU (wrk stays on CPU 0). */
const unpinned = Boolean(args.unpinned);
const proxyCpu = unpinned ? undefined : 1;
const outFile = typeof args.out === 'string' ? args.out : unpinned ? 'workers.json' : 'latest.json';

if (!haveWrk()) {
  console.error('bench: wrk is not installed (apt-get install wrk)');
  process.exit(1);
}

const PEERS = ['fast-gateway', 'fastify-http-proxy', 'http-proxy'];
const PEER_PACKAGES = ['fast-gateway', 'fastify', '@fastify/http-proxy', 'http-proxy'];
/** The Node peers live in bench/package.json, installed on demand (never in the root package). */
function ensurePeers() {
  if (PEER_PACKAGES.every((p) => existsSync(join(here, 'node_modules', p, 'package.json')))) return true;
  console.error('bench: installing the Node peers (npm install --prefix bench) …');
  const r = spawnSync('npm', ['install', '--prefix', here, '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) console.error('bench: could not install the peers; skipping them');
  return r.status === 0;
}

const tmp = mkdtempSync(join(tmpdir(), 'causeway-bench-'));
onCleanup(() => rmSync(tmp, { recursive: true, force: true }));

/** Causeway's default pipeline, plus every observability key this build knows (feature-detected). */
async function causewayConfig(port, upstream, name = 'causeway', workers = 1, logs = true) {
  const base = `listen: { host: 127.0.0.1, port: ${port} }\nlog: { file: ${join(tmp, `${name}-access.log`)}${logs ? '' : ', access: false'} }\nupstreams:\n  b: { targets: [{ url: "${upstream}" }] }\nroutes:\n  - { name: bench, match: { path: /* }, upstream: b }\n`;
  // Keys being added by others: each candidate is kept only when `causeway check` accepts it.
  const adminPort = await freePort();
  const candidates = [
    ['admin', `admin: { host: 127.0.0.1, port: ${adminPort} }\n`],
    ['storage', `storage: { path: ${join(tmp, `${name}.db`)}${logs ? '' : ', enabled: false'} }\n`],
    ['metrics', `metrics: { enabled: true }\n`],
    ...(workers > 1 ? [['workers', `workers: ${workers}\n`]] : []),
  ];
  let yaml = base;
  const enabled = [];
  for (const [name, frag] of candidates) {
    if (causewayAccepts(tmp, yaml + frag)) {
      yaml += frag;
      enabled.push(name);
    }
  }
  return { yaml, enabled };
}

const systems = [];
const note = {};
let backendPort;
const results = { rounds: [], systems: {} };
try {
  const backend = start(process.execPath, [join(here, 'backend.mjs')], { cpu: proxyCpu });
  backendPort = Number(await firstLine(backend));
  const upstream = `http://127.0.0.1:${backendPort}`;
  const node = (script, ...argv) => async () => {
    const c = start(process.execPath, [script, upstream, '0', ...argv], { cpu: proxyCpu });
    return Number(await firstLine(c));
  };

  if (want('direct')) systems.push({ name: 'direct', note: 'the Node backend itself, no proxy', start: async () => backendPort });
  if (want('floor')) systems.push({ name: 'floor', note: 'bare undici dispatch proxy on node:http (bench/floor.mjs)', start: node(join(here, 'floor.mjs')) });
  if (want('floor-headers')) systems.push({ name: 'floor-headers', note: "the floor adding the headers Causeway must add, ids from Causeway's generators (bench/floor.mjs --headers)", start: node(join(here, 'floor.mjs'), '--headers') });
  for (const [name, workers, logs] of [['causeway', 1, true], ['causeway-nologs', 1, false], ['causeway-2w', 2, true]]) {
    if (!want(name)) continue;
    systems.push({
      name,
      start: async () => {
        const port = await freePort();
        const { yaml, enabled } = await causewayConfig(port, upstream, name, workers, logs);
        if (workers > 1 && !enabled.includes('workers')) throw new Error('this build of Causeway does not accept `workers:`');
        note[name] = `${logs ? 'default pipeline: access log to a file' : 'access log and call log OFF (log.access: false, storage.enabled: false)'}${enabled.length ? `; config keys on: ${enabled.join(', ')}` : ''}`;
        writeFileSync(join(tmp, `${name}.yaml`), yaml);
        start(process.execPath, [causewayMain, 'start', '-c', join(tmp, `${name}.yaml`)], { cpu: proxyCpu });
        await waitPort(port);
        // With workers, the port opens with the first worker: wait for all of them (each answers once).
        if (workers > 1) await wrk(port, 1, connections);
        return port;
      },
    });
  }
  for (const [name, workers] of [['nginx', 1]]) {
    if (!want(name)) continue;
    if (!hasNginx()) {
      console.error(`bench: nginx is not installed — skipped (apt-get install nginx)`);
      continue;
    }
    systems.push({
      name,
      note: `nginx, worker_processes ${workers}, upstream keepalive 128, HTTP/1.1, access log buffered`,
      start: async () => {
        const port = await freePort();
        const { cmd, argv } = nginxConfig(tmp, { port, servers: [`127.0.0.1:${backendPort}`], workers });
        start(cmd, argv, { cpu: proxyCpu, nofile: 65536 });
        await waitPort(port);
        return port;
      },
    });
  }
  if (want('haproxy')) {
    if (!hasHaproxy()) console.error('bench: haproxy is not installed — skipped (apt-get install haproxy)');
    else
      systems.push({
        name: 'haproxy',
        note: 'HAProxy, nbthread 1, http-reuse safe, keep-alive both sides, no logging',
        start: async () => {
          const port = await freePort();
          const { cmd, argv } = haproxyConfig(tmp, { port, servers: [`127.0.0.1:${backendPort}`] });
          start(cmd, argv, { cpu: proxyCpu, nofile: 65536 });
          await waitPort(port);
          return port;
        },
      });
  }
  if (PEERS.some(want) && ensurePeers()) {
    const notes = { 'fast-gateway': 'fast-gateway 5 (restana + fast-proxy-lite), defaults', 'fastify-http-proxy': 'fastify 5 + @fastify/http-proxy (undici), logger off', 'http-proxy': 'http-proxy on node:http, keep-alive agent' };
    for (const p of PEERS) if (want(p)) systems.push({ name: p, note: notes[p], start: node(join(here, 'peers', `${p}.mjs`)) });
  }

  // Start everything once (idle systems cost nothing), then warm each up.
  for (const s of systems) {
    s.port = await s.start();
    s.note ??= note[s.name];
    await wrk(s.port, prewarm, connections);
  }
  for (let r = 0; r < rounds; r++) {
    const order = systems.map((_, i) => systems[(i + r) % systems.length]); // rotate: no system always first
    for (const s of order) {
      if (warmup > 0) await wrk(s.port, warmup, connections); // refill pools that idled out while others ran
      const m = await wrk(s.port, duration, connections);
      (results.systems[s.name] ??= []).push(m);
      results.rounds.push({ round: r + 1, system: s.name, ...m });
      console.error(`round ${r + 1}/${rounds}  ${s.name.padEnd(19)} ${m.rps.toFixed(0).padStart(7)} req/s  p50 ${m.p50.toFixed(2).padStart(6)} ms  p99 ${m.p99.toFixed(2).padStart(6)} ms${m.non2xx + m.socketErrors ? `  errors ${m.non2xx + m.socketErrors}` : ''}`);
    }
  }
} finally {
  await cleanup();
}

const summary = systems
  .filter((s) => results.systems[s.name])
  .map((s) => {
    const ms = results.systems[s.name];
    return {
      system: s.name,
      note: s.note,
      rps: median(ms.map((m) => m.rps)),
      p50: median(ms.map((m) => m.p50)),
      p99: median(ms.map((m) => m.p99)),
      errors: ms.reduce((a, m) => a + m.non2xx + m.socketErrors, 0),
      rpsEachRound: ms.map((m) => Math.round(m.rps)),
    };
  });
const rpsOf = (n) => summary.find((r) => r.system === n)?.rps;
const nginx = rpsOf('nginx');
const floor = rpsOf('floor');
const ratio = (x, b) => (b ? (x / b).toFixed(2) : '-');
const pinning = !pinned ? 'NOT pinned: taskset unavailable' : unpinned ? 'wrk on CPU 0, proxy + backend NOT pinned (any CPU)' : 'wrk on CPU 0, proxy + backend on CPU 1';
console.log(`\nsmall GET (62-byte JSON), ${connections} connections, ${rounds} interleaved rounds × ${duration} s per system (+${warmup} s warm-up), median of rounds; ${pinning}\n`);
console.log('| system | req/s (median) | p50 ms | p99 ms | vs nginx | vs floor | req/s each round | errors |');
console.log('|---|---:|---:|---:|---:|---:|---|---:|');
for (const r of summary) {
  console.log(`| ${r.system} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${ratio(r.rps, nginx)} | ${ratio(r.rps, floor)} | ${r.rpsEachRound.join(' / ')} | ${r.errors} |`);
}
console.log('\nsystems:');
for (const r of summary) console.log(`- ${r.system}: ${r.note}`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', outFile),
  JSON.stringify({ date: new Date().toISOString(), node: process.version, command: `node bench/run.mjs ${process.argv.slice(2).join(' ')}`, duration, rounds, warmup, connections, pinned, pinning, summary, rounds_detail: results.rounds }, null, 2) + '\n',
);
console.log(`\nwritten: bench/results/${outFile}`);
