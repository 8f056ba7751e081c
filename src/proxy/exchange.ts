/**
 * The request path's one contract. A request is an `Exchange`; a route's pipeline is a list of
 * `Stage`s composed once at config load (`compose`) and ending in the upstream call. A stage
 * either answers (through the exchange) or passes the exchange on with `next(x)`.
 *
 * The response, wherever it comes from (the backend, the cache, a fallback, the gateway's own
 * failure), is written through the exchange, which shows it to the stage taps as events
 * (headers, data, end, error) with its header list raw: order and repetition kept. Taps run
 * innermost first (the response flows back out through the stages), may edit the header list,
 * and never touch `res`. `finish` builds the call record, for every request, in one place.
 *
 * docs/pipeline.md draws the stage order and says why it is that order.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { RetryCondition, RetryPolicy } from '../config/schema.js';
import { failure, type FailureCode, type FailureContext } from '../failures/registry.js';
import { renderFailure, renderGrpcFailure, type FailureReport } from '../failures/respond.js';
import { grpcMethodOf, isGrpcContentType } from '../grpc/status.js';
import type { AttemptRecord, CallGrpc, CallSink } from '../observe/call-record.js';
import { traceFields, traceOf } from '../observe/trace.js';
import type { LookupFn } from '../upstream/connector.js';
import type { EffectiveTimeouts } from '../upstream/policy.js';
import type { Upstream } from '../upstream/upstream.js';
import type { EscapedSlashAction, NormalPath, PathParameterAction } from '../routing/path.js';

/** The rest of a pipeline, from one stage on. */
export type Next = (x: Exchange) => void;

/**
 * One step of the request path. It answers through `x` (a refusal, a cached response) or calls
 * `next(x)`; an async stage returns its promise, and a rejection becomes a gateway failure.
 */
export type Stage = (x: Exchange, next: Next) => void | Promise<void>;

/** Where a response comes from: only `backend` responses may be stored as the backend's. */
export type ResponseSource = 'backend' | 'cache' | 'fallback' | 'gateway';

/** The head of the response being sent, as the taps see it. */
export interface ResponseHead {
  status: number;
  statusText: string;
  /** Flat [name, value, ...] list, sent as it is: a tap may edit it in place. */
  headers: string[];
  source: ResponseSource;
  /**
   * Set by a tap that answers in place of this response (the cache turning a 304 to its own
   * revalidation into the stored response): this body is sent, the rest of the original dropped.
   */
  body: Buffer | null;
}

/** A listener on one exchange's response (undici handler events). */
export interface ResponseTap {
  onHeaders?(x: Exchange, head: ResponseHead): void;
  onData?(x: Exchange, chunk: Buffer): void;
  /** The response completed. */
  onEnd?(x: Exchange): void;
  /** The response was cut after its head was sent. */
  onError?(x: Exchange, err: Error): void;
}

/** Answers a failure of the upstream call in place of the gateway's error (a route fallback, stale-if-error). */
export interface Rescuer {
  /** Called when the upstream call starts; may tap the response (a stale fallback keeps it). */
  watch(x: Exchange): void;
  /** Sends an answer for `code` through `x` and returns true, or returns false. */
  answer(x: Exchange, code: FailureCode): boolean;
}

/** A compiled route: the config bound to live upstreams and its pipeline. */
export interface RouteRuntime {
  name: string;
  upstream: Upstream;
  stripPrefix: string | undefined;
  preserveHost: boolean;
  timeouts: EffectiveTimeouts;
  retries: RetryPolicy;
  retryOn: Set<RetryCondition>;
  retryStatuses: Set<number>;
  /** gRPC status codes `retries.on` names (src/grpc/status.ts), for gRPC calls. */
  retryGrpc: Set<number>;
  maxBodySize: number;
  /** What the route does with %2F/%5C and ;parameters in paths (src/routing/path.ts). */
  escapedSlashes: EscapedSlashAction;
  pathParameters: PathParameterAction;
  /** What answers a failure in place of the gateway's error (`fallback:`); null: nothing. */
  fallback: Rescuer | null;
  /** The route's stages composed with the upstream call; a route without policies is the call alone. */
  pipeline: Next;
  /** Upgrades (WebSocket) allowed, with the session limits; null: refused with 400 (src/proxy/tunnel.ts). */
  websocket: { idleTimeout: number; maxLifetime: number } | null;
}

