/**
 * Attempt: one exchange on a leased connection, driven by a real undici Client against a real
 * loopback backend.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Attempt, type AttemptOwner } from '../../src/upstream/attempt.js';
import { TargetPool, type Slot } from '../../src/upstream/pool.js';
import { parseTarget, type Target } from '../../src/upstream/target.js';

let backend: http.Server;
let target: Target;
let requests = 0;

before(async () => {
  backend = http.createServer((req, res) => {
    requests++;
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  target = parseTarget(`http://127.0.0.1:${(backend.address() as AddressInfo).port}`);
});

after(async () => {
  backend.closeAllConnections();
  await new Promise<void>((r) => backend.close(() => r()));
});

/** An owner that reports how the attempt ended. */
function owner(): { owner: AttemptOwner; ended: Promise<{ how: 'complete' | 'error'; code?: string | undefined }> } {
  let done!: (v: { how: 'complete' | 'error'; code?: string | undefined }) => void;
  const ended = new Promise<{ how: 'complete' | 'error'; code?: string | undefined }>((r) => (done = r));
  return {
    ended,
    owner: {
      onAttemptHeaders: () => true,
      onAttemptInterim: () => {},
      onAttemptData: () => true,
      onAttemptComplete: () => done({ how: 'complete' }),
      onAttemptError: (_a, err) => done({ how: 'error', code: err.code }),
    },
  };
}

test('an abort asked for while undici is still connecting for the attempt is applied when it connects: the request is never sent', async () => {
  const pool = new TargetPool(target, { maxConnections: 1, maxQueue: 1, queueTimeout: 1000, idleTimeout: 4000, connect: { timeout: 2000 } });
  try {
    const slot = await new Promise<Slot>((resolve, reject) => pool.lease((s) => (s ? resolve(s) : reject(new Error('no slot')))));
    const before = requests;
    const o = owner();
    const attempt = new Attempt(target, o.owner, { send: 5000, read: 5000 }, null);
    // No connection open on the slot: undici connects for this dispatch (asynchronously), so
    // the abort below comes before its onConnect.
    attempt.dispatch(slot, { path: '/never', method: 'GET', headers: [], body: null, headersTimeout: 0, bodyTimeout: 0 });
    attempt.abort('total');
    const end = await o.ended;
    assert.deepEqual(end, { how: 'error', code: 'CAUSEWAY_BUDGET' });
    assert.equal(attempt.timedOut, 'total');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(requests, before, 'the backend never saw the request');
    pool.release(slot);
  } finally {
    await pool.close();
  }
});
