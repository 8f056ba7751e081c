/**
 * The pool of an HTTP/2 target (`h2c://` prior knowledge, `h2://` TLS with ALPN h2): at most
 * `maxConnections` sessions, each carrying up to the backend's SETTINGS_MAX_CONCURRENT_STREAMS
 * streams (capped at MAX_STREAMS). A lease is one stream; a call that finds every session full
 * waits in the same bounded FIFO queue as on an HTTP/1.1 target, for at most `queueTimeout`
 * (then UPSTREAM_POOL_EXHAUSTED).
 *
 * A session's connect covers DNS, TCP, TLS and the HTTP/2 handshake (the backend's SETTINGS),
 * so a port that does not speak HTTP/2 fails in the connect phase (UPSTREAM_PROTOCOL_MISMATCH).
 * A GOAWAY retires its session: it takes no new stream, finishes the ones it accepted, and its
 * place in the pool goes to a fresh session. Streams it did not accept fail with H2_GOAWAY (or
 * H2_RST_REFUSED_STREAM), which the call retries on another session: the backend did no work.
 *
 * Exchanges are driven through undici's handler interface (onConnect, onHeaders, onData,
 * onComplete with trailers, onError), so an Attempt runs on either transport unchanged.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { openConnection, type ConnectFailure, type ConnectTimings } from './connector.js';
import type { LeaseCallback, PoolOptions, PoolSlot, PoolStats, UpstreamPool } from './pool.js';
import type { Target } from './target.js';

/** Streams per session, whatever the backend allows: bounds the memory one session can hold. */
export const MAX_STREAMS = 1000;
/** Assumed until the backend's SETTINGS say otherwise (RFC 9113 recommends at least 100). */
const INITIAL_STREAMS = 100;

const { NGHTTP2_CANCEL } = http2.constants;
/** RST_STREAM / GOAWAY error codes by number (RFC 9113 section 7). */
const H2_ERROR_NAMES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];
const h2ErrorName = (code: number) => H2_ERROR_NAMES[code] ?? `ERROR_${code}`;

type ConnectWaiter = (failure: ConnectFailure | null, timings: ConnectTimings, displaced?: boolean) => void;

type Handler = Dispatcher.DispatchHandler & {
  onConnect(abort: (err?: Error) => void): void;
  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: string[] | null): void;
  onError(err: Error): void;
  onBodySent?(chunk: Buffer | string): void;
  onRequestSent?(): void;
};

const h2Error = (code: string, message: string) => Object.assign(new Error(message), { code });