/** What every exchange shares with the gateway around it. */
export interface CallEnv {
  expose: boolean;
  sink: CallSink;
  lookup: LookupFn | undefined;
  isTrustedPeer(address: string | undefined): boolean;
  /**
   * Calls in flight, for graceful shutdown: a count, not a Set of calls. A long-lived Set that
   * takes and drops an entry per call keeps rehashing its table, and V8 links each replaced table
   * to its successor; once a full GC has moved one into the old generation, every later table and
   * the calls in it are promoted (bench/RESULTS.md, "Profile findings": the sustained-load fall).
   */
  inflight: { calls: number };
  /** The gateway is shutting down: responses close their connection. */
  draining(): boolean;
  /** Upgraded sessions past their 101, for draining (src/proxy/tunnel.ts). */
  tunnels?: Set<{ closeSession(reason: string, code?: number, graceMs?: number): void }>;
  /** How long a half-closed or draining upgraded session gets before it is cut (ms). */
  closeGrace?: number;
}

/** What node:http hands over with a request to upgrade the connection (WebSocket). */
export interface UpgradeRequest {
  socket: import('node:net').Socket;
  /** Bytes the client sent after the request head. */
  head: Buffer;
}

/**
 * What the exchange uses of a response object: node:http's ServerResponse has it, and so has
 * the HTTP/2 compatibility API's response; nothing reaches into the socket behind it.
 */
export interface DownstreamResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableFinished: boolean;
  readonly writableEnded: boolean;
  statusCode: number;
  /** Headers of a response sent by end() alone (gRPC's trailers-only: Exchange.headOnly). */
  setHeader(name: string, value: string | string[]): unknown;
  addTrailers(trailers: Record<string, string>): void;
  writeHead(status: number, statusText: string, headers: string[]): unknown;
  writeHead(status: number, headers: string[]): unknown;
  write(chunk: Buffer): boolean;
  end(): unknown;
  destroy(err?: Error): unknown;
  on(event: 'close' | 'drain', listener: () => void): unknown;
  removeListener(event: 'close' | 'drain', listener: () => void): unknown;
  writeEarlyHints?(hints: Record<string, string | string[]>): void;
}

