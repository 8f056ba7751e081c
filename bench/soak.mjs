#!/usr/bin/env node
// Memory and endurance of Causeway (a bench mode, not part of npm test).
//   1. idle:  RSS, file descriptors and sockets with N idle client connections (default 10,000),
//             opened from a separate process (bench/idle-clients.mjs), each after one request.
//   2. soak:  open-loop load for --minutes (default 10) against two targets, one that resets,
//             stalls, closes and cuts bodies (bench/fault-backend.mjs), one that also flaps its
//             listener (refused connections); 5% of the clients give up after 300 ms. Every 10 s
//             the gateway's RSS, V8 heap in use (from /metrics), fds, sockets, calls in flight and
//             CLOSE-WAIT connections are sampled, the CLOSE-WAIT ones by side (client-facing
//             listener, backend targets, other) and as "stuck" when the same connection was
//             already in CLOSE-WAIT at the previous sample (a peer closed it and the gateway kept
//             it for a whole interval).
//             Verdicts leave out the warm-up (--warmup s, default 60, at most a third of the run):
//             growth compares the first and last thirds of the remaining samples and gives the
//             least-squares slope per minute. Once the load stops, the gateway gets `total` +
//             `idleTimeout` + 2 s to settle and is sampled again against its state before the load
//             (what is left then was leaked). The access log tells calls that outlived `total`
//             inside the gateway from client timeouts caused by a starved client.
//
//   node bench/soak.mjs [--minutes 10] [--idle 10000] [--rate 300] [--only idle|soak] [--interval 10] [--warmup 60]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { causewayAccepts, causewayMain, cleanup, firstLine, freePort, here, onCleanup, output, parseArgs, procStats, sleep, start, stop, waitPort, wrk } from './lib.mjs';

const args = parseArgs();
const minutes = Number(args.minutes ?? 10);
const idleN = Number(args.idle ?? 10_000);
const rate = Number(args.rate ?? 300);
const intervalS = Number(args.interval ?? 10);
const only = typeof args.only === 'string' ? args.only : null;
const warmupS = Number(args.warmup ?? 60);
const tmp = mkdtempSync(join(tmpdir(), 'causeway-soak-'));
onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
const uptime = () => spawnSync('uptime', { encoding: 'utf8' }).stdout?.trim() ?? '';
const report = { date: new Date().toISOString(), node: process.version, command: `node bench/soak.mjs ${process.argv.slice(2).join(' ')}`.trim(), uptimeAtStart: uptime() };

