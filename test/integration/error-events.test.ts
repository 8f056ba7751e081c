/**
 * Every way a request or its upstream call can end badly, at every phase, as a table: the
 * client resets, closes or sends broken chunked framing while its call waits for a pool slot,
 * waits for a connect, uploads, waits for the response or streams it; the backend resets or
 * closes at each phase of the exchange. After each case the process is still up (no unhandled
 * 'error' reached it), the gateway still proxies, and the call has a record that says what
 * the client received (499 when the client itself left before any answer).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo, type Socket } from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { parseRaw, rawExchange, send, sleep, until } from '../helpers/wire.js';

type Phase = 'lease' | 'connect' | 'send' | 'ttfb' | 'body';
type BodyKind = 'none' | 'length' | 'chunked';
type ClientFault = 'rst' | 'fin' | 'close' | 'bad-chunk' | 'chunk-ext';
type BackendFault = 'rst' | 'fin';

/**
 * A raw backend steered by the request path `/<route>/<phase>/<fault>/<id>`: `ttfb` reads and
 * never answers, `body` sends headers and part of a body then stalls, `send` answers nothing
 * while the upload is still coming. A backend fault (`rst`, `fin`) hits at that phase.
 */
async function steeredBackend(): Promise<{ port: number; heads: string[]; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const heads: string[] = [];
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buf.slice(0, end);
      heads.push(head);
      const [, , phase, fault] = head.split(' ')[1]!.split('/');
      if (phase === 'ok') {
        s.removeListener('data', onData);
        s.resume();
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        buf = '';
        s.on('data', onData);
        return;
      }
      s.removeListener('data', onData);
      s.resume();
      const hit = () => (fault === 'rst' ? s.resetAndDestroy() : fault === 'fin' ? s.end() : undefined);
      if (phase === 'body') {
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart');
        setTimeout(hit, 100);
      } else setTimeout(hit, phase === 'send' ? 0 : 100);
    };
    s.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    heads,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function head(kind: BodyKind, path: string, id: string): string {
  const method = kind === 'none' ? 'GET' : 'POST';
  const framing = kind === 'length' ? 'Content-Length: 1000\r\n' : kind === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : '';
  return `${method} ${path} HTTP/1.1\r\nHost: gw.test\r\nX-Request-Id: ${id}\r\n${framing}\r\n`;
}
const partialBody = (kind: BodyKind) => (kind === 'length' ? 'a'.repeat(10) : kind === 'chunked' ? '5\r\nhello\r\n' : '');
const fullBody = (kind: BodyKind) => (kind === 'length' ? 'a'.repeat(1000) : kind === 'chunked' ? '5\r\nhello\r\n0\r\n\r\n' : '');

/** Opens a raw connection, writes `first`, and collects what comes back until the close. */
function open(port: number, first: string): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = net.connect({ host: '127.0.0.1', port });
  let got = '';
  socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  socket.write(first);
  return { socket, received: () => got, closed };
}

function clientFault(socket: Socket, fault: ClientFault): void {
  switch (fault) {
    case 'rst':
      socket.resetAndDestroy();
      break;
    case 'fin':
      socket.end();
      break;
    case 'close':
      socket.destroy();
      break;
    case 'bad-chunk':
      socket.write('zz\r\nhello\r\n');
      break;
    case 'chunk-ext':
      socket.write(`5;${'a'.repeat(100_000)}\r\nhello\r\n0\r\n\r\n`);
      break;
  }
}