/** A response with no client behind it, for work the gateway does on its own (a background revalidation). */
export class DetachedResponse extends EventEmitter implements DownstreamResponse {
  headersSent = false;
  destroyed = false;
  writableFinished = false;
  statusCode = 200;
  get writableEnded(): boolean {
    return this.writableFinished;
  }
  setHeader(): this {
    return this;
  }
  addTrailers(): void {}
  writeHead(status: number): this {
    this.statusCode = status;
    this.headersSent = true;
    return this;
  }
  write(): boolean {
    return true;
  }
  end(): this {
    this.writableFinished = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
}

/** Interim response headers a proxy forwards (RFC 9110 15.2): 103 Early Hints. */
const INTERIM_DROPPED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length']);

const NO_ATTEMPTS: AttemptRecord[] = [];

/** One request on its way through the gateway, and the response on its way back. */
export class Exchange {
  readonly startedAt = Date.now();
  readonly t0 = performance.now();
  readonly method: string;
  /** The address of the peer that sent the request (a client, or a proxy in front of the gateway). */
  readonly peer: string;
  /** Path and query exactly as on the request line (what HMAC signatures cover). */
  readonly rawPath: string;
  readonly rawQuery: string;
  /** The normalised path the route was chosen by, and the query (with its `?`, or empty). */
  path = '';
  query = '';
  /** The Host header normalised for matching (case, trailing dot, port: src/routing/path.ts). */
  hostname = '';
  /** The path's escaped separators or parameters, for the route's path policy; null when it has none. */
  escapes: NormalPath | null = null;
  /** Path and query sent upstream (after stripPrefix; key auth removes `api_key`). */
  upstreamPath = '';
  route: RouteRuntime | null = null;
  /** Where the call goes: the route's upstream unless a stage chose another. */
  upstream: Upstream | null = null;
  /** Who is calling, once an auth stage identified a consumer. */
  consumer: string | null = null;
  /** The client's X-Request-Timeout budget, ms. */
  clientBudget: number | undefined = undefined;
  attempts: AttemptRecord[] = NO_ATTEMPTS;
  bytesIn = 0;
  bytesOut = 0;
  /** Set by a stage that stores the response itself (the cache), so a stale fallback does not store it again. */
  storing = false;
  /** Set for a request to upgrade the connection: the upstream call becomes a tunnel (src/proxy/tunnel.ts). */
  upgrade: UpgradeRequest | null = null;
  /** Answers an upstream failure before the route's fallback does (the cache's stale-if-error). */
  rescue: ((x: Exchange, code: FailureCode) => boolean) | null = null;
  /** A gRPC request (content-type application/grpc*): failures are answered in gRPC terms (docs/grpc.md). */
  readonly isGrpc: boolean;
  /** The gRPC side of the call, for its record (set by the upstream call). */
  grpc: CallGrpc | null = null;
  private taps: ResponseTap[] | null = null;
  /** Headers the gateway adds to whatever answer is sent (rate-limit state, X-Cache). */
  private extra: string[] | null = null;
  private replaced = false;
  private finished = false;
  private ip: string | undefined;

  constructor(
    /** The client request; HMAC auth replaces it with a replay of the body it had to read. */
    public req: IncomingMessage,
    readonly res: DownstreamResponse,
    readonly env: CallEnv,
    readonly requestId: string,
  ) {
    this.method = req.method ?? 'GET';
    this.isGrpc = isGrpcContentType(req.headers['content-type']);
    // Read now: the socket leaves the request once the response is done.
    this.peer = req.socket.remoteAddress ?? '';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.rawPath = q === -1 ? url : url.slice(0, q);
    this.rawQuery = q === -1 ? '' : url.slice(q + 1);
  }

  /** The route matched: the exchange goes to its upstream with `upstreamPath`. */
  routeTo(route: RouteRuntime, upstreamPath: string, clientBudget: number | undefined): void {
    this.route = route;
    this.upstream = route.upstream;
    this.upstreamPath = upstreamPath;
    this.clientBudget = clientBudget;
  }

  /**
   * The client's address: the peer itself, unless the peer is a trusted proxy; then the nearest
   * X-Forwarded-For hop that is not one (the right-most untrusted entry), as nginx's realip does.
   */
  get clientIp(): string {
    return (this.ip ??= clientAddress(this.peer, this.req.headers['x-forwarded-for'], this.env.isTrustedPeer));
  }

  /** Subscribes `tap` to the response. */
  tap(tap: ResponseTap): void {
    (this.taps ??= []).push(tap);
  }

  /** Adds a header to whatever response this exchange sends. */
  addHeader(name: string, value: string): void {
    (this.extra ??= []).push(name, value);
  }

  /** The client went away. */
  get gone(): boolean {
    return this.res.destroyed && !this.res.writableFinished;
  }

  /** The client left while a stage waited (Redis, a body, an injected delay): records that and returns true. */
  left(): boolean {
    if (!this.res.destroyed && !this.req.socket?.destroyed) return false;
    this.finish(499, 'CLIENT_CLOSED_REQUEST');
    return true;
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  /**
   * A response that is its head alone, sent as one HEADERS frame that ends the stream over
   * HTTP/2 (node's compat API sends END_STREAM with the headers only when they were not written
   * before end): gRPC's trailers-only response.
   */
  headOnly(status: number, headers: string[], source: ResponseSource): void {
    if (this.extra) headers.push(...this.extra);
    const taps = this.taps;
    if (taps) {
      const h: ResponseHead = { status, statusText: '', headers, source, body: null };
      for (let i = taps.length - 1; i >= 0; i--) taps[i]!.onHeaders?.(this, h);
      status = h.status;
      headers = h.headers;
    }
    const res = this.res;
    res.statusCode = status;
    const merged = new Map<string, string[]>();
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase();
      const list = merged.get(name);
      if (list) list.push(headers[i + 1]!);
      else merged.set(name, [headers[i + 1]!]);
    }
    for (const [name, values] of merged) res.setHeader(name, values.length === 1 ? values[0]! : values);
    if (this.req.httpVersionMajor !== 2) res.setHeader('content-length', '0');
    this.end();
  }

