/** Workers' standard output relayed through the primary in whole lines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { relayLines } from '../../src/cluster/output.js';

test('relayLines writes whole lines only: a line split across chunks is written once complete, a last unterminated line at the end', async () => {
  const from = new PassThrough();
  const writes: string[] = [];
  relayLines(from, { write: (s) => writes.push(s) });
  for (const chunk of ['{"a":1}\n{"b"', ':2}\n{"c":3}\n{"d"', ':4', '}\n', 'tail']) from.write(chunk);
  from.end();
  await new Promise((r) => from.once('end', r));
  assert.deepEqual(writes, ['{"a":1}\n', '{"b":2}\n{"c":3}\n', '{"d":4}\n', 'tail\n']);
  assert.ok(writes.every((w) => w.endsWith('\n')));
});
