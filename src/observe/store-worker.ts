/**
 * The call log writer thread. Messages: `{ batch, seq }` writes a batch, `{ prune: true, seq }`
 * enforces retention; after each, `done` (slot 1 of the shared barrier) is set to `seq` and
 * waiters are woken, so the store can wait for its writes when a reader needs them (flush()).
 * Slot 2 carries the row count a prune deleted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CallWriter, WriteHealth } from './store-writer.js';
import { NCOL, type RowValue } from './store-format.js';
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

const health = new WriteHealth((state) => parentPort!.postMessage({ health: state }));

parentPort!.on('message', (m: { batch?: RowValue[]; prune?: boolean; close?: boolean; seq: number }) => {
  try {
    // A failed write (a full disk) drops its batch and is reported; the next one tries again.
    if (m.batch) health.run(() => writer.write(m.batch!), m.batch.length / NCOL);
    if (m.prune) health.run(() => Atomics.store(barrier, 2, writer.prune()), 0);
    if (m.close) {
      health.run(() => db.pragma('wal_checkpoint(TRUNCATE)'), 0);
      db.close();
    }
  } finally {
    Atomics.store(barrier, 1, m.seq);
    Atomics.notify(barrier, 1);
  }
  if (m.close) parentPort!.close();
});
