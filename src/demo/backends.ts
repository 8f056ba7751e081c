/**
 * Demo backends that misbehave on purpose, one per way a backend fails, so that every failure
 * class can be seen with curl. All listen on 127.0.0.1, on ports the OS picks.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface DemoBackend {
  name: string;
  description: string;
  port: number;
  close(): Promise<void>;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

function track(server: net.Server): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** An HTTP backend from a request handler. */
async function httpBackend(name: string, description: string, handler: http.RequestListener): Promise<DemoBackend> {
  const server = http.createServer(handler);
  const sockets = track(server);
  const port = await listen(server);
  return { name, description, port, close: closer(server, sockets) };
}

/** A raw TCP backend: `onRequest` gets the socket once a full request head has arrived. */
async function rawBackend(name: string, description: string, onRequest: (socket: net.Socket) => void): Promise<DemoBackend> {
  const server = net.createServer((socket) => {
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.removeListener('data', onData);
        onRequest(socket);
      }
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  });
  const sockets = track(server);
  const port = await listen(server);
  return { name, description, port, close: closer(server, sockets) };
}

export const healthy = () =>
  httpBackend('healthy', 'answers at once', (req, res) => json(res, 200, { ok: true, backend: 'healthy', path: req.url }));

export const slow = (delayMs = 3000) =>
  httpBackend('slow', `answers after ${delayMs} ms`, (req, res) => {
    const t = setTimeout(() => json(res, 200, { ok: true, backend: 'slow', path: req.url, delayMs }), delayMs);
    res.on('close', () => clearTimeout(t));
  });

/** Fails every `period`-th call with 503, so retries on 503 can be seen rescuing them. */
export const flaky = (period = 2) => {
  let n = 0;
  return httpBackend('flaky', `fails 1 call in ${period} with 503`, (req, res) => {
    n++;
    if (n % period === 0) json(res, 503, { ok: false, backend: 'flaky', error: 'temporarily unavailable' });
    else json(res, 200, { ok: true, backend: 'flaky', path: req.url });
  });
};

export const closing = () => rawBackend('closing', 'reads the request, then closes the connection (FIN) without answering', (s) => s.end());

export const resetting = () => rawBackend('resetting', 'reads the request, then resets the connection (RST)', (s) => s.resetAndDestroy());

export const stalledBody = () =>
  rawBackend('stalled-body', 'sends headers and half the body, then goes silent', (s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nthe first half of the body arrives, then noth');
  });

export const malformed = () =>
  rawBackend('malformed', 'answers with bytes that are not HTTP', (s) => s.end('HTTP/1.1 2OO OK\r\nX: y\r\n\r\n'));

/** A port that was just free: connections to it are refused. */
export async function down(): Promise<DemoBackend> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((r) => server.close(() => r()));
  return { name: 'down', description: 'nothing listens: connections are refused', port, close: async () => undefined };
}
