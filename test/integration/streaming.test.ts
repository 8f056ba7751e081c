/**
 * Bodies through the gateway: 64 MB uploads and downloads arrive byte-exact, a slow reader
 * holds the backend back instead of filling the gateway's memory, chunked responses stream
 * through as they are produced, and body size limits answer 413 before or while uploading.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rawExchange, send, sleep, startBackend, until, type Backend } from '../helpers/wire.js';

const MB = 1024 * 1024;
const BIG = 64 * MB;
const CHUNK = 64 * 1024;

/** Seven distinct 64 KiB blocks, cycled: reordered, dropped or repeated chunks change the hash. */
const BLOCKS = Array.from({ length: 7 }, (_, i) => {
  const b = Buffer.alloc(CHUNK);
  for (let j = 0; j < CHUNK; j++) b[j] = (j * 31 + i * 97 + (j >> 8)) & 0xff;
  return b;
});
const block = (i: number) => BLOCKS[i % BLOCKS.length]!;

function expectedHash(size: number): string {
  const h = createHash('sha256');
  for (let i = 0; i * CHUNK < size; i++) h.update(block(i));
  return h.digest('hex');
}

/** Writes `size` bytes of the block pattern to a writable, waiting for 'drain' when asked to. */
async function writePattern(w: NodeJS.WritableStream & { destroyed?: boolean }, size: number): Promise<void> {
  for (let i = 0; i * CHUNK < size; i++) {
    if (w.destroyed) throw new Error('destination closed mid-write');
    if (!w.write(block(i))) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          w.removeListener('close', onClose);
          resolve();
        };
        const onClose = () => {
          w.removeListener('drain', onDrain);
          reject(new Error('destination closed mid-write'));
        };
        w.once('drain', onDrain);
        w.once('close', onClose);
      });
    }
  }
}