/** One session and what rides on it. */
class H2Connection {
  session: ClientHttp2Session | null = null;
  /** Streams leased on this connection (connecting or live). */
  streams = 0;
  maxStreams = INITIAL_STREAMS;
  /** Streams completed on the current session (0: it is fresh). */
  uses = 0;
  releasedAt = 0;
  /** Retired (GOAWAY, dropped): no new streams; closed when its last stream ends. */
  retired = false;
  /** The error that ended the session, for the streams it takes down. */
  error: (Error & { code?: string }) | null = null;
  /** Waiting for the session being opened, if one is. */
  private waiters: ConnectWaiter[] | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly pool: H2TargetPool) {}

  get live(): boolean {
    const s = this.session;
    return s !== null && !s.closed && !s.destroyed && !this.retired;
  }

  get connecting(): boolean {
    return this.waiters !== null;
  }

  /** Opens the session (or joins the opening one): DNS, TCP, TLS, then the backend's SETTINGS. */
  connect(timeout: number, cb: ConnectWaiter): void {
    if (this.waiters) {
      this.waiters.push(cb);
      return;
    }
    this.waiters = [cb];
    const started = performance.now();
    const settle = (failure: ConnectFailure | null, timings: ConnectTimings) => {
      const ws = this.waiters ?? [];
      this.waiters = null;
      // Streams joined while the session opened on an assumed limit; those past the backend's real one move.
      ws.forEach((w, i) => w(failure, timings, !failure && i >= this.maxStreams));
      if (!failure) this.pool.serveQueue();
    };
    openConnection(this.pool.target, { ...this.pool.options.connect, timeout }, (failure, socket, timings) => {
      if (failure || !socket) {
        settle(failure ?? { phase: 'connect', errorCode: 'ECONNREFUSED', message: 'connect failed', timeout: false }, timings);
        return;
      }
      this.handshake(socket, Math.max(1, timeout - (performance.now() - started)), timings, settle);
    });
  }

  /** The HTTP/2 preface and SETTINGS exchange, within what is left of the connect timeout. */
  private handshake(socket: Socket, timeout: number, timings: ConnectTimings, settle: (f: ConnectFailure | null, t: ConnectTimings) => void): void {
    const t0 = performance.now();
    const session = http2.connect(this.pool.target.origin, { createConnection: () => socket, settings: { enablePush: false } });
    let done = false;
    const fail = (errorCode: string, message: string, timedOut = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      timings.connect += Math.round((performance.now() - t0) * 100) / 100;
      session.destroy();
      socket.destroy();
      settle({ phase: 'connect', errorCode, message, timeout: timedOut }, timings);
    };
    const timer = setTimeout(() => fail('ETIMEDOUT', `no HTTP/2 SETTINGS from the backend within the connect timeout`, true), timeout);
    session.once('error', (err: Error & { code?: string }) => {
      const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
      fail(reset ? err.code! : 'CAUSEWAY_NOT_H2', reset ? err.message : `the backend does not speak HTTP/2 (${err.code ?? err.message})`);
    });
    // An HTTP/2 server sends its SETTINGS at once: a peer that closes instead does not speak HTTP/2.
    session.once('close', () => fail('CAUSEWAY_NOT_H2', 'the backend closed the connection instead of answering the HTTP/2 preface'));
    session.once('remoteSettings', (settings) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.removeAllListeners('error');
      session.removeAllListeners('close');
      timings.connect += Math.round((performance.now() - t0) * 100) / 100;
      this.adopt(session, settings.maxConcurrentStreams);
      settle(null, timings);
    });
  }

  private adopt(session: ClientHttp2Session, maxConcurrent: number | undefined): void {
    this.session = session;
    this.retired = false;
    this.error = null;
    this.uses = 0;
    this.maxStreams = Math.max(1, Math.min(MAX_STREAMS, maxConcurrent ?? INITIAL_STREAMS));
    session.on('remoteSettings', (s) => {
      this.maxStreams = Math.max(1, Math.min(MAX_STREAMS, s.maxConcurrentStreams ?? this.maxStreams));
      this.pool.serveQueue();
    });
    session.on('error', (err: Error & { code?: string }) => {
      this.error = err;
    });
    session.on('goaway', () => this.pool.retire(this));
    session.once('close', () => {
      if (this.session === session) this.session = null;
      this.pool.sessionClosed(this);
    });
    session.unref();
  }

  /** A stream on this connection ended. */
  streamEnded(): void {
    this.streams--;
    this.releasedAt = performance.now();
    if (this.streams > 0) return;
    if (this.retired) {
      this.session?.close();
      return;
    }
    if (this.session) {
      const idle = this.pool.options.idleTimeout;
      this.idleTimer ??= setTimeout(() => {
        this.idleTimer = null;
        if (this.streams === 0) this.close();
      }, idle);
      this.idleTimer.unref();
    }
  }

  streamStarted(): void {
    this.streams++;
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
  }

  /** Closes the session gracefully: streams in flight finish. */
  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.session?.close();
  }

  destroy(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.session?.destroy();
  }
}

/** One leased stream. */
class H2Slot implements PoolSlot {
  readonly client: Pick<Dispatcher, 'dispatch'> = this;
  uses: number;
  releasedAt: number;
  exchanging = false;
  private stream: ClientHttp2Stream | null = null;
  private handed = 0;
  released = false;
  /** Waiting in the pool's queue for a stream elsewhere (displaced at connect): cancels that wait. */
  cancelMove: (() => void) | undefined;

