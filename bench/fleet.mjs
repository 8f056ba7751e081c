#!/usr/bin/env node
// The fleet's PostgreSQL store, measured (docs/fleet.md "Sizing"; bench/RESULTS.md):
//  1. one node's throughput with the PostgreSQL call log vs the SQLite one: the same small GET
//     through one Causeway process that differs only in storage (url vs path), interleaved rounds,
//     medians reported;
//  2. ingestion with three nodes at full speed: three `causeway start` processes on one
//     storage.url, each loaded by its own wrk at once; calls served (wrk) vs calls written
//     (rows in PostgreSQL) and dropped (each node's causeway_call_log_dropped_total);
//  3. query times over --rows stored calls (default 10 million, made server-side with
//     INSERT ... SELECT generate_series over the last 7 days): explain-by-id and the dashboard's
//     stats queries, median of repeated runs.
// A real PostgreSQL is started in a temporary directory (test/helpers/postgres.ts), the gateways
// and the backend are real processes; wrk on CPU 0 when pinning is possible. Needs `npm run build`.
//
//   node bench/fleet.mjs [--duration 10] [--rounds 3] [--connections 50] [--rows 10000000] [--skip ingest,single,queries]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { causewayMain, cleanup, firstLine, freePort, haveWrk, here, median, onCleanup, parseArgs, sleep, start, stop, waitPort, wrk } from './lib.mjs';

const { startPostgres } = await import('../dist/test/helpers/postgres.js');
const { connect, migrate } = await import('../dist/src/fleet/db.js');
const { PgCallStore } = await import('../dist/src/observe/store-pg.js');
const { explainCall } = await import('../dist/src/diagnose/explain.js');

const args = parseArgs();
const duration = Number(args.duration ?? 10);
const rounds = Number(args.rounds ?? 3);
const connections = Number(args.connections ?? 50);
const rows = Number(args.rows ?? 10_000_000);
const skip = new Set(typeof args.skip === 'string' ? args.skip.split(',') : []);
if (!haveWrk()) {
  console.error('bench: wrk is not installed');
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'causeway-fleet-bench-'));
onCleanup(() => rmSync(dir, { recursive: true, force: true }));
const pg = await startPostgres();
onCleanup(() => pg.destroy());
const sql = connect(pg.url, { max: 2 });
onCleanup(() => sql.end({ timeout: 1 }));
await migrate(sql);

const backend = start(process.execPath, [join(here, 'backend.mjs')], { cpu: 1 });
const backendPort = Number(await firstLine(backend));
const out = { date: new Date().toISOString(), duration, rounds, connections };

async function startNode(name, storage) {
  const port = await freePort();
  const admin = await freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `node: ${name}\nlisten: { host: 127.0.0.1, port: ${port} }\nadmin: { host: 127.0.0.1, port: ${admin} }\nlog: { level: warn, access: false }\nstorage: ${storage}\n` +
      `upstreams:\n  b: { targets: [{ url: http://127.0.0.1:${backendPort} }] }\nroutes:\n  - { name: bench, match: { path: /bench }, upstream: b }\n`,
  );
  const child = start(process.execPath, [causewayMain, 'start', '-c', file], { cpu: 1 });
  await waitPort(port, 30_000);
  await waitPort(admin, 30_000);
  return { name, port, admin, child };
}

