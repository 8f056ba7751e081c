#!/usr/bin/env node
// Call log query times over a large store: fills a temporary SQLite file with synthetic calls
// (default 1,000,000 spread over the last 24 h, 20 routes, 5% failures over 6 codes) through the
// store's own batched write path, then times get / query / stats as the admin API, explain and
// the dashboard use them. Needs `npm run build` first. Options: --rows 1000000 --keep
// Prints a table and writes bench/results/store.json.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCallStore } from '../dist/src/observe/store.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1] === undefined || all[i + 1].startsWith('--') ? true : all[i + 1]]] : acc), []));
const rows = Number(args.rows ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'causeway-store-bench-'));
const path = join(dir, 'calls.db');

// Deterministic pseudo-random numbers (mulberry32), so runs are comparable.
let seed = 42;
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const CODES = ['UPSTREAM_CONNECT_TIMEOUT', 'UPSTREAM_CONNECTION_REFUSED', 'UPSTREAM_RESPONSE_TIMEOUT', 'UPSTREAM_CONNECTION_RESET', 'GATEWAY_TIMEOUT', 'UPSTREAM_POOL_EXHAUSTED'];
const ROUTES = Array.from({ length: 20 }, (_, i) => `route${i}`);
const now = Date.now();
const span = 24 * 3600_000;

function synthetic(i) {
  const route = ROUTES[Math.floor(rand() * ROUTES.length)];
  const failed = rand() < 0.05;
  const code = failed ? CODES[Math.floor(rand() * CODES.length)] : null;
  const target = `10.0.0.${1 + Math.floor(rand() * 4)}:8080`;
  const ttfb = Math.round(-Math.log(1 - rand()) * 40 * 100) / 100;
  const timings = { dns: 0, connect: rand() < 0.1 ? 0.4 : 0, tls: 0, send: 0.05, ttfb, body: 0.3 };
  return {
    requestId: `bench-${i.toString(36)}-${Math.floor(rand() * 1e9).toString(36)}`,
    time: now - span + Math.floor((i / rows) * span),
    route,
    upstream: route.replace('route', 'up'),
    consumer: null,
    method: 'GET',
    path: `/api/${route}/${i}`,
    status: failed ? 502 : 200,
    code,
    attempts: [{ target, outcome: code ?? 200, phase: failed ? 'connect' : null, reused: rand() < 0.9, timings, durationMs: ttfb + 0.75 }],
    bytesIn: 0,
    bytesOut: failed ? 0 : 512,
    durationMs: ttfb + 1,
    clientIp: '127.0.0.1',
    traceId: 'f'.repeat(32),
  };
}

function time(label, fn, n = 1) {
  fn(); // warm the statement cache and the page cache
  const t0 = performance.now();
  let out;
  for (let i = 0; i < n; i++) out = fn(i);
  const ms = (performance.now() - t0) / n;
  return { label, ms: Math.round(ms * 100) / 100, out };
}

try {
  const store = openCallStore({ path, maxRows: rows + 1, pruneMs: 3600_000 });
  const ids = [];
  const t0 = performance.now();
  for (let i = 0; i < rows; i++) {
    const c = synthetic(i);
    if (i % 10_000 === 0) ids.push(c.requestId);
    store.record(c);
    if (i % 500 === 499) store.flush();
  }
  store.flush();
  const fillMs = performance.now() - t0;
  console.log(`filled ${rows} calls in ${(fillMs / 1000).toFixed(1)} s (${Math.round(rows / (fillMs / 1000))} calls/s incl. generation), ${Math.round(statSync(path).size / 1e6)} MB`);

  const hour = now - 3600_000;
  const results = [
    time('get(requestId)', (i) => store.get(ids[i % ids.length]), 200),
    time('query({ limit: 100 }) newest', () => store.query({ limit: 100 }), 20),
    time('query({ route, code, limit: 100 })', () => store.query({ route: 'route3', code: 'UPSTREAM_CONNECT_TIMEOUT', limit: 100 }), 20),
    time('query({ upstream, since: -1h, limit: 1000 })', () => store.query({ upstream: 'up7', since: hour, limit: 1000 }), 10),
    time('query({ status: 502, since: -1h })', () => store.query({ status: 502, since: hour }), 10),
    time('stats(last 1 h, 10 s buckets)', () => store.stats({ since: hour, until: now, bucket: 10_000 }), 5),
    time('stats(last 1 h, route, 1 min buckets)', () => store.stats({ since: hour, until: now, bucket: 60_000, route: 'route5' }), 5),
    time('stats(last 24 h = all 1M, 5 min buckets)', () => store.stats({ since: now - span, until: now, bucket: 300_000 }), 3),
    time('stats(last 24 h, one route, 5 min buckets)', () => store.stats({ since: now - span, until: now, bucket: 300_000, route: 'route5' }), 3),
    time('count(upstream, code, ±2.5 min) (explain context)', () => store.count({ upstream: 'up2', code: 'UPSTREAM_CONNECT_TIMEOUT', since: hour, until: hour + 300_000 }), 50),
  ];
  console.log('\n| query | ms |\n|---|---|');
  for (const r of results) console.log(`| ${r.label} | ${r.ms} |`);
  const all = results.find((r) => r.label.startsWith('stats(last 24 h = all'));
  console.log(`\n(check: 24 h stats counted ${all.out.totals.requests} calls, p99 ${all.out.totals.p99} ms)`);
  const t1 = performance.now();
  await store.close();
  console.log(`close (checkpoint) ${Math.round(performance.now() - t1)} ms`);
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(
    join(here, 'results', 'store.json'),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, rows, fillSeconds: Math.round(fillMs / 100) / 10, results: results.map(({ label, ms }) => ({ label, ms })) }, null, 2) + '\n',
  );
} finally {
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${path}`);
}
