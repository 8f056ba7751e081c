#!/usr/bin/env node
// CPU profile of Causeway under the bench workload: Causeway runs with `node --cpu-prof` on CPU 1
// in front of the bench backend, wrk drives it from CPU 0, then bench/profile-top.mjs summarises
// the self time. Usage: node bench/profile.mjs [--duration 10] [--top 15]. Writes bench/results/causeway.cpuprofile.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { causewayAccepts, causewayMain, cleanup, firstLine, freePort, here, onCleanup, parseArgs, start, stop, waitPort, wrk } from './lib.mjs';

const args = parseArgs();
const duration = Number(args.duration ?? 10);
const tmp = mkdtempSync(join(tmpdir(), 'causeway-prof-'));
onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
let result;
try {
  const backend = start(process.execPath, [join(here, 'backend.mjs')], { cpu: 1 });
  const bport = Number(await firstLine(backend));
  const port = await freePort();
  let yaml = `listen: { host: 127.0.0.1, port: ${port} }\nlog: { file: ${join(tmp, 'access.log')} }\nupstreams:\n  b: { targets: [{ url: "http://127.0.0.1:${bport}" }] }\nroutes:\n  - { name: bench, match: { path: /* }, upstream: b }\n`;
  for (const frag of [`admin: { host: 127.0.0.1, port: ${await freePort()} }\n`, `storage: { path: ${join(tmp, 'causeway.db')} }\n`, 'metrics: { enabled: true }\n']) if (causewayAccepts(tmp, yaml + frag)) yaml += frag;
  writeFileSync(join(tmp, 'causeway.yaml'), yaml);
  const cw = start(process.execPath, ['--cpu-prof', '--cpu-prof-dir', join(tmp, 'prof'), causewayMain, 'start', '-c', join(tmp, 'causeway.yaml')], { cpu: 1 });
  await waitPort(port);
  await wrk(port, 2, 50);
  result = await wrk(port, duration, 50);
  await stop(cw, 15_000); // graceful stop: the profile is written at exit
  const file = readdirSync(join(tmp, 'prof')).find((f) => f.endsWith('.cpuprofile'));
  mkdirSync(join(here, 'results'), { recursive: true });
  copyFileSync(join(tmp, 'prof', file), join(here, 'results', 'causeway.cpuprofile'));
} finally {
  await cleanup();
}
console.log(`Causeway under wrk (50 connections, ${duration} s, profiled): ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms\n`);
spawnSync(process.execPath, [join(here, 'profile-top.mjs'), join(here, 'results', 'causeway.cpuprofile'), String(args.top ?? 15)], { stdio: 'inherit' });
