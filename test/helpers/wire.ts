/**
 * Small real-socket tools for the proxy integration tests: a recording node:http backend, a
 * node:http client that returns the whole response, and a raw TCP client for byte-exact (and
 * deliberately malformed) requests.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface Backend {
  server: http.Server;
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Requests whose headers reached the backend, in arrival order. */
  seen: SeenRequest[];
  close(): Promise<void>;
}

export type BackendHandler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void;

/** Starts a node:http backend on 127.0.0.1:0. Unless the handler reads the body itself, it is collected into `seen`. */
export async function startBackend(handler: BackendHandler, opts: { collectBody?: boolean; keepAliveTimeout?: number } = {}): Promise<Backend> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const entry: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) };
    seen.push(entry);
    if (opts.collectBody === false) {
      handler(req, res, entry);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      entry.body = Buffer.concat(chunks);
      handler(req, res, entry);
    });
    req.on('error', () => res.destroy());
  });
  if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Answers every request with JSON describing what the backend received. */
export const echo: BackendHandler = (_req, res, seen) => {
  const body = JSON.stringify({ method: seen.method, url: seen.url, headers: seen.headers, rawHeaders: seen.rawHeaders, body: seen.body.toString('utf8') });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
  json<T = unknown>(): T;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Fails the request if no complete response within this many ms. */
  timeout?: number;
  agent?: http.Agent | false;
}

/** One request with node:http (no connection reuse unless an agent is given); resolves with the whole response. */
export function send(url: string, opts: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body, text, json: <T>() => JSON.parse(text) as T });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${opts.timeout ?? 10_000} ms`)), opts.timeout ?? 10_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

export interface RawReply {
  /** Everything the server sent until it closed (or the wait ended). */
  raw: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (rather than the wait running out). */
  closed: boolean;
  /** Milliseconds from connect to the first response byte (or the close). */
  elapsed: number;
}

/**
 * Writes bytes exactly as given on a fresh TCP connection and collects the reply until the server
 * closes, or until `waitMs` passes — then the socket is destroyed.
 */
export function rawExchange(port: number, payload: string | Buffer | Array<string | Buffer>, waitMs = 5000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstByte = 0;
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let closed = false;
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('connect', () => {
      for (const p of Array.isArray(payload) ? payload : [payload]) socket.write(p);
    });
    socket.on('data', (c: Buffer) => {
      if (!firstByte) firstByte = performance.now();
      chunks.push(c);
    });
    socket.on('end', () => {
      closed = true;
      socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the reply was read is still a reply.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') closed = true;
      else {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const elapsed = (firstByte || performance.now()) - started;
      resolve({ ...parseRaw(Buffer.concat(chunks).toString('latin1')), closed, elapsed });
    });
  });
}

/** Splits one raw HTTP/1.1 response (Content-Length framed or read to the close). */
export function parseRaw(raw: string): { raw: string; status: number; headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return { raw, status: 0, headers: {}, body: '' };
  const lines = raw.slice(0, end).split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
  }
  let body = raw.slice(end + 4);
  const len = headers['content-length'];
  if (len !== undefined) body = body.slice(0, Number(len));
  return { raw, status, headers, body };
}

/** A port on 127.0.0.1 with nothing listening (bound once, then released). */
export async function refusingPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}
