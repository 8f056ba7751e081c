#!/usr/bin/env node
// Resilience under load, side by side: Causeway, nginx and HAProxy in front of three targets,
// each configured as its docs recommend, facing the same open-loop load (bench/loadgen.mjs).
//   (a) refuse    — one of three targets closes its listener mid-run (connects get RST)
//   (b) blackhole — one of three stops completing TCP handshakes mid-run: iptables DROP of SYNs to
//                   its port, on the loopback of a network namespace this script creates (and its
//                   keep-alive connections drain, so the proxies must reconnect into the hole)
//   (c) keepalive — every target closes idle connections after 1 s; bursts with ~1 s idle gaps
// Reports the client-visible success rate and p99 per system and scenario.
//
//   node bench/resilience.mjs [--duration 20] [--rate 1000] [--post-pct 20] [--only causeway,nginx] [--scenarios a,b,c] [--rounds 1] [--warmup 8] [--keep]
// --warmup: seconds of the same load, unmeasured, before each measured run (every system alike).
// --keep: leave the temporary directory (configs, Causeway's access logs) in place and print it.
//
// --post-pct: the share of requests sent as POST with a JSON body (default 20%), as real API
// traffic has: a proxy may repeat a GET that met a closed connection, but not a POST that reached
// a backend, so how a proxy avoids such failures (not only how it retries them) shows.
//   npm run bench -- --resilience [...]
//
// Everything runs inside a fresh network namespace (`ip netns add`), loopback only; the namespace
// and its iptables rules are deleted at the end, also on failure or Ctrl-C. Without namespaces
// (not root, no iproute2) the scenarios run on the host loopback and (b) is skipped.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  causewayAccepts, causewayMain, cleanup, firstLine, freePort, haproxyConfig, hasHaproxy, hasNginx, here, median, nginxConfig,
  onCleanup, output, parseArgs, pinned, sleep, start, stop, waitPort,
} from './lib.mjs';

// ---- Causeway's resilience config: edit here as features land -------------------------------
// The base is what exists today; each extra is kept only if `causeway check` accepts it, so the
// bench picks up health checks / ejection / breaker as soon as the schema has them.
const CAUSEWAY_UPSTREAM_BASE = (targets) => `    targets: [${targets.map((t) => `{ url: "http://${t}" }`).join(', ')}]
    balance: round-robin
    timeouts: { connect: 1s, read: 5s, total: 10s }
    retries: { attempts: 3, on: [connect-failure, stale-connection, reset], backoff: 5ms..50ms, budget: 20% }
`;
const CAUSEWAY_UPSTREAM_EXTRAS = [
  ['healthCheck.active', `    healthCheck:\n      active: { path: /healthz, interval: 1s, timeout: 500ms, healthyAfter: 2, unhealthyAfter: 2 }\n`],
  ['healthCheck.passive', `    healthCheck:\n      passive: { consecutiveFailures: 3, ejectFor: 10s, maxEjectedPercent: 50% }\n`],
  ['healthCheck.active+passive', `    healthCheck:\n      active: { path: /healthz, interval: 1s, timeout: 500ms, healthyAfter: 2, unhealthyAfter: 2 }\n      passive: { consecutiveFailures: 3, ejectFor: 10s, maxEjectedPercent: 50% }\n`],
  ['circuitBreaker', `    circuitBreaker: { failureRate: 50%, minRequests: 20, window: 10s, openFor: 5s, halfOpenRequests: 3 }\n`],
];

const args = parseArgs();
const self = fileURLToPath(import.meta.url);

// ---- outside: create the namespace and re-run this script inside it --------------------------
if (!args['in-ns'] && !args['no-netns']) {
  const ns = `cwbench${process.pid}`;
  const ip = (...a) => spawnSync('ip', a, { encoding: 'utf8' });
  // Namespaces left by a bench that was SIGKILLed: their owner pid is gone.
  for (const old of (ip('netns', 'list').stdout ?? '').split('\n').map((l) => l.split(' ')[0]).filter((n) => /^cwbench\d+$/.test(n))) {
    const pid = Number(old.slice(7));
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) ip('netns', 'del', old);
  }
  const made = ip('netns', 'add', ns);
  if (made.status === 0 && ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up').status === 0 && ip('netns', 'exec', ns, 'iptables', '-S').status === 0) {
    onCleanup(() => {
      const r = ip('netns', 'del', ns); // takes its lo, sockets and iptables rules with it
      if (r.status !== 0) console.error(`could not delete network namespace ${ns}: ${r.stderr}`);
    });
    const child = start('ip', ['netns', 'exec', ns, process.execPath, self, '--in-ns', ns, ...process.argv.slice(2)]);
    child.stdout.pipe(process.stdout);
    const code = await new Promise((r) => child.once('exit', (c) => r(c ?? 1)));
    await cleanup();
    process.exit(code);
  }
  if (made.status === 0) ip('netns', 'del', ns);
  console.error(`resilience: network namespaces unavailable (${(made.stderr || 'iptables failed').trim()}); running on the host loopback, scenario (b) skipped`);
}

