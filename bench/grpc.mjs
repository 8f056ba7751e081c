#!/usr/bin/env node
// gRPC unary calls through Causeway (h2c listener, h2c:// target) against the same calls made
// directly to the backend: throughput and latency percentiles of each, measured in interleaved
// rounds (order alternated) so the machine's noise falls on both; the report is the median per
// variant and the ratio. The load generator (raw node:http2, bench/grpc-load.mjs) runs on CPU 0,
// the @grpc/grpc-js backend and the gateway on CPU 1.
// Options: --duration 5 --rounds 3 --sessions 4 --streams 16
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { causewayMain, cleanup, firstLine, freePort, here, median, parseArgs, pinned, start, waitPort } from './lib.mjs';

const args = parseArgs();
const duration = Number(args.duration ?? 5);
const rounds = Number(args.rounds ?? 3);
const sessions = Number(args.sessions ?? 4);
const streams = Number(args.streams ?? 16);

function load(port, seconds) {
  const child = start(process.execPath, [join(here, 'grpc-load.mjs'), '--port', String(port), '--duration', String(seconds), '--sessions', String(sessions), '--streams', String(streams)], { cpu: 0 });
  return firstLine(child, (seconds + 30) * 1000).then((line) => JSON.parse(line));
}

const tmp = mkdtempSync(join(tmpdir(), 'causeway-bench-grpc-'));
const samples = { direct: [], causeway: [] };
try {
  const backend = start(process.execPath, [join(here, 'grpc-backend.mjs')], { cpu: 1 });
  const backendPort = Number(await firstLine(backend));
  const gwPort = await freePort();
  const cfg = join(tmp, 'gw.yaml');
  writeFileSync(
    cfg,
    `listen: { host: 127.0.0.1, port: ${gwPort}, h2c: true }
admin: { host: 127.0.0.1, port: ${await freePort()} }
log: { access: false }
storage: { enabled: false }
upstreams:
  echo: { targets: [{ url: "h2c://127.0.0.1:${backendPort}" }] }
routes:
  - { name: echo, match: { path: /causeway.test.Echo/* }, upstream: echo }
`,
  );
  start(process.execPath, [causewayMain, 'start', '-c', cfg], { cpu: 1 });
  await waitPort(gwPort);
  const ports = { direct: backendPort, causeway: gwPort };
  for (const name of ['direct', 'causeway']) await load(ports[name], 2); // warm-up: JIT, sessions
  for (let r = 0; r < rounds; r++) {
    for (const name of r % 2 ? ['causeway', 'direct'] : ['direct', 'causeway']) {
      const m = await load(ports[name], duration);
      samples[name].push(m);
      console.error(`round ${r + 1}/${rounds}  ${name.padEnd(9)} ${String(m.rps).padStart(7)} calls/s  p50 ${m.p50} ms  p99 ${m.p99} ms  errors ${m.errors}`);
    }
  }
} finally {
  cleanup();
  rmSync(tmp, { recursive: true, force: true });
}

const summary = Object.fromEntries(
  Object.entries(samples).map(([name, ms]) => [name, { rps: median(ms.map((m) => m.rps)), p50: median(ms.map((m) => m.p50)), p99: median(ms.map((m) => m.p99)), errors: ms.reduce((n, m) => n + m.errors, 0) }]),
);
console.log(`\ngRPC unary, ${sessions} sessions x ${streams} streams, ${rounds} rounds of ${duration} s (median)${pinned ? ', load on CPU 0, backend and gateway on CPU 1' : ', unpinned'}`);
console.log('| path | calls/s | p50 ms | p99 ms | errors |');
console.log('|---|---|---|---|---|');
for (const [name, s] of Object.entries(summary)) console.log(`| ${name} | ${s.rps} | ${s.p50} | ${s.p99} | ${s.errors} |`);
console.log(`\nthrough Causeway / direct: ${(summary.causeway.rps / summary.direct.rps).toFixed(2)}x the calls/s, p99 ${(summary.causeway.p99 / summary.direct.p99).toFixed(2)}x`);
