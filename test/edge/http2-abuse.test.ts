/**
 * HTTP/2 abuse, sent as raw frames over a socket (no client library would send them): rapid
 * reset (CVE-2023-44487), more concurrent streams than allowed, an oversized header list, and a
 * CONTINUATION flood. Each must end in a bounded outcome — streams refused, the connection
 * closed — with the gateway still serving everyone else and the backend spared.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { TestPki } from '../helpers/certs.js';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { h2request } from '../helpers/h2.js';
import { startBackend, type Backend } from '../helpers/wire.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const T = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const REFUSED_STREAM = 0x7;
const CANCEL = 0x8;

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literal without indexing, new name (RFC 7541 6.2.2), for lengths under 127. */
function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  return Buffer.concat([Buffer.from([0x00]), hpackLen(n.length), n, hpackLen(v.length), v]);
}
function hpackLen(n: number): Buffer {
  if (n < 127) return Buffer.from([n]);
  const out = [127];
  n -= 127;
  while (n >= 128) {
    out.push((n & 0x7f) | 0x80);
    n >>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** GET <path> (static table: :method GET, :scheme http) with :authority and :path literals. */
function requestBlock(path: string): Buffer {
  return Buffer.concat([Buffer.from([0x82, 0x86]), Buffer.from([0x41]), hpackLen(1), Buffer.from('x'), Buffer.from([0x44]), hpackLen(path.length), Buffer.from(path)]);
}

interface Seen {
  goaway: number | null;
  rst: Map<number, number>;
  headers: number;
  closed: boolean;
}

/** A raw HTTP/2 connection that records what the server sends. */
async function rawH2(port: number, secure = false): Promise<{ socket: net.Socket; seen: Seen; closed: Promise<void> }> {
  const socket = secure ? tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['h2'], rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => {
    socket.once(secure ? 'secureConnect' : 'connect', r);
    socket.once('error', j);
  });
  const seen: Seen = { goaway: null, rst: new Map(), headers: 0, closed: false };
  let buf = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const type = buf[3]!;
      const flags = buf[4]!;
      const payload = buf.subarray(9, 9 + len);
      const stream = buf.readUInt32BE(5) & 0x7fffffff;
      if (type === T.SETTINGS && !(flags & 1)) socket.write(frame(T.SETTINGS, 1, 0));
      if (type === T.GOAWAY) seen.goaway = payload.readUInt32BE(4);
      if (type === T.RST_STREAM) seen.rst.set(stream, payload.readUInt32BE(0));
      if (type === T.HEADERS) seen.headers++;
      buf = buf.subarray(9 + len);
    }
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) =>
    socket.once('close', () => {
      seen.closed = true;
      r();
    }),
  );
  socket.write(Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0)]));
  return { socket, seen, closed };
}

