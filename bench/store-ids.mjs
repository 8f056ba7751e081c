#!/usr/bin/env node
// What request ids cost the call log: two SQLite files with the call log's schema, written through
// its own writer (CallWriter) in alternating batches of 500 calls, one with random UUIDv4 request
// ids, one with Causeway's time-ordered UUIDv7 ids. Prints µs per row for each. Needs `npm run
// build`. Usage: node bench/store-ids.mjs [--rows 200000]
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CallWriter } from '../dist/src/observe/store-writer.js';
import { SCHEMA, pushRow } from '../dist/src/observe/store-format.js';
import { uuidv7 } from '../dist/src/util/random.js';
import { performance } from 'node:perf_hooks';
import { prepareConnection } from '../dist/src/util/sqlite.js';
import { parseArgs } from './lib.mjs';

const args = parseArgs();
const rows = Number(args.rows ?? 200_000);
const B = 500;
const dir = mkdtempSync(join(tmpdir(), 'causeway-ids-'));
function writer(name) {
  const db = new Database(join(dir, `${name}.db`));
  prepareConnection(db, true); // as the call log's writer thread opens it
  db.exec(SCHEMA);
  return new CallWriter(db, { maxAgeMs: 1e12, maxRows: 1e9, now: Date.now });
}
const variants = { 'UUIDv4 (random)': { w: writer('v4'), id: () => randomUUID(), ms: 0 }, 'UUIDv7 (time-ordered)': { w: writer('v7'), id: uuidv7, ms: 0 } };
const call = (requestId) => ({
  requestId, time: Date.now(), route: 'bench', upstream: 'b', consumer: null, method: 'GET', path: '/', status: 200, code: null,
  attempts: [{ target: '127.0.0.1:8081', outcome: 200, phase: null, reused: true, timings: { dns: 0, connect: 0, tls: 0, send: 0.7, ttfb: 8, body: 0.3 }, durationMs: 9 }],
  bytesIn: 0, bytesOut: 62, durationMs: 9.4, clientIp: '127.0.0.1',
});
const names = Object.keys(variants);
for (let k = 0; k < rows / B; k++) {
  for (let i = 0; i < names.length; i++) {
    const v = variants[names[(i + k) % names.length]];
    const batch = [];
    for (let j = 0; j < B; j++) pushRow(call(v.id()), batch);
    const t0 = performance.now();
    v.w.write(batch);
    v.ms += performance.now() - t0;
  }
}
for (const n of names) console.log(`${n.padEnd(22)} ${((variants[n].ms * 1000) / rows).toFixed(1)} µs per row (${rows} rows)`);
rmSync(dir, { recursive: true, force: true });
