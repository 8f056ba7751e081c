/** `workers:` in the config: what it resolves to, and what it may not be combined with. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { resolveWorkers } from '../../src/cluster/workers.js';

const UPSTREAMS = 'upstreams: { a: { targets: [{ url: "http://127.0.0.1:9" }] } }\n';

test('workers: auto is one per CPU this process may use; a number is itself; the default is 1', () => {
  assert.equal(resolveWorkers('auto'), availableParallelism());
  assert.equal(resolveWorkers(3), 3);
  assert.equal(parseConfig(UPSTREAMS).workers, 1);
  assert.equal(parseConfig(`workers: auto\n${UPSTREAMS}`).workers, 'auto');
});

test('workers must be auto or a whole number from 1 to 256', () => {
  for (const bad of ['0', '1.5', 'two', '257']) {
    assert.throws(
      () => parseConfig(`workers: ${bad}\n${UPSTREAMS}`, 'c.yaml'),
      (e: ConfigError) => /c\.yaml:1:10 workers: expected auto or a whole number of processes from 1 to 256/.test(e.message),
      bad,
    );
  }
});

test('several workers cannot share an in-memory call log: a config error naming storage.path', () => {
  for (const w of ['2', 'auto']) {
    assert.throws(
      () => parseConfig(`workers: ${w}\nstorage: { path: ":memory:" }\n${UPSTREAMS}`, 'c.yaml'),
      (e: ConfigError) => /c\.yaml:2:\d+ storage\.path: workers: \w+ runs several processes, and an in-memory call log \(:memory:\) cannot be shared/.test(e.message),
    );
  }
  // Without a call log, or with one worker, it is fine.
  assert.equal(parseConfig(`workers: 2\nstorage: { enabled: false, path: ":memory:" }\n${UPSTREAMS}`).workers, 2);
  assert.equal(parseConfig(`workers: 1\nstorage: { path: ":memory:" }\n${UPSTREAMS}`).workers, 1);
});
