import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessLog, accessLine } from '../../src/observe/access-log.js';
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
    const log = new AccessLog(file);
    for (let i = 0; i < 1200; i++) log.record(call({ requestId: `req-${String(i).padStart(6, '0')}` }));
    await log.close();
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