describe('streaming with backpressure', () => {
  let backend: Backend;
  let gw: TestGateway;
  const BIG_HASH = expectedHash(BIG);
  /** Bytes the backend managed to hand to its socket so far, per download. */
  let produced = 0;
  /** Responses of /chunked waiting for the test to write their next chunk. */
  const chunkedSteps: http.ServerResponse[] = [];

  before(async () => {
    backend = await startBackend(
      (req, res) => {
        if (req.url === '/upload') {
          const h = createHash('sha256');
          let n = 0;
          req.on('data', (c: Buffer) => {
            h.update(c);
            n += c.length;
          });
          req.on('end', () => res.end(JSON.stringify({ bytes: n, sha256: h.digest('hex'), te: req.headers['transfer-encoding'] ?? null })));
          return;
        }
        if (req.url === '/download') {
          produced = 0;
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG });
          void (async () => {
            for (let i = 0; i * CHUNK < BIG; i++) {
              if (res.destroyed) return;
              produced += CHUNK;
              if (!res.write(block(i))) await new Promise((r) => res.once('drain', r));
            }
            res.end();
          })();
          return;
        }
        if (req.url === '/chunked') {
          // Three chunks, each one only after the client confirmed the previous arrived.
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first;');
          chunkedSteps.push(res);
          return;
        }
        res.writeHead(404).end();
      },
      { collectBody: false },
    );
    gw = await startGateway(`
log: { access: false }
upstreams:
  main:
    targets: [{ url: ${backend.url} }]
    timeouts: { total: 60s, read: 20s, send: 20s }
routes:
  - name: all
    match: { path: /* }
    upstream: main
    maxBodySize: 100mb
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  for (const mode of ['content-length', 'chunked'] as const) {
    test(`a 64 MB ${mode} upload streamed by the client reaches the backend byte-exact`, async () => {
      const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
        if (mode === 'content-length') headers['content-length'] = BIG;
        const req = http.request(`${gw.url}/upload`, { method: 'PUT', headers, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        });
        req.on('error', reject);
        writePattern(req, BIG).then(() => req.end(), reject);
      });
      assert.equal(reply.status, 200, reply.body);
      const got = JSON.parse(reply.body) as { bytes: number; sha256: string; te: string | null };
      assert.equal(got.bytes, BIG);
      assert.equal(got.sha256, BIG_HASH);
      if (mode === 'chunked') assert.equal(got.te, 'chunked');
    });
  }

  test('a 64 MB download read slowly arrives intact while gateway memory stays flat', async () => {
    const hash = createHash('sha256');
    let received = 0;
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    let producedWhilePaused = 0;
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.get(`${gw.url}/download`, { agent: false }, (res) => {
          let pauses = 0;
          res.on('data', (c: Buffer) => {
            hash.update(c);
            received += c.length;
            // Stop reading twice, for 600 ms each, early and half way: a slow mobile client.
            if ((pauses === 0 && received >= 2 * MB) || (pauses === 1 && received >= 32 * MB)) {
              pauses++;
              res.pause();
              const at = produced;
              setTimeout(() => {
                producedWhilePaused = Math.max(producedWhilePaused, produced - at);
                res.resume();
              }, 600);
            }
          });
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        });
        req.on('error', reject);
      });
      assert.equal(status, 200);
    } finally {
      clearInterval(sampler);
    }
    assert.equal(received, BIG);
    assert.equal(hash.digest('hex'), BIG_HASH);
    const growth = peak - baseline;
    assert.ok(growth < 24 * MB, `rss grew by ${(growth / MB).toFixed(1)} MB for a ${BIG / MB} MB body`);
    // While the client did not read, the backend was held back by the socket buffers, not drained into the gateway.
    // (Loopback socket buffers alone may hold several MB on each side.)
    assert.ok(producedWhilePaused < 32 * MB, `backend produced ${(producedWhilePaused / MB).toFixed(1)} MB while the client was paused`);
  });

  test('chunked responses stream through as the backend produces them', async () => {
    const parts: string[] = [];
    const done = new Promise<{ status: number; te: string | undefined; cl: string | undefined }>((resolve, reject) => {
      const req = http.get(`${gw.url}/chunked`, { agent: false }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, te: res.headers['transfer-encoding'], cl: res.headers['content-length'] }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    assert.ok(await until(() => parts.join('') === 'first;', 5000), 'the first chunk arrived before the backend wrote the rest');
    const res = chunkedSteps.shift()!;
    res.write('second;');
    assert.ok(await until(() => parts.join('') === 'first;second;', 5000), 'the second chunk arrived on its own');
    res.end('third');
    const r = await done;
    assert.equal(r.status, 200);
    assert.equal(r.te, 'chunked');
    assert.equal(r.cl, undefined);
    assert.equal(parts.join(''), 'first;second;third');
  });
});

describe('body size limits', () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend((_req, res, seen) => res.end(JSON.stringify({ bytes: seen.body.length })));
    gw = await startGateway(`
log: { access: false }
server: { maxBodySize: 1kb }
upstreams:
  main: { targets: [{ url: ${backend.url} }] }
routes:
  - name: small
    match: { path: /small/* }
    upstream: main
  - name: roomy
    match: { path: /roomy/* }
    upstream: main
    maxBodySize: 8kb
`);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test('a declared Content-Length over the limit is a 413 before any body is read, and the backend is not contacted', async () => {
    const before = backend.seen.length;
    // Headers only: the gateway must answer without waiting for the 2000 bytes it was promised.
    const r = await rawExchange(gw.port, 'POST /small/x HTTP/1.1\r\nHost: gw.test\r\nContent-Type: text/plain\r\nContent-Length: 2000\r\n\r\n', 5000);
    assert.equal(r.status, 413, r.raw);
    assert.equal(r.headers['x-causeway-error'], 'REQUEST_TOO_LARGE');
    const body = JSON.parse(r.body) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'REQUEST_TOO_LARGE');
    assert.match(body.error.message, /1024 byte limit/);
    assert.ok(r.closed, 'the connection is closed rather than left with an unread body');
    await sleep(100);
    assert.equal(backend.seen.length, before);
  });

  test('a body within the limit passes', async () => {
    const r = await send(`${gw.url}/small/x`, { method: 'POST', body: 'a'.repeat(1000) });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { bytes: 1000 });
  });

  test('a chunked upload that grows past the limit is a 413 REQUEST_TOO_LARGE', async () => {
    const chunk = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n`;
    const r = await rawExchange(
      gw.port,
      ['POST /small/up HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', chunk('b'.repeat(600)), chunk('c'.repeat(600)), chunk('d'.repeat(600)), '0\r\n\r\n'],
      5000,
    );
    assert.equal(r.status, 413, r.raw);
    assert.equal(r.headers['x-causeway-error'], 'REQUEST_TOO_LARGE');
    const body = JSON.parse(r.body) as { error: { code: string; requestId: string } };
    assert.equal(body.error.code, 'REQUEST_TOO_LARGE');
    const rec = await gw.record(body.error.requestId);
    assert.equal(rec.status, 413);
    assert.equal(rec.code, 'REQUEST_TOO_LARGE');
    // Whatever part reached the backend, it never got a complete over-limit body.
    assert.ok(backend.seen.every((s) => s.body.length <= 1024));
  });

  test('a chunked upload within the limit passes', async () => {
    const r = await rawExchange(gw.port, 'POST /small/up HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    assert.equal(r.status, 200, r.raw);
    assert.deepEqual(JSON.parse(r.body), { bytes: 5 });
  });

  test("a route's maxBodySize overrides the server's", async () => {
    const ok = await send(`${gw.url}/roomy/x`, { method: 'POST', body: 'r'.repeat(4000) });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json(), { bytes: 4000 });
    const before = backend.seen.length;
    const big = await rawExchange(gw.port, 'POST /roomy/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 9000\r\n\r\n');
    assert.equal(big.status, 413, big.raw);
    assert.match((JSON.parse(big.body) as { error: { message: string } }).error.message, /8192 byte limit of route roomy/);
    assert.equal(backend.seen.length, before);
  });
});