// ---- inside (or fallback) -------------------------------------------------------------------
const inNs = Boolean(args['in-ns']);
const duration = Number(args.duration ?? 20);
const rate = Number(args.rate ?? 1000);
const postPct = Number(args['post-pct'] ?? 20);
const rounds = Number(args.rounds ?? 1);
const warmup = Number(args.warmup ?? 8);
const faultAt = Number(args['fault-at'] ?? Math.round(duration / 3));
const only = typeof args.only === 'string' ? new Set(args.only.split(',')) : null;
const scenarios = (typeof args.scenarios === 'string' ? args.scenarios : 'a,b,c').split(',');
const tmp = mkdtempSync(join(tmpdir(), 'causeway-resilience-'));
if (args.keep) console.error(`resilience: keeping configs and Causeway's access logs in ${tmp}`);
else onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
const iptablesRules = [];
onCleanup(() => {
  for (const rule of iptablesRules.splice(0)) spawnSync('iptables', ['-D', ...rule]);
});

const systems = [];
const causewayFeatures = [];
function causewayYaml(port, targets, withExtras) {
  let up = CAUSEWAY_UPSTREAM_BASE(targets);
  for (const x of withExtras) up += CAUSEWAY_UPSTREAM_EXTRAS.find((e) => e[0] === x)[1];
  return `listen: { host: 127.0.0.1, port: ${port} }\nlog: { file: ${join(tmp, `causeway-${port}.log`)} }\nupstreams:\n  b:\n${up}routes:\n  - { name: r, match: { path: /* }, upstream: b }\n`;
}
if (!only || only.has('causeway')) {
  // Feature detection, once: the largest accepted set (active+passive replaces the two alone).
  const ok = (xs) => causewayAccepts(tmp, causewayYaml(1, ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'], xs));
  if (ok(['healthCheck.active+passive'])) causewayFeatures.push('healthCheck.active+passive');
  else for (const x of ['healthCheck.active', 'healthCheck.passive']) if (ok([x])) causewayFeatures.push(x);
  if (ok([...causewayFeatures, 'circuitBreaker'])) causewayFeatures.push('circuitBreaker');
  systems.push({
    name: 'causeway',
    note: `retries attempts 3 (connect-failure, stale-connection, reset), connect 1s, read 5s${causewayFeatures.length ? `; ${causewayFeatures.join(', ')}` : '; no health checks / ejection / breaker in this build'}`,
    async start(port, targets) {
      writeFileSync(join(tmp, 'causeway.yaml'), causewayYaml(port, targets, causewayFeatures));
      return start(process.execPath, [causewayMain, 'start', '-c', join(tmp, 'causeway.yaml')], { cpu: 1 });
    },
  });
}
if (!only || only.has('nginx')) {
  if (!hasNginx()) console.error('resilience: nginx not installed — skipped');
  else
    systems.push({
      name: 'nginx',
      note: 'max_fails=3 fail_timeout=10s; proxy_next_upstream error timeout http_502 (non_idempotent off); connect 1s, read 5s; keepalive 128',
      async start(port, targets) {
        const { cmd, argv } = nginxConfig(tmp, {
          port,
          servers: targets.map((t) => `${t} max_fails=3 fail_timeout=10s`),
          locationExtra: 'proxy_connect_timeout 1s;\n      proxy_read_timeout 5s;\n      proxy_next_upstream error timeout http_502;\n      proxy_next_upstream_timeout 10s;',
        });
        return start(cmd, argv, { cpu: 1, nofile: 65536 });
      },
    });
}
if (!only || only.has('haproxy')) {
  if (!hasHaproxy()) console.error('resilience: haproxy not installed — skipped');
  else
    systems.push({
      name: 'haproxy',
      note: 'retries 3, option redispatch, check inter 1s (option httpchk GET /healthz); connect 1s, server 5s',
      async start(port, targets) {
        const { cmd, argv } = haproxyConfig(tmp, {
          port,
          servers: targets,
          defaultsExtra: 'retries 3\n  option redispatch\n  timeout server 5s',
          backendExtra: 'balance roundrobin\n  option httpchk GET /healthz',
          serverOpts: 'check inter 1s',
        });
        return start(cmd, argv, { cpu: 1, nofile: 65536 });
      },
    });
}

const SCENARIOS = {
  a: { name: 'refuse', title: '(a) one of three targets starts refusing connections', keepAlive: 65_000, load: ['--rate', String(rate)] },
  b: { name: 'blackhole', title: '(b) one of three stops completing TCP handshakes (SYN DROP)', keepAlive: 65_000, load: ['--rate', String(rate)], needsNs: true },
  c: { name: 'keepalive', title: '(c) 1 s backend keep-alive timeout, bursty load', keepAlive: 1000, load: ['--burst', String(Math.max(50, Math.round(rate / 4))), '--gap', '900..1100'] },
};

async function runOne(sys, sc) {
  const targets = [];
  const backends = [];
  for (let i = 0; i < 3; i++) {
    const b = start(process.execPath, [join(here, 'resilience-backend.mjs'), '0', String(sc.keepAlive)], { cpu: 1 });
    targets.push(`127.0.0.1:${Number(await firstLine(b))}`);
    backends.push(b);
  }
  const port = await freePort();
  const proxy = await sys.start(port, targets);
  await waitPort(port);
  const loadgen = (seconds) =>
    start(process.execPath, [join(here, 'loadgen.mjs'), '--url', `http://127.0.0.1:${port}/r`, '--duration', String(seconds), '--post-pct', String(postPct), ...sc.load], { cpu: 0 });
  await sleep(1500); // health checks see every target up
  if (warmup > 0) {
    // The same load, unmeasured: JIT-compiled code paths (POST bodies included) and open
    // keep-alive connections on both sides, as a gateway in service has. Without it the first
    // seconds measure a cold Node.js process against C programs that have no warm-up.
    await output(loadgen(warmup));
  }
  const victim = 1; // the second target
  const victimPort = targets[victim].split(':')[1];
  const lg = loadgen(duration);
  const result = output(lg);
  let faultNote = 'none (the keep-alive race is the fault)';
  if (sc.name !== 'keepalive') {
    await sleep(faultAt * 1000);
    if (sc.name === 'refuse') {
      backends[victim].kill('SIGUSR1');
      faultNote = `t=${faultAt}s: target ${targets[victim]} closed its listener`;
    } else {
      const rule = ['INPUT', '-p', 'tcp', '--dport', victimPort, '--syn', '-j', 'DROP'];
      const r = spawnSync('iptables', ['-A', ...rule], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`iptables: ${r.stderr}`);
      iptablesRules.push(rule);
      backends[victim].kill('SIGUSR2');
      faultNote = `t=${faultAt}s: SYNs to ${targets[victim]} dropped, its keep-alive connections drained`;
    }
  }
  const { out } = await result;
  for (const rule of iptablesRules.splice(0)) spawnSync('iptables', ['-D', ...rule]);
  await Promise.all([proxy, ...backends].map((c) => stop(c)));
  const r = JSON.parse(out.trim().split('\n').pop());
  return { ...r, fault: faultNote };
}

const results = [];
try {
  for (const key of scenarios) {
    const sc = SCENARIOS[key];
    if (!sc) continue;
    if (sc.needsNs && !inNs) {
      console.error(`resilience: ${sc.title} — skipped: needs a network namespace (run as root with iproute2 + iptables)`);
      continue;
    }
    const runs = {};
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < systems.length; i++) {
        const sys = systems[(i + round) % systems.length];
        const r = await runOne(sys, sc);
        (runs[sys.name] ??= []).push(r);
        console.error(`${sc.name.padEnd(9)} ${sys.name.padEnd(8)} success ${(100 * r.successRate).toFixed(3)}%  (${r.failed}/${r.issued} failed)  p50 ${r.p50} ms  p99 ${r.p99} ms  ${JSON.stringify(r.failures)}`);
      }
    }
    for (const sys of systems) {
      const rs = runs[sys.name];
      const issued = rs.reduce((a, r) => a + r.issued, 0);
      const failed = rs.reduce((a, r) => a + r.failed, 0);
      const failures = {};
      for (const r of rs) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
      results.push({ scenario: sc.name, title: sc.title, system: sys.name, issued, failed, successRate: issued ? (issued - failed) / issued : null, p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), p99ok: median(rs.map((r) => r.p99ok)), max: Math.max(...rs.map((r) => r.max)), failures, fault: rs[0].fault });
    }
  }
} finally {
  await cleanup();
}