  constructor(
    public conn: H2Connection,
    private readonly pool: H2TargetPool,
  ) {
    this.uses = conn.uses;
    this.releasedAt = conn.releasedAt;
  }

  get connected(): boolean {
    return this.conn.live;
  }

  get socket(): { bytesWritten: number; writableLength: number } | null {
    return this.stream ? this : null;
  }

  /** Request bytes the stream passed on (the rest wait for the backend's flow-control window). */
  get bytesWritten(): number {
    return this.handed - (this.stream?.writableLength ?? 0);
  }

  get writableLength(): number {
    return this.stream?.writableLength ?? 0;
  }

  connect(timeout: number, cb: (f: ConnectFailure | null, t: ConnectTimings) => void): void {
    const started = performance.now();
    this.conn.connect(timeout, (failure, timings, displaced) => {
      if (!displaced) cb(failure, timings);
      else this.pool.move(this, Math.max(1, timeout - (performance.now() - started)), timings, cb);
    });
  }

  /** A stream on a suspect session: retire the session (its other streams finish) and start afresh. */
  dropConnection(): void {
    if (this.conn.session) this.pool.retire(this.conn);
  }

  dispatch(opts: Dispatcher.DispatchOptions, h: Dispatcher.DispatchHandler): boolean {
    const handler = h as Handler;
    const conn = this.conn;
    const session = conn.session;
    let done = false;
    let ended = false;
    let trailers: string[] | null = null;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      handler.onError(err);
    };
    const abort = (err?: Error) => {
      if (done) return;
      if (this.stream && !this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
      fail(err ?? h2Error('UND_ERR_ABORTED', 'aborted'));
    };
    handler.onConnect(abort);
    if (done) return true;
    if (!session || session.closed || session.destroyed) {
      fail(h2Error(conn.error?.code ?? 'H2_SESSION_CLOSED', 'the HTTP/2 session closed before the stream started'));
      return true;
    }
    const body = (opts.body ?? null) as Readable | null;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(requestHeaders(opts, this.pool.target), { endStream: body === null });
    } catch (err) {
      // A session that received GOAWAY (or is closing) refuses new streams synchronously.
      const code = (err as { code?: string }).code;
      fail(h2Error(code === 'ERR_HTTP2_GOAWAY_SESSION' ? 'H2_GOAWAY' : (code ?? 'H2_SESSION_CLOSED'), (err as Error).message));
      return true;
    }
    this.stream = stream;
    stream.on('error', () => undefined);
    stream.on('response', (headers: IncomingHttpHeaders) => {
      const status = Number(headers[':status']);
      if (status < 200 || done) return;
      const raw = flatten(headers);
      handler.onHeaders(status, raw, () => stream.resume(), '');
    });
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      if (handler.onData(chunk) === false) stream.pause();
    });
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      trailers = flattenStrings(t);
    });
    stream.on('end', () => {
      ended = true;
    });
    stream.on('close', () => {
      if (done) return;
      const rst = stream.rstCode ?? 0;
      if (ended && rst === 0) {
        done = true;
        handler.onComplete(trailers);
        return;
      }
      fail(streamFailure(stream, conn, rst));
    });
    if (body === null) {
      handler.onRequestSent?.();
      return true;
    }
    body.on('data', (chunk: Buffer) => {
      this.handed += chunk.length;
      handler.onBodySent?.(chunk);
    });
    body.once('end', () => {
      if (!done) handler.onRequestSent?.();
    });
    body.once('error', (err: Error & { code?: string }) => abort(err));
    body.pipe(stream);
    return true;
  }
}

