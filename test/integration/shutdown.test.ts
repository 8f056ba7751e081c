/**
 * Graceful shutdown: stop() refuses new connections at once, lets calls in flight finish (and
 * tells their clients not to reuse the connection), closes idle keep-alive connections, and
 * gives up on stragglers after its timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startGateway } from '../helpers/gateway.js';
import { send, startBackend, until, type Reply } from '../helpers/wire.js';

/** Resolves with the connect error code, or 'connected' if a connection was accepted. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

async function slowSetup(delayMs: number) {
  const backend = await startBackend((_req, res) => {
    const t = setTimeout(() => res.end('finally'), delayMs);
    res.on('close', () => clearTimeout(t));
  });
  const gw = await startGateway(`
log: { access: false }
upstreams:
  main: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: all, match: { path: /* }, upstream: main }
`);
  return { backend, gw };
}

test('stop(): the in-flight request completes with 200, new connections are refused as soon as stop begins', async () => {
  const { backend, gw } = await slowSetup(500);
  try {
    const inflight = send(`${gw.url}/slow`, { timeout: 10_000 });
    assert.ok(await until(() => backend.seen.length === 1, 5000), 'the backend never got the request');
    const t0 = performance.now();
    const stopped = gw.gateway.stop(10_000);
    assert.equal(await tryConnect(gw.port), 'ECONNREFUSED');
    const r: Reply = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.text, 'finally');
    assert.equal(r.headers.connection, 'close', 'a draining gateway tells the client not to reuse the connection');
    await stopped;
    const took = performance.now() - t0;
    assert.ok(took < 5000, `stop() took ${took} ms: it should end once the call finished, not at its timeout`);
    const rec = gw.records.find((x) => x.requestId === r.headers['x-request-id']);
    assert.equal(rec?.status, 200);
  } finally {
    await gw.close();
    await backend.close();
  }
});

test('stop(): idle keep-alive client connections are closed promptly', async () => {
  const { backend, gw } = await slowSetup(0);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const r = await send(`${gw.url}/fast`, { agent });
    assert.equal(r.status, 200);
    const [socket] = Object.values(agent.freeSockets).flat();
    assert.ok(socket, 'the client kept its connection');
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const t0 = performance.now();
    await gw.gateway.stop(10_000);
    await closed;
    assert.ok(performance.now() - t0 < 3000);
  } finally {
    agent.destroy();
    await gw.close();
    await backend.close();
  }
});

test('stop(timeout): a call still running at the timeout is cut and stop() returns', async () => {
  const { backend, gw } = await slowSetup(5000);
  try {
    const inflight = send(`${gw.url}/very-slow`, { timeout: 10_000 }).then(
      (r) => `status ${r.status}`,
      (err: NodeJS.ErrnoException) => err.code ?? err.message,
    );
    assert.ok(await until(() => backend.seen.length === 1, 5000));
    const t0 = performance.now();
    await gw.gateway.stop(300);
    const took = performance.now() - t0;
    assert.ok(took >= 250 && took < 3000, `stop(300) took ${took} ms`);
    assert.equal(await inflight, 'ECONNRESET', 'the client sees its connection cut');
    assert.equal(await tryConnect(gw.port), 'ECONNREFUSED');
  } finally {
    await gw.close();
    await backend.close();
  }
});