const loadText = `open loop: (a)/(b) ${rate} req/s for ${duration} s, fault at t=${faultAt}s; (c) bursts of ${Math.max(50, Math.round(rate / 4))} requests every 0.9–1.1 s for ${duration} s; ${postPct}% POST with a JSON body, the rest GET; client timeout 5 s; ${warmup} s of the same load unmeasured before each run; ${rounds} round(s), systems interleaved`;
console.log(`\nresilience — ${loadText}${inNs ? '; inside a private network namespace' : '; host loopback (no namespace)'}${pinned ? '; load on CPU 0, proxy + targets on CPU 1' : ''}\n`);
console.log('| scenario | system | success rate | failed / issued | p50 ms | p99 ms | p99 of successes ms | failures |');
console.log('|---|---|---:|---:|---:|---:|---:|---|');
for (const r of results) {
  const f = Object.entries(r.failures).map(([k, v]) => `${k}: ${v}`).join(', ') || '—';
  console.log(`| ${r.scenario} | ${r.system} | ${(100 * r.successRate).toFixed(3)}% | ${r.failed} / ${r.issued} | ${r.p50} | ${r.p99} | ${r.p99ok} | ${f} |`);
}
console.log('\nsystems:');
for (const s of systems) console.log(`- ${s.name}: ${s.note}`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'resilience.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, load: loadText, namespace: inNs, systems: systems.map((s) => ({ name: s.name, note: s.note })), results }, null, 2) + '\n');
console.log('\nwritten: bench/results/resilience.json');