const within = <T>(p: Promise<T>, ms: number) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('HTTP/2 abuse is bounded', () => {
  let backend: Backend;
  let gw: TestGateway;
  let hits = 0;
  const paths: string[] = [];
  let pki: TestPki;
  let tlsPort: number;

  before(async () => {
    pki = new TestPki();
    const leaf = pki.leaf('gw', ['gw.test']);
    backend = await startBackend((req, res) => {
      hits++;
      paths.push(req.url ?? '');
      const delay = req.url?.startsWith('/slow') ? 1500 : 0;
      setTimeout(() => res.end('ok'), delay);
    });
    gw = await startGateway(
      ['listen:', '  - { port: 0, h2c: true }', `  - { port: 0, tls: { cert: ${leaf.cert}, key: ${leaf.key} } }`, 'server: { maxConcurrentStreams: 20, maxHeaderSize: 8kb }', 'log: { access: false }', 'upstreams:', `  b: { targets: [{ url: "${backend.url}" }] }`, 'routes:', '  - { name: b, match: { path: /* }, upstream: b }'].join('\n'),
    );
    tlsPort = gw.gateway.addresses[1]!.port;
  });

  after(async () => {
    await gw.close();
    await backend.close();
    pki.close();
  });

  /** The gateway still answers a well-behaved client. */
  async function stillServes(): Promise<void> {
    const r = await h2request(gw.url, { path: '/after' });
    assert.equal(r.status, 200);
  }

  for (const secure of [false, true]) {
  test(`rapid reset (CVE-2023-44487) over ${secure ? 'TLS (ALPN h2)' : 'h2c'}: HEADERS + RST_STREAM floods end the connection; the backend sees a bounded share`, async () => {
    const before = hits;
    const { socket, seen, closed } = await rawH2(secure ? tlsPort : gw.port, secure);
    const N = 20_000;
    const batch: Buffer[] = [];
    for (let i = 0; i < N; i++) {
      const id = 1 + 2 * i;
      batch.push(frame(T.HEADERS, END_STREAM | END_HEADERS, id, requestBlock('/reset')), frame(T.RST_STREAM, 0, id, Buffer.from([0, 0, 0, CANCEL])));
      if (batch.length >= 2000) socket.write(Buffer.concat(batch.splice(0)));
    }
    socket.write(Buffer.concat(batch));
    assert.ok(await within(closed, 10_000), `the flooding connection was not closed: rst ${seen.rst.size}, headers ${seen.headers}, hits ${hits - before}, goaway ${seen.goaway}`);
    assert.ok(seen.goaway !== null || seen.closed);
    await new Promise((r) => setTimeout(r, 200));
    const reached = hits - before;
    assert.ok(reached < N / 4, `${reached} of ${N} reset requests reached the backend`);
    await stillServes();
  });
  }

  test('more concurrent streams than maxConcurrentStreams: the extra ones are refused, or the connection ends; the backend sees at most the limit', async () => {
    const before = hits;
    const { socket, seen, closed } = await rawH2(gw.port);
    await new Promise((r) => setTimeout(r, 50)); // the SETTINGS exchange: the limit applies once acknowledged
    const frames: Buffer[] = [];
    for (let i = 0; i < 40; i++) frames.push(frame(T.HEADERS, END_STREAM | END_HEADERS, 1 + 2 * i, requestBlock('/slow')));
    socket.write(Buffer.concat(frames));
    await new Promise((r) => setTimeout(r, 500));
    const refused = [...seen.rst.values()].filter((c) => c === REFUSED_STREAM).length;
    // nghttp2 refuses the extra streams, or ends the whole connection of a client that ignores the limit.
    assert.ok(refused >= 20 || seen.goaway !== null || seen.closed, `refused ${refused}, goaway ${seen.goaway}, rst ${JSON.stringify([...seen.rst])}, headers ${seen.headers}, hits ${hits - before}, closed ${seen.closed}`);
    assert.ok(hits - before <= 20, `${hits - before} streams reached the backend at once`);
    socket.destroy();
    await closed;
    await stillServes();
  });

  test('a header list over maxHeaderSize is refused before any backend sees it', async () => {
    const { socket, seen, closed } = await rawH2(gw.port);
    await new Promise((r) => setTimeout(r, 50));
    const block = Buffer.concat([requestBlock('/big'), literal('x-big', 'a'.repeat(100)), ...Array.from({ length: 120 }, (_, i) => literal(`x-h${i}`, 'v'.repeat(100)))]);
    socket.write(frame(T.HEADERS, END_STREAM | END_HEADERS, 1, block));
    const outcome = await within(
      new Promise<void>((r) => {
        const t = setInterval(() => {
          if (seen.rst.has(1) || seen.goaway !== null || seen.closed || seen.headers > 0) {
            clearInterval(t);
            r();
          }
        }, 10);
      }),
      3000,
    );
    assert.ok(outcome, 'no answer to an oversized header list');
    assert.ok(!paths.includes('/big'), 'the backend saw the request');
    if (seen.headers > 0 && !seen.rst.has(1)) assert.fail('the oversized request was answered as if normal');
    socket.destroy();
    await closed;
    await stillServes();
  });

  test('a CONTINUATION flood (headers that never end) closes the connection', async () => {
    const { socket, seen, closed } = await rawH2(gw.port);
    await new Promise((r) => setTimeout(r, 50));
    socket.write(frame(T.HEADERS, 0, 1, requestBlock('/cont')));
    const chunk: Buffer[] = [];
    for (let i = 0; i < 10_000 && !seen.closed; i++) {
      chunk.push(frame(T.CONTINUATION, 0, 1, literal(`x-c${i % 50}`, 'v')));
      if (chunk.length === 500) {
        if (!socket.write(Buffer.concat(chunk.splice(0)))) await new Promise((r) => setTimeout(r, 5));
      }
    }
    if (!seen.closed) socket.write(Buffer.concat(chunk));
    assert.ok(await within(closed, 5000), 'the connection stayed open under a CONTINUATION flood');
    await stillServes();
  });
});
