/**
 * A real gRPC stack for tests: an Echo backend built with @grpc/grpc-js (one method per call
 * kind, each able to misbehave on request), the standard health service, clients, and bare
 * HTTP/2 backends that misbehave at the protocol level. Everything binds 127.0.0.1 on port 0.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { readFileSync } from 'node:fs';
import { CERT_FILE, KEY_FILE, fixturePath } from './backends.js';

const HOST = '127.0.0.1';

export interface EchoRequest {
  text?: string;
  mode?: string;
  count?: number;
  delay_ms?: number;
}
export interface EchoReply {
  text: string;
  index: number;
  served_by: string;
}

const definition = loader.loadSync([fixturePath('grpc/echo.proto'), fixturePath('grpc/health.proto')], { keepCase: true, longs: Number, enums: String, defaults: true });
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  causeway: { test: { Echo: grpc.ServiceClientConstructor } };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};
export const EchoClient = pkg.causeway.test.Echo;
export const HealthClient = pkg.grpc.health.v1.Health;

export interface GrpcBackend {
  /** `h2c://127.0.0.1:<port>` */
  url: string;
  port: number;
  server: grpc.Server;
  /** Calls received, by method name. */
  calls: Record<string, number>;
  /** Metadata of the last call received. */
  lastMetadata: grpc.Metadata | null;
  /** Health the health service reports ('SERVING' by default). */
  health: string;
  close(): Promise<void>;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Misbehaviour a request's `mode` asks for, applied to a unary-style reply. */
function misbehave(mode: string | undefined): grpc.ServiceError | null {
  if (!mode) return null;
  const m = /^status:(\d+)$/.exec(mode);
  if (m) return Object.assign(new Error(`backend says ${mode}`), { code: Number(m[1]), details: `backend says ${mode}`, metadata: new grpc.Metadata() });
  return null;
}

/**
 * Starts the Echo backend (and grpc.health.v1.Health) on h2c, or on TLS (h2) with the test
 * certificate when `tls` is set. `name` marks replies (served_by).
 */
export async function grpcBackend(name = 'a', opts: { tls?: boolean } = {}): Promise<GrpcBackend> {
  const server = new grpc.Server();
  const b: GrpcBackend = { url: '', port: 0, server, calls: {}, lastMetadata: null, health: 'SERVING', close: async () => undefined };
  const seen = (method: string, md: grpc.Metadata) => {
    b.calls[method] = (b.calls[method] ?? 0) + 1;
    b.lastMetadata = md;
  };
  const trailer = () => {
    const t = new grpc.Metadata();
    t.set('x-trailer', `from-${name}`);
    return t;
  };
  server.addService(EchoClient.service, {
    Unary: async (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      seen('Unary', call.metadata);
      const req = call.request;
      if (req.delay_ms) await wait(req.delay_ms);
      if (req.mode === 'reset') {
        // Reset the stream mid-exchange (RST_STREAM INTERNAL_ERROR), as a crashing handler would.
        (call as unknown as { call: { stream: http2.ServerHttp2Stream } }).call?.stream?.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      const err = misbehave(req.mode);
      if (err) return cb(err, null, trailer());
      const md = new grpc.Metadata();
      md.set('x-echo-header', call.metadata.get('x-client-header')[0]?.toString() ?? '');
      call.sendMetadata(md);
      cb(null, { text: req.text ?? '', index: 0, served_by: name }, trailer());
    },
    ClientStream: (call: grpc.ServerReadableStream<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      seen('ClientStream', call.metadata);
      const texts: string[] = [];
      call.on('data', (r: EchoRequest) => texts.push(r.text ?? ''));
      call.on('end', () => cb(null, { text: texts.join(','), index: texts.length, served_by: name }, trailer()));
    },
    ServerStream: async (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => {
      seen('ServerStream', call.metadata);
      const n = call.request.count ?? 3;
      for (let i = 0; i < n; i++) {
        if (call.request.delay_ms) await wait(call.request.delay_ms);
        if (call.request.mode === 'reset' && i === 1) {
          (call as unknown as { call: { stream: http2.ServerHttp2Stream } }).call?.stream?.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          return;
        }
        call.write({ text: `${call.request.text}-${i}`, index: i, served_by: name });
      }
      const err = misbehave(call.request.mode);
      if (err) {
        call.emit('error', err);
        return;
      }
      call.end(trailer());
    },
    Bidi: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      seen('Bidi', call.metadata);
      let i = 0;
      call.on('data', (r: EchoRequest) => call.write({ text: `echo:${r.text}`, index: i++, served_by: name }));
      call.on('end', () => call.end(trailer()));
    },
  });
  server.addService(HealthClient.service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: string }>, cb: grpc.sendUnaryData<{ status: string }>) => {
      seen('Check', call.metadata);
      cb(null, { status: b.health });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${HOST}:0`,
      opts.tls ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(CERT_FILE), private_key: readFileSync(KEY_FILE) }]) : grpc.ServerCredentials.createInsecure(),
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );
  b.url = `${opts.tls ? 'h2' : 'h2c'}://${HOST}:${port}`;
  b.port = port;
  let closed = false;
  b.close = async () => {
    if (closed) return;
    closed = true;
    server.forceShutdown();
  };
  return b;
}

export type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function echoClient(address: string): Client {
  return new EchoClient(address, grpc.credentials.createInsecure()) as unknown as Client;
}

export interface UnaryResult {
  err: grpc.ServiceError | null;
  reply: EchoReply | null;
  headers: grpc.Metadata | null;
  trailers: grpc.Metadata | null;
  status: grpc.StatusObject | null;
}

/** One unary call, with what the client library reports: error (status, details), metadata, trailers. */
export function unary(client: Client, req: EchoRequest, opts: { metadata?: grpc.Metadata; deadlineMs?: number } = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const out: UnaryResult = { err: null, reply: null, headers: null, trailers: null, status: null };
    const callOpts: grpc.CallOptions = opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
    const call = (client.Unary as (r: EchoRequest, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: EchoReply) => void) => grpc.ClientUnaryCall)(
      req,
      opts.metadata ?? new grpc.Metadata(),
      callOpts,
      (err, reply) => {
        out.err = err;
        out.reply = reply ?? null;
      },
    );
    call.on('metadata', (md) => (out.headers = md));
    call.on('status', (s: grpc.StatusObject) => {
      out.status = s;
      out.trailers = s.metadata;
      // The callback runs before 'status' in grpc-js; settle on the status, which always comes.
      setImmediate(() => resolve(out));
    });
  });
}

