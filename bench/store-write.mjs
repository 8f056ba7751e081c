#!/usr/bin/env node
// What one call costs the call log's writer thread in CPU time (user + system, process.cpuUsage), in-process: batches of 512 calls written
// through the store's own CallWriter into fresh SQLite files (WAL, synchronous=NORMAL, as the
// writer thread opens them), in alternating rounds, for:
//   writer             — CallWriter as shipped (rollups + multi-row INSERTs of 32 calls)
//   one INSERT per row — the same schema, one statement per call, as before session 3 (without the
//                        per-minute rollups the writer also does: under 1 µs per call)
//   request-id index   — CallWriter with only the request-id index (the time/route/upstream/code/
//                        status indexes dropped): what the query indexes cost per row
//   journal on disk    — CallWriter with temp_store back to FILE (as before session 5): the
//                        multi-row INSERTs' statement journals spill to a temporary file per batch
// Needs `npm run build`. Usage: node bench/store-write.mjs [--batches 200]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CallWriter } from '../dist/src/observe/store-writer.js';
import { SCHEMA, COLUMNS, NCOL, pushRow } from '../dist/src/observe/store-format.js';
import { uuidv7 } from '../dist/src/util/random.js';
import { prepareConnection } from '../dist/src/util/sqlite.js';
import { parseArgs } from './lib.mjs';

const batches = Number(parseArgs().batches ?? 200);
const B = 512;
const dir = mkdtempSync(join(tmpdir(), 'causeway-store-write-'));
const open = (name, schema) => {
  const db = new Database(join(dir, name));
  prepareConnection(db, true); // as the call log's writer thread opens it
  db.exec(schema);
  return db;
};
const call = (i) => ({
  requestId: uuidv7(), time: Date.now(), route: 'bench', upstream: 'b', consumer: null, method: 'GET', path: `/items/${i % 100}`,
  status: 200, code: null, bytesIn: 0, bytesOut: 62, durationMs: 1.2, clientIp: '127.0.0.1',
  attempts: [{ target: '127.0.0.1:8080', outcome: 200, phase: null, reused: true, timings: { dns: 0, connect: 0, tls: 0, send: 0.1, ttfb: 0.5, body: 0.1 }, durationMs: 0.7 }],
});
const writer = (db, after = []) => {
  const w = new CallWriter(db, { maxAgeMs: 1e12, maxRows: 1e9, now: Date.now });
  for (const p of after) db.pragma(p);
  return (rows) => w.write(rows);
};
const perRow = (db) => {
  const insert = db.prepare(`INSERT INTO calls (${COLUMNS}) VALUES (${COLUMNS.split(',').map(() => '?').join(',')})`);
  return (rows) => db.transaction(() => {
    for (let i = 0; i < rows.length; i += NCOL) insert.run(rows.slice(i, i + NCOL));
  }).immediate();
};
const idOnly = SCHEMA.split('\n').filter((l) => !l.includes('CREATE INDEX') || l.includes('calls_request_id')).join('\n');
const systems = [
  { name: 'writer', write: writer(open('a.db', SCHEMA)) },
  { name: 'one INSERT per row', write: perRow(open('b.db', SCHEMA)) },
  { name: 'request-id index', write: writer(open('c.db', idOnly)) },
  { name: 'journal on disk', write: writer(open('d.db', SCHEMA), ['temp_store = FILE']) },
].map((s) => ({ ...s, ms: 0, rows: 0 }));
try {
  for (let r = 0; r < batches; r++) {
    for (const s of systems) {
      const rows = [];
      for (let i = 0; i < B; i++) pushRow(call(i), rows);
      const c0 = process.cpuUsage();
      s.write(rows);
      const c = process.cpuUsage(c0);
      s.ms += (c.user + c.system) / 1000;
      s.rows += B;
    }
  }
  console.log(`call log writes, ${batches} batches of ${B} calls each, alternating:`);
  for (const s of systems) console.log(`  ${s.name.padEnd(20)} ${((s.ms * 1000) / s.rows).toFixed(1)} µs per call`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