async function metric(node, name) {
  const text = await new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${node.admin}/metrics`, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

// ---- 1. one node: SQLite vs PostgreSQL call log ------------------------------------------------
if (!skip.has('single')) {
  const variants = { sqlite: () => `{ path: ${join(dir, 'single.db')} }`, postgres: () => `{ url: "${pg.url}" }` };
  const results = { sqlite: [], postgres: [] };
  for (let r = 0; r < rounds; r++) {
    for (const v of r % 2 ? ['postgres', 'sqlite'] : ['sqlite', 'postgres']) {
      const node = await startNode(`single-${v}`, variants[v]());
      await wrk(node.port, 2, connections);
      const w = await wrk(node.port, duration, connections);
      results[v].push(w);
      console.log(`round ${r + 1} ${v.padEnd(8)} ${w.rps.toFixed(0)} req/s  p50 ${w.p50} ms  p99 ${w.p99} ms  non-2xx ${w.non2xx}`);
      await stop(node.child);
    }
  }
  const m = (v, k) => median(results[v].map((x) => x[k]));
  out.single = { sqlite: { rps: m('sqlite', 'rps'), p99: m('sqlite', 'p99') }, postgres: { rps: m('postgres', 'rps'), p99: m('postgres', 'p99') } };
  out.single.ratio = out.single.postgres.rps / out.single.sqlite.rps;
  console.log(`one node, median of ${rounds}: SQLite ${out.single.sqlite.rps.toFixed(0)} req/s, PostgreSQL ${out.single.postgres.rps.toFixed(0)} req/s (${out.single.ratio.toFixed(2)}x)`);
}

// ---- 2. three nodes at full speed: written vs served ---------------------------------------------
if (!skip.has('ingest')) {
  await sql`TRUNCATE calls`;
  const nodes = [];
  for (const name of ['fleet-1', 'fleet-2', 'fleet-3']) nodes.push(await startNode(name, `{ url: "${pg.url}" }`));
  for (const n of nodes) await wrk(n.port, 1, 10);
  await sleep(1000); // the warm-up's calls written before counting
  const warm = (await sql`SELECT count(*)::int AS n FROM calls`)[0].n;
  const per = Math.max(10, Math.floor(connections / 3));
  const t0 = Date.now();
  const loads = await Promise.all(nodes.map((n) => wrk(n.port, duration, per)));
  const served = loads.reduce((a, w) => a + w.requests, 0);
  const servedRps = loads.reduce((a, w) => a + w.rps, 0);
  // What was written by the end of the load, and once the buffers drained.
  const atEnd = (await sql`SELECT count(*)::int AS n FROM calls`)[0].n - warm;
  let written = atEnd;
  const end = Date.now() + 15_000;
  while (written < served && Date.now() < end) {
    await sleep(200);
    written = (await sql`SELECT count(*)::int AS n FROM calls`)[0].n - warm;
  }
  const drainedMs = Date.now() - t0 - duration * 1000;
  const dropped = (await Promise.all(nodes.map((n) => metric(n, 'causeway_call_log_dropped_total')))).reduce((a, b) => a + b, 0);
  const byNode = await sql`SELECT node, count(*)::int AS n FROM calls GROUP BY node ORDER BY node`;
  out.ingest = { nodes: 3, served, servedRps, writtenDuringLoad: atEnd, written, writtenRps: atEnd / duration, dropped, drainedAfterMs: drainedMs, byNode: Object.fromEntries(byNode.map((r) => [r.node, r.n])) };
  console.log(
    `three nodes, ${duration} s at full speed: served ${served} (${servedRps.toFixed(0)} req/s), written ${atEnd} by the end of the load (${(atEnd / duration).toFixed(0)} calls/s), ${written} after ${drainedMs} ms, dropped ${dropped}`,
  );
  for (const n of nodes) await stop(n.child);
}

// ---- 3. queries over many stored calls -------------------------------------------------------------
if (!skip.has('queries')) {
  await sql`TRUNCATE calls`;
  const DAY = 86_400_000;
  const now = Date.now();
  const span = 7 * DAY;
  for (let d = Math.floor((now - span) / DAY); d <= Math.floor(now / DAY) + 1; d++) {
    const name = `calls_${new Date(d * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`;
    await sql.unsafe(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF calls FOR VALUES FROM (${d * DAY}) TO (${(d + 1) * DAY})`);
  }
  const attempts = JSON.stringify([{ target: '127.0.0.1:9001', outcome: 200, phase: null, reused: true, timings: { dns: 0, connect: 0, tls: 0, send: 0.05, ttfb: 2.1, body: 0.2 }, durationMs: 2.4 }]);
  const t0 = Date.now();
  const chunk = 1_000_000;
  for (let from = 0; from < rows; from += chunk) {
    const to = Math.min(rows, from + chunk) - 1;
    await sql.unsafe(
      `INSERT INTO calls (request_id, time, node, route, upstream, target, consumer, method, path, status, code, duration, bytes_in, bytes_out, client_ip, trace_id, attempts)
       SELECT 'gen-' || i, $1::bigint - (i * ($2::float8 / $3))::bigint, 'gen-' || (i % 3), 'route-' || (i % 10), 'up-' || (i % 5), '127.0.0.1:9001', NULL, 'GET', '/api/items/' || (i % 1000),
              CASE WHEN i % 100 = 0 THEN 502 ELSE 200 END, CASE WHEN i % 100 = 0 THEN 'UPSTREAM_CONNECTION_REFUSED' END, (i % 500) / 10.0, 0, 512, '127.0.0.1', NULL, $4
       FROM generate_series(${from}, ${to}) AS i`,
      [now, span, rows, attempts],
    );
  }
  const insertMs = Date.now() - t0;
  await sql`ANALYZE calls`;
  const size = (await sql`SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS s, sum(pg_total_relation_size(c.oid))::bigint AS b FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'calls'`)[0];
  console.log(`generated ${rows} calls over 7 days in ${(insertMs / 1000).toFixed(1)} s; on disk with indexes: ${size.s}`);
  const store = PgCallStore.reader(sql);
  const timed = async (n, fn) => {
    const ms = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await fn(i);
      ms.push(performance.now() - t);
    }
    return { median: Math.round(median(ms) * 10) / 10, max: Math.round(Math.max(...ms) * 10) / 10 };
  };
  const id = (i) => `gen-${Math.floor(((i * 7919) % 997) / 997 * rows)}`;
  const q = {
    getById: await timed(21, (i) => store.get(id(i))),
    explainById: await timed(21, (i) => explainCall(store, id(i + 100))),
    stats15m10s: await timed(7, () => store.stats({ since: now - 15 * 60_000, until: now, bucket: 10_000 })),
    stats1h1m: await timed(7, () => store.stats({ since: now - 3_600_000, until: now, bucket: 60_000 })),
    stats24h10m: await timed(5, () => store.stats({ since: now - DAY, until: now, bucket: 600_000 })),
    stats1hOneNode: await timed(7, () => store.stats({ since: now - 3_600_000, until: now, bucket: 60_000, node: 'gen-1' })),
    calls1hCode: await timed(7, () => store.query({ since: now - 3_600_000, code: 'UPSTREAM_CONNECTION_REFUSED', limit: 100 })),
  };
  out.queries = { rows, insertMs, bytes: Number(size.b), ...q };
  for (const [k, v] of Object.entries(q)) console.log(`${k.padEnd(16)} median ${v.median} ms, max ${v.max} ms`);
}

console.log(JSON.stringify(out));
await stop(backend);
await cleanup();
process.exit(0);