/** The error a stream that did not complete is failed with: why it ended, in classify's terms. */
function streamFailure(stream: ClientHttp2Stream, conn: H2Connection, rst: number): Error {
  // A stream above the GOAWAY's last stream id, or never given an id, was not processed.
  if (rst === http2.constants.NGHTTP2_REFUSED_STREAM) return h2Error('H2_RST_REFUSED_STREAM', 'the backend refused the stream (REFUSED_STREAM): it was not processed');
  const goaway = (stream.session as (ClientHttp2Session & { goawayLastStreamId?: number }) | undefined) && conn.retired;
  if (goaway && (stream.id === undefined || rst === NGHTTP2_CANCEL)) return h2Error('H2_GOAWAY', 'the backend sent GOAWAY before processing the stream');
  if (conn.error && (rst === 0 || rst === http2.constants.NGHTTP2_INTERNAL_ERROR)) {
    const code = conn.error.code ?? 'H2_SESSION_CLOSED';
    return h2Error(code === 'ERR_HTTP2_ERROR' || code === 'ERR_HTTP2_SESSION_ERROR' ? 'H2_PROTOCOL_ERROR' : code, conn.error.message);
  }
  if (rst === 0) return h2Error('H2_SESSION_CLOSED', 'the HTTP/2 session closed before the stream completed');
  return h2Error(`H2_RST_${h2ErrorName(rst)}`, `the backend reset the stream (RST_STREAM ${h2ErrorName(rst)})`);
}

/** undici-style options to HTTP/2 request headers: `host` becomes :authority, names are lower case. */
function requestHeaders(opts: Dispatcher.DispatchOptions, target: Target): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': opts.method,
    ':path': opts.path,
    ':scheme': target.tls ? 'https' : 'http',
    ':authority': target.hostHeader,
  };
  const raw = opts.headers as string[] | null | undefined;
  if (!raw) return out;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* : */) continue;
    if (name === 'host') {
      out[':authority'] = value;
      continue;
    }
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [String(prev), value];
  }
  return out;
}

/** HTTP/2 headers as undici's raw list of Buffers, pseudo-headers left out. */
function flatten(headers: IncomingHttpHeaders): Buffer[] {
  const out: Buffer[] = [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(Buffer.from(name, 'latin1'), Buffer.from(x, 'latin1'));
    else out.push(Buffer.from(name, 'latin1'), Buffer.from(String(v), 'latin1'));
  }
  return out;
}

function flattenStrings(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 58) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(name, x);
    else out.push(name, String(v));
  }
  return out;
}

interface Waiter {
  cb: LeaseCallback;
  timer: NodeJS.Timeout;
}

export class H2TargetPool implements UpstreamPool {
  private conns: H2Connection[] = [];
  /** Retired sessions still finishing their streams (not counted against maxConnections). */
  private readonly retired = new Set<H2Connection>();
  private readonly queue: Waiter[] = [];
  inUse = 0;
  exhausted = 0;

  constructor(
    readonly target: Target,
    readonly options: PoolOptions,
  ) {}

  /** A connection with a free stream: a live one first, then one opening, then a new one. */
  private room(): H2Connection | null {
    let opening: H2Connection | null = null;
    let empty: H2Connection | null = null;
    for (const c of this.conns) {
      if (c.streams >= c.maxStreams) continue;
      if (c.live) return c;
      if (c.connecting) opening ??= c;
      else empty ??= c;
    }
    if (opening) return opening;
    if (empty) return empty;
    if (this.conns.length < this.options.maxConnections) {
      const c = new H2Connection(this);
      this.conns.push(c);
      return c;
    }
    return null;
  }

  private take(c: H2Connection): H2Slot {
    c.streamStarted();
    this.inUse++;
    return new H2Slot(c, this);
  }

  lease(cb: LeaseCallback): (() => void) | undefined {
    const c = this.room();
    if (c) {
      cb(this.take(c));
      return undefined;
    }
    if (this.queue.length >= this.options.maxQueue || this.options.queueTimeout === 0) {
      this.exhausted++;
      cb(null, 'queue-full');
      return undefined;
    }
    const waiter: Waiter = {
      cb,
      timer: setTimeout(() => {
        this.unqueue(waiter);
        this.exhausted++;
        cb(null, 'queue-timeout');
      }, this.options.queueTimeout),
    };
    this.queue.push(waiter);
    return () => {
      clearTimeout(waiter.timer);
      this.unqueue(waiter);
    };
  }

