/**
 * Misbehaving backends on real loopback sockets, one per way a backend can fail. Every factory
 * binds 127.0.0.1 on port 0 and returns `{ url, port, close() }`; close() ends every socket and
 * child process it started, and is safe to call twice. Nothing here ever touches an address
 * other than 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';

export interface TestBackend {
  /** `http://127.0.0.1:<port>` (or https:// for the TLS server). */
  url: string;
  port: number;
  /** HTTP request heads seen (a TLS ClientHello or other bytes do not count). */
  readonly requests: number;
  /** TCP connections accepted. */
  readonly connections: number;
  /** Connections accepted and not yet closed. */
  readonly open: number;
  /** Request body bytes the backend actually read (slowReader). */
  readonly bytesRead: number;
  /** The request heads received by raw backends, as text. */
  readonly heads: readonly string[];
  close(): Promise<void>;
}

/** Fixture files live in the source tree; compiled tests run from dist/test/helpers. */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
}

export const CERT_FILE = fixturePath('localhost-cert.pem');
export const KEY_FILE = fixturePath('localhost-key.pem');

/** Waits until `cond()` holds, polling every 5 ms, at most `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.removeListener('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

interface Counters {
  heads: string[];
  requests: number;
  connections: number;
  open: number;
  bytesRead: number;
}

/**
 * Buffers a connection's bytes until a full request head (`\r\n\r\n`) arrived, then calls
 * `onHead` once. Bytes that do not start like an HTTP request (a TLS ClientHello from the
 * gateway's protocol probe) are handed over at once, as `http: false`.
 */
function onRequestHead(socket: Socket, onHead: (head: string, http: boolean) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    const first = buf[0]!;
    const http = first >= 0x41 && first <= 0x5a; // an upper-case method name
    const end = buf.indexOf('\r\n\r\n');
    if (!http || end !== -1 || buf.length > 64 * 1024) {
      socket.removeListener('data', onData);
      onHead(buf.subarray(0, end === -1 ? buf.length : end).toString('latin1'), http);
    }
  };
  socket.on('data', onData);
}

/**
 * A raw TCP backend: `behave` runs once the request head arrived. Sockets are tracked and
 * destroyed on close, so stalled exchanges never keep the test process alive.
 */
async function rawBackend(behave: (socket: Socket, head: string, c: Counters) => void, opts: { onConnection?: (socket: Socket, c: Counters) => boolean } = {}): Promise<TestBackend> {
  const c: Counters = { heads: [], requests: 0, connections: 0, open: 0, bytesRead: 0 };
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    c.connections++;
    c.open++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      c.open--;
      sockets.delete(socket);
    });
    if (opts.onConnection && opts.onConnection(socket, c)) return;
    onRequestHead(socket, (head, isHttp) => {
      if (!isHttp) {
        // Not HTTP (the gateway's TLS probe): answer as a plain HTTP server would, by hanging up.
        socket.destroy();
        return;
      }
      c.requests++;
      c.heads.push(head);
      behave(socket, head, c);
    });
  });
  const port = await listen(server);
  return counted(c, `http://${HOST}:${port}`, port, async () => {
    for (const s of sockets) s.destroy();
    await closeServer(server);
  });
}

function counted(c: Counters, url: string, port: number, close: () => Promise<void>): TestBackend {
  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    get requests() {
      return c.requests;
    },
    get connections() {
      return c.connections;
    },
    get open() {
      return c.open;
    },
    get bytesRead() {
      return c.bytesRead;
    },
    get heads() {
      return c.heads;
    },
    close: () => (closing ??= close()),
  };
}

