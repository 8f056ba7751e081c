#!/usr/bin/env node
// Memory and endurance of Causeway (a bench mode, not part of npm test).
//   1. idle:  RSS, file descriptors and sockets with N idle client connections (default 10,000),
//             opened from a separate process (bench/idle-clients.mjs), each after one request.
//   2. soak:  open-loop load for --minutes (default 10) against two targets, one that resets,
//             stalls, closes and cuts bodies (bench/fault-backend.mjs), one that also flaps its
//             listener (refused connections); 5% of the clients give up after 300 ms. Every 10 s
//             the gateway's RSS, fds, sockets and CLOSE-WAIT connections are sampled; the verdict
//             compares the means of the first and last thirds.
//
//   node bench/soak.mjs [--minutes 10] [--idle 10000] [--rate 300] [--only idle|soak] [--interval 10]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { causewayAccepts, causewayMain, cleanup, firstLine, freePort, here, onCleanup, output, parseArgs, procStats, sleep, start, stop, waitPort, wrk } from './lib.mjs';

const args = parseArgs();
const minutes = Number(args.minutes ?? 10);
const idleN = Number(args.idle ?? 10_000);
const rate = Number(args.rate ?? 300);
const intervalS = Number(args.interval ?? 10);
const only = typeof args.only === 'string' ? args.only : null;
const tmp = mkdtempSync(join(tmpdir(), 'causeway-soak-'));
onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
const report = { date: new Date().toISOString(), node: process.version };

