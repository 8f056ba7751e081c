/**
 * `workers: 2` under the request that used to end a worker (a 100 KB chunk extension on a cold
 * pool, and resets right after the headers): no worker exits, and another client's requests in
 * flight at the same time all complete.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { sleep, startCluster, type TestCluster } from '../helpers/cluster.js';
import { rawExchange, send, startBackend, type Backend } from '../helpers/wire.js';

describe('workers: 2 survive the hostile request shapes', () => {
  let slow: Backend;
  let c: TestCluster;

  before(async () => {
    slow = await startBackend((_req, res) => setTimeout(() => res.end('finally'), 400));
    // idleTimeout 1ms: every call needs a fresh upstream connection (the cold pool of the report).
    c = await startCluster(`
upstreams:
  main: { targets: [{ url: ${slow.url} }], pool: { idleTimeout: 1ms }, timeouts: { read: 10s } }
routes:
  - { name: public, match: { path: /public/* }, upstream: main }
`);
  });
  after(async () => {
    await c?.cleanup();
    await slow?.close();
  });

  test('the exact bytes of the report, 20 times, while another client waits on slow calls', async () => {
    const pids = c.pids();
    const inFlight = Array.from({ length: 10 }, (_, i) => send(`${c.url}/public/slow-${i}`, { timeout: 10_000 }));
    const attack = `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;${'a'.repeat(100_000)}\r\nhello\r\n0\r\n\r\n`;
    for (let i = 0; i < 20; i++) {
      const r = await rawExchange(c.port, attack, 5000);
      assert.equal(r.status, 400, r.raw.slice(0, 200));
      const s = net.connect({ host: '127.0.0.1', port: c.port });
      s.on('error', () => undefined);
      s.write('POST /public/rst HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n', () => s.resetAndDestroy());
    }
    const replies = await Promise.all(inFlight);
    assert.deepEqual(replies.map((r) => r.status), Array(10).fill(200), 'every request of the other client completed');
    await sleep(300);
    assert.deepEqual(c.pids(), pids, 'no worker was replaced');
    assert.equal(c.lines().filter((l) => /exited/.test(String(l.msg))).length, 0, 'no worker exited');
  });
});
