/**
 * The call log shared by workers: several processes, each with its own writer thread, write one
 * SQLite file at the same time. Every batch is one BEGIN IMMEDIATE transaction, so the
 * per-minute rollups (read, merge, write back) lose nothing to a concurrent writer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCallStore } from '../../src/observe/store.js';

const WRITER = fileURLToPath(new URL('./fixtures/call-writer.js', import.meta.url));
const message = (c: ChildProcess, what: string) => new Promise<void>((r) => c.on('message', (m) => m === what && r()));

test('three processes writing one call log at once: every call is stored and counted once in the rollups', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'causeway-calllog-'));
  const file = join(dir, 'calls.db');
  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
  const n = 3000;
  try {
    // Create the file first, as the lead would: three processes racing to create the schema is a separate matter.
    await openCallStore({ path: file }).close();
    const writers = [1, 2, 3].map(() => fork(WRITER, [file, String(n), String(minute)], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    await Promise.all(writers.map((w) => message(w, 'ready')));
    const done = writers.map((w) => message(w, 'done'));
    for (const w of writers) w.send('go');
    await Promise.all(done);
    const store = openCallStore({ path: file, readonly: true });
    try {
      assert.equal(store.count({ route: 'shared' }), 3 * n);
      const s = store.stats({ since: minute, until: minute + 60_000, bucket: 60_000 });
      assert.equal(s.totals.requests, 3 * n, 'the per-minute rollup counts every call once');
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