describe('every error event at every phase leaves the gateway up and the call recorded', () => {
  let backend: Awaited<ReturnType<typeof steeredBackend>>;
  let gw: TestGateway;
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  let lookups = 0;
  let blocker: { socket: Socket } | null = null;

  before(async () => {
    process.on('uncaughtException', onUncaught);
    backend = await steeredBackend();
    gw = await startGateway(
      `
log: { access: false }
upstreams:
  main:
    targets: [{ url: http://127.0.0.1:${backend.port} }]
    timeouts: { read: 10s, send: 10s, total: 20s }
    retries: { attempts: 1 }
  held:
    targets: [{ url: http://127.0.0.1:${backend.port} }]
    pool: { maxConnections: 1, queueTimeout: 10s }
    timeouts: { read: 20s, total: 30s }
    retries: { attempts: 1 }
  slowdns:
    targets: [{ url: http://slow.test:${backend.port} }]
    timeouts: { connect: 10s, read: 10s, total: 20s }
    retries: { attempts: 1 }
routes:
  - { name: main, match: { path: /main/* }, upstream: main }
  - { name: held, match: { path: /held/* }, upstream: held }
  - { name: slowdns, match: { path: /slowdns/* }, upstream: slowdns }
`,
      {
        // A resolver that takes its time: the call sits in its connect phase meanwhile.
        lookup: (_host, cb) => {
          lookups++;
          setTimeout(() => cb(null, '127.0.0.1', 4), 300);
        },
      },
    );
    // Holds the one connection of `held`: calls there wait for a lease.
    blocker = open(gw.port, head('none', '/held/ttfb/none/blocker', 'blocker'));
    await until(() => backend.heads.some((h) => h.includes('blocker')));
  });
  after(async () => {
    process.removeListener('uncaughtException', onUncaught);
    blocker?.socket.destroy();
    await gw.close();
    await backend.close();
  });

  async function survives(): Promise<void> {
    assert.deepEqual(uncaught, [], 'an error reached the process unhandled');
    const r = await send(`${gw.url}/main/ok/x/health`, { timeout: 5000 });
    assert.equal(r.status, 200, 'the gateway still proxies');
  }

  async function recorded(id: string, received: string): Promise<void> {
    const rec = await gw.record(id, 5000);
    const got = parseRaw(received);
    if (got.status === 0) {
      assert.equal(rec.status, 499, `nothing was received, the record says ${rec.status} ${rec.code}`);
      assert.equal(rec.code, 'CLIENT_CLOSED_REQUEST');
    } else if (got.status === 200) {
      // The response was under way when the exchange broke: the record names why it ended.
      assert.ok(rec.status === 200 || rec.code !== null, `record ${rec.status} ${rec.code}`);
    } else {
      assert.equal(rec.status, got.status, `the client got ${got.status}, the record says ${rec.status} ${rec.code}`);
      assert.equal(rec.code, got.headers['x-causeway-error']);
    }
  }

  const phasePath: Record<Phase, string> = { lease: '/held/ttfb', connect: '/slowdns/ttfb', send: '/main/ttfb', ttfb: '/main/ttfb', body: '/main/body' };
  const bodyKinds: BodyKind[] = ['none', 'length', 'chunked'];
  const clientFaults: ClientFault[] = ['rst', 'fin', 'close', 'bad-chunk', 'chunk-ext'];
  let n = 0;

  for (const phase of ['lease', 'connect', 'send', 'ttfb', 'body'] as Phase[]) {
    for (const kind of bodyKinds) {
      // No upload, no send phase worth the name; the same for framing faults without a chunked body.
      if (phase === 'send' && kind === 'none') continue;
      for (const fault of clientFaults) {
        const framing = fault === 'bad-chunk' || fault === 'chunk-ext';
        if (framing && kind !== 'chunked') continue;
        // A framing fault after a complete body is another request on the connection (tested in keepalive tests).
        if (framing && (phase === 'ttfb' || phase === 'body')) continue;
        test(`client ${fault} during ${phase}, body ${kind}`, async () => {
          const id = `client-${phase}-${kind}-${fault}-${n++}`;
          const upload = phase === 'ttfb' || phase === 'body' ? fullBody(kind) : partialBody(kind);
          const seenBefore = backend.heads.length;
          const lookupsBefore = lookups;
          const c = open(gw.port, head(kind, `${phasePath[phase]}/none/${id}`, id) + upload);
          if (phase === 'lease') await sleep(100);
          else if (phase === 'connect') await until(() => lookups > lookupsBefore, 3000);
          else if (phase === 'body') await until(() => c.received().includes('part'), 3000);
          else await until(() => backend.heads.length > seenBefore, 3000);
          clientFault(c.socket, fault);
          await Promise.race([c.closed, sleep(3000)]);
          c.socket.destroy();
          await recorded(id, c.received());
          await survives();
        });
      }
    }
  }

  for (const phase of ['send', 'ttfb', 'body'] as Phase[]) {
    for (const kind of bodyKinds) {
      for (const fault of ['rst', 'fin'] as BackendFault[]) {
        test(`backend ${fault} during ${phase}, body ${kind}`, async () => {
          const id = `backend-${phase}-${kind}-${fault}-${n++}`;
          const upload = phase === 'send' ? partialBody(kind) : fullBody(kind);
          const c = open(gw.port, head(kind, `/main/${phase}/${fault}/${id}`, id) + upload);
          // The gateway answers (and keeps the connection) or cuts a response under way.
          await Promise.race([c.closed, until(() => parseRaw(c.received()).status >= 400, 3000)]);
          c.socket.destroy();
          await recorded(id, c.received());
          await survives();
        });
      }
    }
  }

  test('the exact bytes from the report: a 100 KB chunk extension on a cold pool → 400, the gateway lives', async () => {
    const r = await rawExchange(gw.port, `POST /slowdns/ttfb/none/exact HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;${'a'.repeat(100_000)}\r\nhello\r\n0\r\n\r\n`, 5000);
    assert.equal(r.status, 400, r.raw.slice(0, 200));
    assert.equal(r.headers['x-causeway-error'], 'BAD_REQUEST');
    await survives();
  });

  test('a client reset right after the headers, on a cold pool', async () => {
    for (const kind of bodyKinds) {
      const id = `rst-after-head-${kind}`;
      const s = net.connect({ host: '127.0.0.1', port: gw.port });
      s.on('error', () => undefined);
      await new Promise<void>((r) => s.on('connect', () => r()));
      s.write(head(kind, `/slowdns/ttfb/none/${id}`, id), () => s.resetAndDestroy());
      const rec = await gw.record(id, 5000);
      assert.equal(rec.code, 'CLIENT_CLOSED_REQUEST');
      await survives();
    }
  });
});
