import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessLog, accessLine, closeAccessLog, openAccessLog } from '../../src/observe/access-log.js';
import type { CallRecord } from '../../src/observe/call-record.js';

function call(over: Partial<CallRecord> = {}): CallRecord {
  return {
    requestId: 'req-0001',
    time: 1_700_000_000_000,
    route: 'orders',
    upstream: 'orders',
    consumer: null,
    method: 'GET',
    path: '/orders/1?q="x"\\y',
    status: 502,
    code: 'UPSTREAM_CONNECTION_REFUSED',
    attempts: [
      { target: '127.0.0.1:9001', outcome: 'UPSTREAM_CONNECTION_REFUSED', phase: 'connect', error: 'ECONNREFUSED', reused: false, retry: 'connect-failure', timings: { dns: 0, connect: 0.5, tls: 0, send: 0, ttfb: 0, body: 0 }, durationMs: 0.5 },
      { target: '127.0.0.1:9002', outcome: 200, phase: null, reused: true, timings: { dns: 0, connect: 0, tls: 0, send: 0.1, ttfb: 2.5, body: 0.2 }, durationMs: 2.8 },
    ],
    bytesIn: 0,
    bytesOut: 120,
    durationMs: 30.25,
    clientIp: '127.0.0.1',
    ...over,
  };
}

test('accessLine is one JSON line with every field of the record', () => {
  const line = accessLine(call());
  assert.ok(line.endsWith('\n'));
  assert.equal(line.indexOf('\n'), line.length - 1);
  const j = JSON.parse(line);
  assert.equal(j.level, 30);
  assert.equal(j.kind, 'access');
  assert.equal(j.requestId, 'req-0001');
  assert.equal(j.path, '/orders/1?q="x"\\y', 'strings are escaped');
  assert.equal(j.target, '127.0.0.1:9002', 'target is the last attempt');
  assert.equal(j.code, 'UPSTREAM_CONNECTION_REFUSED');
  assert.equal(j.attempts.length, 2);
  assert.deepEqual(j.attempts[0], call().attempts[0]);
  assert.deepEqual(j.attempts[1], call().attempts[1]);
  assert.equal(j.durationMs, 30.25);
});

test('accessLine handles a call with no attempts and no code', () => {
  const j = JSON.parse(accessLine(call({ attempts: [], code: null, route: null, upstream: null, status: 200 })));
  assert.equal(j.target, null);
  assert.equal(j.code, null);
  assert.equal(j.msg, 'ok');
  assert.deepEqual(j.attempts, []);
});

test('AccessLog batches records and writes them all to the file by close()', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'causeway-access-'));
  try {
    const file = join(dir, 'access.log');
    const target = openAccessLog(file);
    const log = new AccessLog(target);
    for (let i = 0; i < 1200; i++) log.record(call({ requestId: `req-${String(i).padStart(6, '0')}` }));
    await log.close();
    closeAccessLog(target);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 1200);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).requestId),
      Array.from({ length: 1200 }, (_, i) => `req-${String(i).padStart(6, '0')}`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a gateway writes one access line per call, from the call-log writer thread or, with the call log off, from its own', async () => {
  const { ok } = await import('../helpers/backends.js');
  const { startGateway } = await import('../helpers/gateway.js');
  const { openCallStore } = await import('../../src/observe/store.js');
  const backend = await ok();
  const dir = mkdtempSync(join(tmpdir(), 'causeway-access-gw-'));
  try {
    // A file-backed call log: its writer thread writes the lines. In memory or off: the request thread does, asynchronously.
    for (const storage of ['file', 'memory', 'off'] as const) {
      const file = join(dir, `access-${storage}.log`);
      const db = join(dir, 'calls.db');
      const st = storage === 'off' ? '{ enabled: false }' : `{ path: ${storage === 'file' ? db : '":memory:"'} }`;
      const gw = await startGateway(
        `log: { file: ${file} }\nstorage: ${st}\nupstreams:\n  b: { targets: [{ url: "${backend.url}" }] }\nroutes:\n  - { name: r, match: { path: /* }, upstream: b }\n`,
      );
      assert.equal(gw.gateway.store?.writesAccessLog ?? false, storage === 'file');
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) {
        const res = await fetch(`${gw.url}/item/${i}?q="${i}"`);
        await res.arrayBuffer();
        ids.push(res.headers.get('x-request-id')!);
      }
      await gw.close();
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => l.requestId), ids, `storage ${storage}: every call, in order`);
      assert.equal(lines[3].path, '/item/3?q=%223%22');
      assert.equal(lines[3].route, 'r');
      assert.equal(lines[3].status, 200);
      assert.equal(lines[3].attempts.length, 1);
      if (storage === 'file') {
        // The same call, as the call log has it: the line is made from its row.
        const store = openCallStore({ path: db, readonly: true });
        const rec = store.get(ids[3]!)!;
        assert.equal(accessLine(rec), JSON.stringify(lines[3]) + '\n');
        await store.close();
      }
    }
  } finally {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