export { grpc };

export interface RawH2Backend {
  url: string;
  port: number;
  /** Sessions accepted, and the most streams any one of them had open at once. */
  sessions: number;
  maxOpenStreams: number;
  streams: number;
  close(): Promise<void>;
}

/**
 * A bare HTTP/2 (h2c) server whose stream handler misbehaves on purpose: it sees every stream
 * with the number of its session, and decides how it ends (RST_STREAM, GOAWAY, silence...).
 */
export async function rawH2Backend(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, info: { session: number; stream: number }) => void,
  settings: http2.Settings = {},
): Promise<RawH2Backend> {
  const server = http2.createServer({ settings });
  const b: RawH2Backend = { url: '', port: 0, sessions: 0, maxOpenStreams: 0, streams: 0, close: async () => undefined };
  const live = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    live.add(s);
    s.once('close', () => live.delete(s));
    (s as http2.ServerHttp2Session & { n?: number; open?: number }).n = ++b.sessions;
  });
  server.on('stream', (stream, headers) => {
    const s = stream.session as http2.ServerHttp2Session & { n: number; open?: number };
    s.open = (s.open ?? 0) + 1;
    b.maxOpenStreams = Math.max(b.maxOpenStreams, s.open);
    b.streams++;
    stream.on('error', () => undefined);
    stream.once('close', () => s.open!--);
    onStream(stream, headers, { session: s.n, stream: b.streams });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  b.port = (server.address() as AddressInfo).port;
  b.url = `h2c://${HOST}:${b.port}`;
  b.close = () =>
    new Promise<void>((resolve) => {
      for (const s of live) s.destroy();
      server.close(() => resolve());
    });
  return b;
}

/** A gRPC answer from a raw backend: headers, one message (the EchoReply bytes given), OK trailers. */
export function grpcOk(stream: http2.ServerHttp2Stream, text = 'raw'): void {
  if (stream.destroyed || stream.closed) return;
  const msg = Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(text)]), Buffer.from(text)]);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(msg.length, 1);
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.concat([frame, msg]));
}

/** Drains the request body of a raw backend's stream, then calls `fn`. */
export function afterBody(stream: http2.ServerHttp2Stream, fn: () => void): void {
  stream.resume();
  if (stream.readableEnded) fn();
  else stream.once('end', fn);
}
