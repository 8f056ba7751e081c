import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attemptsJson, type AttemptRecord } from '../../src/observe/call-record.js';

const timings = { dns: 0, connect: 1.25, tls: 0, send: 0.12, ttfb: 0.53, body: 0.1 };
const ok: AttemptRecord = { target: '127.0.0.1:8080', outcome: 200, phase: null, reused: true, timings, durationMs: 2 };
const failed: AttemptRecord = {
  target: 'api.internal:443',
  outcome: 'UPSTREAM_CONNECT_TIMEOUT',
  phase: 'connect',
  reused: false,
  timings: { ...timings, connect: 1000 },
  durationMs: 1000.01,
  error: 'ETIMEDOUT',
  retry: 'connect-failure',
};

test('attemptsJson writes exactly what JSON.stringify writes, for every field an attempt has', () => {
  for (const attempts of [[], [ok], [failed, ok], [failed, failed, ok]]) {
    assert.equal(attemptsJson(attempts), JSON.stringify(attempts));
  }
  // Every key of a fully populated attempt survives the round trip (a new field must be added to the serializer).
  assert.deepEqual(JSON.parse(attemptsJson([failed])), [failed]);
});

test('attemptsJson escapes what JSON must escape: quotes, backslashes, control characters, lone surrogates', () => {
  const nasty: AttemptRecord = { ...failed, target: 'h"o\\st', error: 'line\nbreak\u0001 \ud800 tail', retry: 'status 503' };
  const text = attemptsJson([nasty]);
  assert.equal(text, JSON.stringify([nasty]));
  assert.deepEqual(JSON.parse(text), [nasty]);
});

test('attemptsJson writes a number that is not finite as null, as JSON.stringify does', () => {
  const odd: AttemptRecord = { ...ok, durationMs: Number.NaN, timings: { ...timings, ttfb: Number.POSITIVE_INFINITY } };
  assert.equal(attemptsJson([odd]), JSON.stringify([odd]));
});

test('attemptsJson is made once per attempts array', () => {
  const attempts = [ok];
  assert.equal(attemptsJson(attempts), attemptsJson(attempts));
  assert.strictEqual(attemptsJson(attempts), attemptsJson(attempts));
});