/** Causeway with the default pipeline and every observability key this build accepts. */
async function startCauseway(name, upstreamYaml, serverYaml = '') {
  const port = await freePort();
  const logFile = join(tmp, `${name}-access.log`);
  let yaml = `listen: { host: 127.0.0.1, port: ${port} }\nlog: { file: ${logFile} }\n${serverYaml}upstreams:\n  b:\n${upstreamYaml}routes:\n  - { name: r, match: { path: /* }, upstream: b }\n`;
  const enabled = [];
  const adminPort = await freePort();
  for (const [name, frag] of [
    ['admin', `admin: { host: 127.0.0.1, port: ${adminPort} }\n`],
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
  await waitPort(port, 60_000);
  return { port, child, enabled, adminPort: enabled.includes('admin') ? adminPort : null, logFile };
}
/**
 * The process's connections in CLOSE-WAIT (the peer closed, the process has not), by side:
 * `client` on the listener's port, `upstream` to one of the targets, `other` (admin, ...).
 * `tuples` identifies each connection, to tell one that stays from a passing one.
 */
function closeWait(pid, listenPort, targetPorts) {
  const r = spawnSync('ss', ['-tanp', 'state', 'close-wait'], { encoding: 'utf8' });
  const out = { total: 0, client: 0, upstream: 0, other: 0, tuples: [] };
  for (const line of (r.stdout ?? '').split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const cols = line.trim().split(/\s+/);
    const [local, peer] = [cols[2], cols[3]];
    const port = (a) => Number(a.slice(a.lastIndexOf(':') + 1));
    out.total++;
    if (port(local) === listenPort) out.client++;
    else if (targetPorts.includes(port(peer))) out.upstream++;
    else out.other++;
    out.tuples.push(`${local}>${peer}`);
  }
  return out;
}
/** A text from the admin API (null without admin, or when it does not answer). */
function adminGet(adminPort, path) {
  if (!adminPort) return Promise.resolve(null);
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: adminPort, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}
/** Calls in flight, from /healthz. */
async function inflight(adminPort) {
  try {
    return JSON.parse(await adminGet(adminPort, '/healthz')).inflight ?? null;
  } catch {
    return null;
  }
}
/** The request thread's V8 heap in use (MB), from /metrics: tells a JavaScript leak from native memory (SQLite, sockets, the writer thread). */
async function heapMb(adminPort) {
  const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec((await adminGet(adminPort, '/metrics')) ?? '');
  return m ? Number((Number(m[1]) / 2 ** 20).toFixed(1)) : null;
}
/** Least-squares slope of `k` over time, per minute. */
function slopePerMin(xs, k) {
  const n = xs.length;
  if (n < 2) return 0;
  const mt = xs.reduce((a, x) => a + x.t, 0) / n;
  const mv = xs.reduce((a, x) => a + x[k], 0) / n;
  let num = 0;
  let den = 0;
  for (const x of xs) {
    num += (x.t - mt) * (x[k] - mv);
    den += (x.t - mt) ** 2;
  }
  return den ? (num / den) * 60 : 0;
}
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

try {
  // ---- 1. idle connections -------------------------------------------------------------------
  if (!only || only === 'idle') {
    const backend = start(process.execPath, [join(here, 'backend.mjs')], { cpu: 1 });
    const bport = Number(await firstLine(backend, 60_000));
    const cw = await startCauseway('idle', `    targets: [{ url: "http://127.0.0.1:${bport}" }]\n`, 'server: { keepAliveTimeout: 10m, headersTimeout: 10s }\n');
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
    report.idle = { connections: idleN, open, failed, load1: Number(loadavg()[0].toFixed(2)), before, after, after15s: later, afterClose: released, kbPerConnection: ((after.rssMb - before.rssMb) * 1024) / Math.max(1, open), config: cw.enabled };
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
    const t1 = Number(await firstLine(faulty, 60_000));
    const t2 = Number(await firstLine(flapping, 60_000));
    const cw = await startCauseway(
      'soak',
      `    targets: [{ url: "http://127.0.0.1:${t1}" }, { url: "http://127.0.0.1:${t2}" }]\n    timeouts: { connect: 500ms, read: 1s, total: 3s }\n    retries: { attempts: 2, on: [connect-failure, stale-connection, reset] }\n`,
    );
    const pid = cw.child.pid;
    const targetPorts = [t1, t2];
    const totalMs = 3000;
    const idleTimeoutMs = 4000; // pool.idleTimeout's default
    const seconds = Math.round(minutes * 60);
    const sample = async (t) => {
      const s = procStats(pid);
      if (!s) throw new Error('Causeway exited during the soak');
      const c = closeWait(pid, cw.port, targetPorts);
      return { t, load1: Number(loadavg()[0].toFixed(2)), ...s, inflight: await inflight(cw.adminPort), heapMb: await heapMb(cw.adminPort), closeWait: c.total, cwClient: c.client, cwUpstream: c.upstream, cwOther: c.other, tuples: c.tuples };
    };
    await sleep(2000);
    const baseline = await sample(0);
    delete baseline.tuples;
    const lg = start(process.execPath, [join(here, 'loadgen.mjs'), '--url', `http://127.0.0.1:${cw.port}/soak`, '--duration', String(seconds), '--rate', String(rate), '--abort-pct', '5', '--abort-after', '300'], { cpu: 0 });
    const lgOut = output(lg);
    const samples = [];
    const t0 = Date.now();
    console.log(`\nsoak — ${minutes} min at ${rate} req/s (open loop), 2 targets: one fails 15% of calls (reset / FIN without answer / stall 10 s / body cut), one fails 5% and flaps its listener every 7 s; 5% of clients abort after 300 ms; sampled every ${intervalS} s\n`);
    console.log('CLOSE-WAIT by side: client (the listener), upstream (the targets), other; "stuck": already in CLOSE-WAIT at the previous sample\n');
    const header = () => {
      console.log('| t s | load1 | RSS MB | heap MB | fds | sockets | in flight | CLOSE-WAIT client | CLOSE-WAIT upstream | CLOSE-WAIT other | stuck |');
      console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    };
    const line = (r, label = r.t) => console.log(`| ${label} | ${r.load1} | ${fmt(r.rssMb)} | ${r.heapMb ?? '-'} | ${r.fds} | ${r.sockets} | ${r.inflight ?? '-'} | ${r.cwClient} | ${r.cwUpstream} | ${r.cwOther} | ${r.stuck ?? '-'} |`);
    header();
    line(baseline, 'before');
    let prev = new Set();
    const lgExit = new Promise((r) => lg.once('exit', r));
    while (lg.exitCode === null && lg.signalCode === null) {
      await Promise.race([sleep(intervalS * 1000), lgExit]);
      if (lg.exitCode !== null || lg.signalCode !== null) break;
      const row = await sample(Math.round((Date.now() - t0) / 1000));
      row.stuck = row.tuples.filter((x) => prev.has(x)).length;
      prev = new Set(row.tuples);
      delete row.tuples;
      samples.push(row);
      line(row);
    }
    const load = JSON.parse((await lgOut).out.trim().split('\n').pop());
    delete load.timeline;
    // The load has stopped: calls still in flight get `total`, idle upstream connections `idleTimeout`.
    await sleep(totalMs + idleTimeoutMs + 2000);
    const settled = await sample(Math.round((Date.now() - t0) / 1000));
    settled.stuck = settled.tuples.filter((x) => prev.has(x)).length;
    delete settled.tuples;
    line(settled, `${settled.t} (load stopped ${Math.round((totalMs + idleTimeoutMs + 2000) / 1000)} s ago)`);

    // Verdicts on the samples after the warm-up.
    const warm = Math.min(warmupS, seconds / 3);
    const steady = samples.filter((x) => x.t > warm);
    const third = Math.max(1, Math.floor(steady.length / 3));
    const mean = (xs, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
    const first = steady.slice(0, third);
    const last = steady.slice(-third);
    const verdict = {};
    // Growth = last third's mean over the first third's, beyond noise: 15% and 10 MB for RSS (5 MB for the heap), 10% and 10 for counts.
    for (const [k, rel, abs] of [['rssMb', 0.15, 10], ['heapMb', 0.15, 5], ['fds', 0.1, 10], ['sockets', 0.1, 10], ['inflight', 0.1, 10], ['closeWait', 0.1, 10]]) {
      if (steady.some((x) => x[k] === null)) continue;
      const a = mean(first, k);
      const b = mean(last, k);
      verdict[k] = { firstThird: Number(a.toFixed(1)), lastThird: Number(b.toFixed(1)), slopePerMin: Number(slopePerMin(steady, k).toFixed(2)), max: Math.max(...steady.map((x) => x[k])), grows: b - a > abs && b > a * (1 + rel) };
    }
    const stuckMax = Math.max(0, ...samples.map((x) => x.stuck));
    // Left after the load: sockets and fds back to the pre-load level (a little slack: the log, the call store), nothing in flight or in CLOSE-WAIT.
    const leftover = {
      fds: settled.fds - baseline.fds,
      sockets: settled.sockets - baseline.sockets,
      inflight: settled.inflight,
      closeWait: settled.closeWait,
      clean: settled.sockets - baseline.sockets <= 5 && settled.closeWait === 0 && (settled.inflight ?? 0) === 0,
    };
    // Inside the gateway: calls that outlived `total` (the access log has every finished call).
    const logFile = cw.logFile;
    let calls = 0;
    let longest = null;
    let outlived = 0;
    if (existsSync(logFile)) {
      for (const l of readFileSync(logFile, 'utf8').split('\n')) {
        if (!l.includes('"kind":"access"')) continue;
        const d = Number(/"durationMs":([\d.]+)/.exec(l)?.[1]);
        if (!Number.isFinite(d)) continue;
        calls++;
        if (longest === null || d > longest) longest = d;
        if (d > totalMs + 250) outlived++;
      }
    }
    const gateway = { calls, outlivedTotal: outlived, maxDurationMs: longest };
    report.soak = { minutes, rate, warmupS: warm, uptimeAtEnd: uptime(), load, baseline, samples, settled, verdict, stuckCloseWaitMax: stuckMax, leftover, gateway, config: cw.enabled };
    console.log(`\nload: ${load.issued} requests, ${(100 * load.successRate).toFixed(2)}% answered 2xx, ${load.clientAborted} aborted by the client on purpose, failures ${JSON.stringify(load.failures)}, p50 ${load.p50} ms, p99 ${load.p99} ms`);
    console.log(`gateway: ${gateway.calls} calls in the access log, ${gateway.outlivedTotal} took longer than total (${totalMs} ms) + 250 ms, longest ${gateway.maxDurationMs} ms`);
    console.log(`\nverdict (samples after the first ${warm} s; slope by least squares)\n`);
    console.log('| metric | mean, first third | mean, last third | slope per min | max | verdict |');
    console.log('|---|---:|---:|---:|---:|---|');
    for (const [k, v] of Object.entries(verdict)) console.log(`| ${k} | ${v.firstThird} | ${v.lastThird} | ${v.slopePerMin} | ${v.max} | ${v.grows ? 'GROWS' : 'flat'} |`);
    console.log(`| CLOSE-WAIT stuck for an interval | | | | ${stuckMax} | ${stuckMax ? 'KEPT' : 'none'} |`);
    console.log(`| left after the load (vs before) | fds ${leftover.fds >= 0 ? '+' : ''}${leftover.fds}, sockets ${leftover.sockets >= 0 ? '+' : ''}${leftover.sockets}, in flight ${leftover.inflight ?? '-'}, CLOSE-WAIT ${leftover.closeWait} | | | | ${leftover.clean ? 'clean' : 'LEAK'} |`);
    await stop(cw.child);
  }
} finally {
  await cleanup();
}
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'soak.json'), JSON.stringify(report, null, 2) + '\n');
console.log('\nwritten: bench/results/soak.json');