/** A node:http (or https) server answering 200 JSON `{ ok: true, path }`, with connection tracking. */
async function httpBackend(server: http.Server | https.Server, scheme: 'http' | 'https'): Promise<TestBackend> {
  const c: Counters = { heads: [], requests: 0, connections: 0, open: 0, bytesRead: 0 };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    c.requests++;
    req.on('data', (chunk: Buffer) => (c.bytesRead += chunk.length));
    req.on('end', () => {
      const body = JSON.stringify({ ok: true, path: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.on(scheme === 'https' ? 'secureConnection' : 'connection', (s: Socket) => {
    c.connections++;
    c.open++;
    s.on('close', () => c.open--);
  });
  server.on('tlsClientError', () => undefined);
  server.on('clientError', (_err: Error, s: Socket) => {
    // node's default: a bare 400 (what a plain server answers to a TLS ClientHello).
    if (s.writable) s.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else s.destroy();
  });
  const port = await listen(server);
  return counted(c, `${scheme}://${HOST}:${port}`, port, async () => {
    server.closeAllConnections();
    await closeServer(server);
  });
}

/** A healthy backend: 200 JSON for every request. */
export function ok(): Promise<TestBackend> {
  return httpBackend(http.createServer(), 'http');
}

/** A plain-HTTP server, meant to sit behind an https:// target (protocol mismatch). */
export function plainForHttps(): Promise<TestBackend> {
  return ok();
}

/** HTTP/1.1 over TLS with the self-signed localhost fixture (SANs: localhost, 127.0.0.1). */
export function tlsServer(): Promise<TestBackend> {
  const server = https.createServer({ cert: readFileSync(CERT_FILE), key: readFileSync(KEY_FILE) });
  return httpBackend(server, 'https');
}

/** A port that was bound and closed again: connecting gets RST (ECONNREFUSED). */
export async function refusing(): Promise<TestBackend> {
  const server = net.createServer();
  const port = await listen(server);
  await closeServer(server);
  const c: Counters = { heads: [], requests: 0, connections: 0, open: 0, bytesRead: 0 };
  return counted(c, `http://${HOST}:${port}`, port, async () => undefined);
}

/** Reads the request, then closes with FIN without sending a byte. */
export function closeBeforeResponse(): Promise<TestBackend> {
  return rawBackend((socket) => socket.end());
}

/** Reads the request, then resets the connection (RST). */
export function resetMidExchange(): Promise<TestBackend> {
  return rawBackend((socket) => socket.resetAndDestroy());
}

/** Accepts and reads the request, never answers. */
export function stallHeaders(): Promise<TestBackend> {
  return rawBackend(() => undefined);
}

/** Sends a 200 with `Content-Length: total`, the first `sent` bytes of the body, then stalls. */
export function stallBody(opts: { total?: number; sent?: number } = {}): Promise<TestBackend> {
  const total = opts.total ?? 1000;
  const sent = opts.sent ?? 100;
  return rawBackend((socket) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${total}\r\n\r\n${'x'.repeat(sent)}`);
  });
}

const MALFORMED = {
  /** A status line without a numeric status. */
  status: 'HTTP/1.1 abc\r\nContent-Length: 2\r\n\r\nok',
  /** A header name with a NUL byte in it. */
  header: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad\x00Header: x\r\n\r\nok',
  /** Two Content-Length headers that disagree (a response smuggling shape). */
  length: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok',
} as const;

export type MalformedKind = keyof typeof MALFORMED;

/** Answers with bytes that are not valid HTTP/1.1, then closes. */
export function malformed(kind: MalformedKind = 'status'): Promise<TestBackend> {
  return rawBackend((socket) => socket.end(MALFORMED[kind], 'latin1'));
}

/**
 * Reads the request head, then stops reading (`socket.pause()`): once the kernel buffers are
 * full, an upload to it blocks. `bytesRead` says how much of the body it took.
 */
export function slowReader(): Promise<TestBackend> {
  return rawBackend(() => undefined, {
    onConnection(socket, c) {
      let head = true;
      let buf = '';
      const onData = (chunk: Buffer) => {
        c.bytesRead += chunk.length;
        if (!head) return;
        buf += chunk.toString('latin1', 0, Math.min(chunk.length, 64 * 1024));
        if (buf.includes('\r\n\r\n') || buf.length > 64 * 1024) {
          head = false;
          c.requests++;
          c.heads.push(buf.slice(0, buf.indexOf('\r\n\r\n')));
          socket.removeListener('data', onData);
          socket.pause();
        }
      };
      socket.on('data', onData);
      return true;
    },
  });
}

// ── blackhole ───────────────────────────────────────────────────────────────

const BLACKHOLE_PY = [
  'import socket, sys',
  's = socket.socket(socket.AF_INET, socket.SOCK_STREAM)',
  "s.bind(('127.0.0.1', 0))",
  's.listen(0)',
  'print(s.getsockname()[1], flush=True)',
  // Never accept; live until the parent closes stdin (or dies).
  'sys.stdin.read()',
].join('\n');

/** Whether a TCP connect to the port completes within `ms`; the socket is kept open either way. */
function tryConnect(port: number, ms: number, keep: Socket[]): Promise<'connected' | 'hangs' | 'error'> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    keep.push(s);
    const timer = setTimeout(() => resolve('hangs'), ms);
    s.on('error', () => {
      clearTimeout(timer);
      resolve('error');
    });
    s.once('connect', () => {
      clearTimeout(timer);
      resolve('connected');
    });
  });
}

/**
 * A listener whose accept queue is full, so the TCP handshake never completes (the kernel drops
 * the SYN): what a firewall that drops packets looks like, but on 127.0.0.1. A python3 child
 * listens with backlog 0 and never accepts; the helper fills the queue with connections it keeps
 * open and verifies that one more connect hangs.
 */
export async function blackhole(): Promise<TestBackend> {
  const child: ChildProcess = spawn('python3', ['-c', BLACKHOLE_PY], { stdio: ['pipe', 'pipe', 'inherit'] });
  const fillers: Socket[] = [];
  const c: Counters = { heads: [], requests: 0, connections: 0, open: 0, bytesRead: 0 };
  const close = async () => {
    for (const s of fillers) s.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.stdin?.end();
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('python3 blackhole did not start within 5 s')), 5000);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`python3 blackhole exited early (${code})`));
      });
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^(\d+)\n/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    child.removeAllListeners('exit');
    // Fill the accept queue; the first connect that does not complete proves the hole.
    for (let i = 0; i < 16; i++) {
      const r = await tryConnect(port, 300, fillers);
      if (r === 'error') throw new Error('blackhole: a connect failed instead of hanging (tcp_abort_on_overflow?)');
      if (r === 'hangs') {
        // Verify once more with a fresh socket: the next handshake must hang too.
        if ((await tryConnect(port, 300, fillers)) !== 'hangs') throw new Error('blackhole: a connect did not hang after the queue was full');
        return counted(c, `http://${HOST}:${port}`, port, close);
      }
    }
    throw new Error('blackhole: 16 connections completed, the accept queue never filled');
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * A minimal HTTP/1.1 keep-alive backend that answers `200 ok` without any Keep-Alive hint and
 * gives up on connections idle for `idleMs`. Odd connections are closed properly (FIN); even ones
 * are dropped silently, as a NAT or load balancer does: the next request on them meets a reset.
 */
export async function idleDropper(idleMs: number) {
  const stats = { connections: 0, requests: 0, finClosed: 0, resetOnReuse: 0 };
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    const n = stats.connections++;
    sockets.add(socket);
    let pending = '';
    let dead = false;
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        if (n % 2) {
          stats.finClosed++;
          socket.end();
        } else dead = true;
      }, idleMs);
    };
    socket.on('data', (d: Buffer) => {
      if (dead) {
        stats.resetOnReuse++;
        socket.resetAndDestroy();
        return;
      }
      pending += d.toString('latin1');
      let end;
      while ((end = pending.indexOf('\r\n\r\n')) !== -1) {
        pending = pending.slice(end + 4);
        stats.requests++;
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
      }
      arm();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(idle);
      sockets.delete(socket);
    });
    arm();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    stats,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