  /** Sends the response head; `headers` is handed to the taps, then to the client as it is. */
  head(status: number, headers: string[], source: ResponseSource, statusText = ''): void {
    if (this.extra) headers.push(...this.extra);
    const taps = this.taps;
    let body: Buffer | null = null;
    if (taps) {
      const h: ResponseHead = { status, statusText, headers, source, body: null };
      for (let i = taps.length - 1; i >= 0; i--) taps[i]!.onHeaders?.(this, h);
      status = h.status;
      statusText = h.statusText;
      headers = h.headers;
      body = h.body;
    }
    if (this.env.draining()) headers.push('connection', 'close');
    if (statusText) this.res.writeHead(status, statusText, headers);
    else this.res.writeHead(status, headers);
    if (body) {
      this.replaced = true;
      this.bytesOut += body.length;
      if (this.method !== 'HEAD') this.res.write(body);
    }
  }

  /** An interim response from the backend: 103 Early Hints pass on to the client (when its response object can send them). */
  interim(status: number, headers: readonly string[]): void {
    if (status !== 103 || !this.res.writeEarlyHints || this.res.headersSent) return;
    const hints: Record<string, string | string[]> = {};
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase();
      if (INTERIM_DROPPED.has(name)) continue;
      const prev = hints[name];
      hints[name] = prev === undefined ? headers[i + 1]! : ([] as string[]).concat(prev, headers[i + 1]!);
    }
    this.res.writeEarlyHints(hints);
  }

  /** A body chunk; false when the client is not keeping up (wait for 'drain'). */
  data(chunk: Buffer): boolean {
    if (this.replaced) return true;
    this.bytesOut += chunk.length;
    const taps = this.taps;
    if (taps) for (let i = taps.length - 1; i >= 0; i--) taps[i]!.onData?.(this, chunk);
    return this.res.write(chunk);
  }

  /** The response is complete; `trailers` (a flat name/value list) go with its end (HTTP/2, or chunked HTTP/1.1). */
  end(trailers?: Buffer[] | string[] | null): void {
    if (trailers && trailers.length) this.res.addTrailers(trailerObject(trailers));
    this.res.end();
    const taps = this.taps;
    if (taps) for (let i = taps.length - 1; i >= 0; i--) taps[i]!.onEnd?.(this);
  }

  /** A whole response in one go; `headers` carry its Content-Length. */
  send(status: number, headers: string[], body: Buffer, source: ResponseSource): void {
    this.head(status, headers, source);
    if (body.length && this.method !== 'HEAD') this.data(body);
    this.end();
  }

  /** Cuts a response whose head is already out: the only honest signal left. */
  abort(err: Error): void {
    const taps = this.taps;
    if (taps) for (let i = taps.length - 1; i >= 0; i--) taps[i]!.onError?.(this, err);
    this.res.destroy();
  }

  /**
   * Answers with a gateway failure from the registry (or cuts the connection when the response
   * has started) and records the call. Returns the status sent.
   */
  fail(code: FailureCode, report: Omit<FailureReport, 'code' | 'requestId'> = { context: {} }): number {
    if (this.isGrpc) return this.failGrpc(code, report);
    if (this.res.headersSent) {
      this.abort(Object.assign(new Error(code), { code }));
      this.finish(failure(code).status, code);
      return failure(code).status;
    }
    const r = renderFailure({ ...report, code, requestId: this.requestId }, this.env.expose);
    const body = Buffer.from(r.body);
    const headers: string[] = [];
    for (const name in r.headers) headers.push(name, r.headers[name]!);
    headers.push('content-length', String(body.length));
    this.send(r.status, headers, body, 'gateway');
    this.finish(r.status, code);
    return r.status;
  }