  private unqueue(w: Waiter): void {
    const i = this.queue.indexOf(w);
    if (i !== -1) this.queue.splice(i, 1);
  }

  /** Gives waiting calls the streams that became free (a release, a larger SETTINGS, a new session). */
  serveQueue(): void {
    while (this.queue.length) {
      const c = this.room();
      if (!c) return;
      const w = this.queue.shift()!;
      clearTimeout(w.timer);
      w.cb(this.take(c));
    }
  }

  /**
   * A stream displaced from a session whose SETTINGS allowed fewer streams than had joined it
   * moves to a session with room, or waits for one like any lease (queueTimeout, then phase `pool`).
   */
  move(slot: H2Slot, timeout: number, timings: ConnectTimings, cb: (f: ConnectFailure | null, t: ConnectTimings) => void): void {
    slot.conn.streams--;
    this.inUse--;
    slot.cancelMove = this.lease((next, reason) => {
      slot.cancelMove = undefined;
      if (!next) {
        // Released (the call ended) while waiting: nothing holds a stream any more.
        slot.released = true;
        cb({ phase: 'pool', errorCode: reason === 'queue-timeout' ? 'CAUSEWAY_POOL_QUEUE_TIMEOUT' : 'CAUSEWAY_POOL_QUEUE_FULL', message: 'no HTTP/2 stream became free', timeout: false }, timings);
        return;
      }
      // The new lease's stream becomes this slot's.
      const n = next as H2Slot;
      n.released = true;
      slot.conn = n.conn;
      if (slot.conn.live) cb(null, timings);
      else slot.connect(timeout, cb);
    });
  }

  release(s: PoolSlot): void {
    const slot = s as H2Slot;
    if (slot.released) return;
    slot.released = true;
    if (slot.cancelMove) {
      // It gave its stream back when it was displaced and holds none while it waits.
      slot.cancelMove();
      slot.cancelMove = undefined;
      return;
    }
    this.inUse--;
    slot.conn.uses++;
    slot.conn.streamEnded();
    if (slot.conn.retired && slot.conn.streams === 0) this.retired.delete(slot.conn);
    this.serveQueue();
  }

  /** A session got GOAWAY (or was dropped): it finishes its streams; a fresh connection takes its place. */
  retire(c: H2Connection): void {
    if (c.retired) return;
    c.retired = true;
    const i = this.conns.indexOf(c);
    if (i !== -1) this.conns.splice(i, 1);
    if (c.streams === 0) c.close();
    else this.retired.add(c);
    this.serveQueue();
  }

  sessionClosed(c: H2Connection): void {
    if (c.retired && c.streams === 0) this.retired.delete(c);
  }

  dropIdleOlderThan(minIdleMs: number): number {
    const now = performance.now();
    let n = 0;
    for (const c of [...this.conns]) {
      if (c.live && c.streams === 0 && now - c.releasedAt >= minIdleMs) {
        this.retire(c);
        n++;
      }
    }
    return n;
  }

  stats(): PoolStats {
    let connected = 0;
    let idle = 0;
    for (const c of this.conns) {
      if (c.live) {
        connected++;
        if (c.streams === 0) idle++;
      }
    }
    return {
      size: this.conns.length,
      inUse: this.inUse,
      idle,
      connected,
      queued: this.queue.length,
      maxConnections: this.options.maxConnections,
      exhausted: this.exhausted,
    };
  }

  async close(): Promise<void> {
    for (const w of this.queue.splice(0)) {
      clearTimeout(w.timer);
      w.cb(null, 'queue-full');
    }
    const all = [...this.conns, ...this.retired];
    await Promise.all(
      all.map(
        (c) =>
          new Promise<void>((resolve) => {
            const s = c.session;
            if (!s || s.closed || s.destroyed) return resolve();
            s.close(() => resolve());
          }),
      ),
    );
  }

  destroy(): void {
    for (const w of this.queue.splice(0)) clearTimeout(w.timer);
    for (const c of [...this.conns, ...this.retired]) c.destroy();
  }
}
