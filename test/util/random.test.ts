import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomHex, uuidv7 } from '../../src/util/random.js';

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('uuidv7: RFC 9562 shape (version 7, variant 10) with the time in the first 48 bits', () => {
  const now = Date.UTC(2026, 10, 22, 5, 30);
  const id = uuidv7(now);
  assert.match(id, UUIDV7);
  assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), now);
});

test('uuidv7: ids sort in the order they were made, also within one millisecond and past 4096 per ms', () => {
  const t = Date.UTC(2030, 0, 1);
  const ids = Array.from({ length: 10_000 }, (_, i) => uuidv7(t + Math.floor(i / 5000)));
  for (const id of ids) assert.match(id, UUIDV7);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
});

test('uuidv7: a clock that steps back does not reorder ids', () => {
  const t = Date.UTC(2031, 0, 1);
  const a = uuidv7(t);
  const b = uuidv7(t - 5000);
  assert.ok(b > a, `${b} should sort after ${a}`);
});

test('randomHex: the requested length, hex only, and not repeating across pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const h = randomHex(16);
    assert.match(h, /^[0-9a-f]{32}$/);
    seen.add(h);
  }
  assert.equal(seen.size, 2000);
});