  /**
   * A gRPC caller's failure: trailers-only (HTTP 200, grpc-status, grpc-message), or, when the
   * response has started over HTTP/2, the same in trailers that end it. The record says 200:
   * what the client received; the code and the gRPC status say what failed.
   */
  private failGrpc(code: FailureCode, report: Omit<FailureReport, 'code' | 'requestId'>): number {
    const r = renderGrpcFailure({ ...report, code, requestId: this.requestId }, this.env.expose);
    this.grpc ??= { ...(grpcMethodOf(this.rawPath) ?? { service: null, method: null }), status: null, sent: 0, received: 0 };
    this.grpc.status = Number(r.trailers['grpc-status']);
    if (!this.res.headersSent) this.headOnly(200, r.headers, 'gateway');
    else if (this.req.httpVersionMajor === 2 && !this.res.writableEnded) {
      this.res.addTrailers(r.trailers);
      this.res.end();
    } else this.abort(Object.assign(new Error(code), { code }));
    this.finish(200, code);
    return 200;
  }

  /** A stage refused the request (phase `request`), with the route and upstream named. */
  refuse(code: FailureCode, context: FailureContext, status?: number): void {
    this.fail(code, { phase: 'request', context, status });
  }

  /** Leaves the call record behind, once: every request ends here. */
  finish(status: number, code: FailureCode | null): void {
    if (this.finished) return;
    this.finished = true;
    const route = this.route;
    this.env.sink.record({
      requestId: this.requestId,
      time: this.startedAt,
      route: route?.name ?? null,
      upstream: this.upstream?.name ?? null,
      consumer: this.consumer,
      method: this.method,
      path: this.req.url ?? '',
      // What the client received: once the head went out its status stands, whatever failed after it (that is `code`).
      status: this.res.headersSent ? this.res.statusCode : status,
      code,
      attempts: this.attempts,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      durationMs: Math.round((performance.now() - this.t0) * 100) / 100,
      clientIp: this.clientIp,
      ...(route ? traceFields(traceOf(this.req)) : undefined),
      ...(this.grpc ? { grpc: this.grpc } : undefined),
    });
  }

  /** A stage threw or rejected: the client gets a failure instead of a hanging request. */
  crash(err: Error): void {
    if (this.finished) {
      if (!this.res.writableFinished) this.res.destroy(err);
      return;
    }
    this.fail('BAD_REQUEST', { phase: 'request', context: { route: this.route?.name, detail: 'the request could not be processed' } });
  }
}

/** Response trailers as node's addTrailers takes them (repeated names joined, as HTTP allows). */
function trailerObject(raw: Buffer[] | string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = String(raw[i]).toLowerCase();
    const value = String(raw[i + 1]);
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

/** See Exchange.clientIp. */
function clientAddress(peer: string, xff: string | string[] | undefined, isTrusted: (address: string | undefined) => boolean): string {
  if (!isTrusted(peer)) return peer;
  if (typeof xff !== 'string') return peer;
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim();
    if (hop && !isTrusted(hop)) return hop;
  }
  return peer;
}

function runStage(stage: Stage, x: Exchange, next: Next): void {
  let r: void | Promise<void>;
  try {
    r = stage(x, next);
  } catch (err) {
    x.crash(err as Error);
    return;
  }
  if (r) r.catch((err: Error) => x.crash(err));
}

/** Composes stages in front of `last` into one function, once per route at config load. */
export function compose(stages: readonly Stage[], last: Next): Next {
  let next = last;
  for (let i = stages.length - 1; i >= 0; i--) {
    const stage = stages[i]!;
    const inner = next;
    next = (x) => runStage(stage, x, inner);
  }
  return next;
}