/** Causeway with the default pipeline and every observability key this build accepts. */
async function startCauseway(upstreamYaml, serverYaml = '') {
  const port = await freePort();
  let yaml = `listen: { host: 127.0.0.1, port: ${port} }\nlog: { file: ${join(tmp, 'access.log')} }\n${serverYaml}upstreams:\n  b:\n${upstreamYaml}routes:\n  - { name: r, match: { path: /* }, upstream: b }\n`;
  const enabled = [];
  for (const [name, frag] of [
    ['admin', `admin: { host: 127.0.0.1, port: ${await freePort()} }\n`],
    ['storage', `storage: { path: ${join(tmp, 'causeway.db')} }\n`],
    ['metrics', 'metrics: { enabled: true }\n'],
  ]) {
    if (causewayAccepts(tmp, yaml + frag)) {
      yaml += frag;
      enabled.push(name);
    }
  }
  writeFileSync(join(tmp, 'causeway.yaml'), yaml);
  const child = start(process.execPath, [causewayMain, 'start', '-c', join(tmp, 'causeway.yaml')], { cpu: 1, nofile: 65536 });
  await waitPort(port);
  return { port, child, enabled };
}
function closeWait(pid) {
  const r = spawnSync('ss', ['-tanp', 'state', 'close-wait'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter((l) => l.includes(`pid=${pid},`)).length;
}
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

try {
  // ---- 1. idle connections -------------------------------------------------------------------
  if (!only || only === 'idle') {
    const backend = start(process.execPath, [join(here, 'backend.mjs')], { cpu: 1 });
    const bport = Number(await firstLine(backend));
    const cw = await startCauseway(`    targets: [{ url: "http://127.0.0.1:${bport}" }]\n`, 'server: { keepAliveTimeout: 10m, headersTimeout: 10s }\n');
    await wrk(cw.port, 3, 50); // warm: JIT, pool
    await sleep(2000);
    const before = procStats(cw.child.pid);
    const clients = start(process.execPath, [join(here, 'idle-clients.mjs'), String(cw.port), String(idleN)], { cpu: 0, nofile: 65536 });
    const line = await firstLine(clients, 120_000);
    const [, open, failed] = line.split(' ').map(Number);
    await sleep(5000); // settle
    const after = procStats(cw.child.pid);
    await sleep(10_000); // idle a while: anything that grows while nothing happens?
    const later = procStats(cw.child.pid);
    await stop(clients);
    await sleep(3000);
    const released = procStats(cw.child.pid);
    report.idle = { connections: idleN, open, failed, before, after, after15s: later, afterClose: released, kbPerConnection: ((after.rssMb - before.rssMb) * 1024) / Math.max(1, open), config: cw.enabled };
    console.log(`\nidle connections — Causeway (${cw.enabled.length ? cw.enabled.join(', ') + ' on' : 'default pipeline'}), ${open} of ${idleN} idle keep-alive client connections open (${failed} failed), each after one GET\n`);
    console.log('| moment | RSS MB | fds | sockets |');
    console.log('|---|---:|---:|---:|');
    for (const [k, v] of [['before (warm, no clients)', before], [`${open} idle connections`, after], ['+10 s idle', later], ['3 s after the clients closed', released]]) console.log(`| ${k} | ${fmt(v?.rssMb)} | ${v?.fds ?? '-'} | ${v?.sockets ?? '-'} |`);
    console.log(`\n≈ ${fmt(report.idle.kbPerConnection)} KB of RSS per idle connection`);
    await stop(cw.child);
    await stop(backend);
  }

  // ---- 2. soak with mixed faults ------------------------------------------------------------
  if (!only || only === 'soak') {
    const faulty = start(process.execPath, [join(here, 'fault-backend.mjs'), '--fault-pct', '15'], { cpu: 1 });
    const flapping = start(process.execPath, [join(here, 'fault-backend.mjs'), '--fault-pct', '5', '--flap', '7000'], { cpu: 1 });
    const t1 = Number(await firstLine(faulty));
    const t2 = Number(await firstLine(flapping));
    const cw = await startCauseway(
      `    targets: [{ url: "http://127.0.0.1:${t1}" }, { url: "http://127.0.0.1:${t2}" }]\n    timeouts: { connect: 500ms, read: 1s, total: 3s }\n    retries: { attempts: 2, on: [connect-failure, stale-connection, reset] }\n`,
    );
    const pid = cw.child.pid;
    const seconds = Math.round(minutes * 60);
    const lg = start(process.execPath, [join(here, 'loadgen.mjs'), '--url', `http://127.0.0.1:${cw.port}/soak`, '--duration', String(seconds), '--rate', String(rate), '--abort-pct', '5', '--abort-after', '300'], { cpu: 0 });
    const lgOut = output(lg);
    const samples = [];
    const t0 = Date.now();
    console.log(`\nsoak — ${minutes} min at ${rate} req/s (open loop), 2 targets: one fails 15% of calls (reset / FIN without answer / stall 10 s / body cut), one fails 5% and flaps its listener every 7 s; 5% of clients abort after 300 ms; sampled every ${intervalS} s\n`);
    console.log('| t s | RSS MB | fds | sockets | CLOSE-WAIT |');
    console.log('|---:|---:|---:|---:|---:|');
    while (lg.exitCode === null && lg.signalCode === null) {
      await Promise.race([sleep(intervalS * 1000), new Promise((r) => lg.once('exit', r))]);
      if (lg.exitCode !== null || lg.signalCode !== null) break;
      const s = procStats(pid);
      if (!s) throw new Error('Causeway exited during the soak');
      const row = { t: Math.round((Date.now() - t0) / 1000), ...s, closeWait: closeWait(pid) };
      samples.push(row);
      console.log(`| ${row.t} | ${fmt(row.rssMb)} | ${row.fds} | ${row.sockets} | ${row.closeWait} |`);
    }
    const load = JSON.parse((await lgOut).out.trim().split('\n').pop());
    delete load.timeline;
    const third = Math.max(1, Math.floor(samples.length / 3));
    const mean = (xs, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
    const first = samples.slice(0, third);
    const last = samples.slice(-third);
    const verdict = {};
    // Growth = last third's mean over the first third's, beyond noise: 15% and 10 MB for RSS, 10% and 10 for counts.
    for (const [k, rel, abs] of [['rssMb', 0.15, 10], ['fds', 0.1, 10], ['sockets', 0.1, 10], ['closeWait', 0.1, 10]]) {
      const a = mean(first, k);
      const b = mean(last, k);
      verdict[k] = { firstThird: Number(a.toFixed(1)), lastThird: Number(b.toFixed(1)), grows: b - a > abs && b > a * (1 + rel) };
    }
    report.soak = { minutes, rate, load, samples, verdict, config: cw.enabled };
    console.log(`\nload: ${load.issued} requests, ${(100 * load.successRate).toFixed(2)}% answered 2xx, ${load.clientAborted} aborted by the client on purpose, failures ${JSON.stringify(load.failures)}, p50 ${load.p50} ms, p99 ${load.p99} ms`);
    console.log('\n| metric | mean, first third | mean, last third | verdict |');
    console.log('|---|---:|---:|---|');
    for (const [k, v] of Object.entries(verdict)) console.log(`| ${k} | ${v.firstThird} | ${v.lastThird} | ${v.grows ? 'GROWS' : 'flat'} |`);
    await stop(cw.child);
  }
} finally {
  await cleanup();
}
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'soak.json'), JSON.stringify(report, null, 2) + '\n');
console.log('\nwritten: bench/results/soak.json');
