/**
 * The call log writer thread. Messages: `{ batch, seq }` writes a batch, `{ prune: true, seq }`
 * enforces retention; after each, `done` (slot 1 of the shared barrier) is set to `seq` and
 * waiters are woken, so the store can wait for its writes when a reader needs them (flush()).
 * Slot 2 carries the row count a prune deleted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CallWriter } from './store-writer.js';
import type { RowValue } from './store-format.js';
import { prepareConnection } from '../util/sqlite.js';
import type { AccessTarget } from './access-log.js';

interface WriterData {
  path: string;
  maxAgeMs: number;
  maxRows: number;
  barrier: SharedArrayBuffer;
  /** The access log this thread writes too (its descriptor is the process's). */
  access?: AccessTarget;
}

const data = workerData as WriterData;
const barrier = new Int32Array(data.barrier);
const db = new Database(data.path);
prepareConnection(db, true);
const writer = new CallWriter(db, { maxAgeMs: data.maxAgeMs, maxRows: data.maxRows, now: Date.now, access: data.access });

parentPort!.on('message', (m: { batch?: RowValue[]; prune?: boolean; close?: boolean; seq: number }) => {
  try {
    if (m.batch) writer.write(m.batch);
    if (m.prune) Atomics.store(barrier, 2, writer.prune());
    if (m.close) {
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    }
  } finally {
    Atomics.store(barrier, 1, m.seq);
    Atomics.notify(barrier, 1);
  }
  if (m.close) parentPort!.close();
});
