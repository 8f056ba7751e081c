/**
 * HTTP/2 to clients: one node:http2 server that never listens itself; the listeners
 * (listeners.ts) hand it every connection that speaks h2 (ALPN on TLS, the preface on h2c).
 * Requests reach the same handler as HTTP/1.1 through node's compatibility API, with two
 * adjustments made once here instead of in every stage: `:authority` stands in for a missing
 * Host, and HTTP/1-only response headers (Connection and the hop-by-hop family), which HTTP/2
 * forbids (RFC 9113 8.2.2), are dropped instead of failing the response.
 *
 * Abuse bounds are nghttp2's and node's, set from the config: concurrent streams per
 * connection, the header list size, invalid frames and refused streams per session (rapid
 * reset and CONTINUATION floods end the connection); test/edge/http2-abuse.test.ts sends them.
 */
import http2, { Http2ServerRequest, Http2ServerResponse, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/schema.js';
import { Replay } from './listeners.js';

/** Response headers HTTP/2 forbids (RFC 9113 8.2.2); node throws on them. */
const H1_ONLY = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** The client connection behind a session that came through the h2c sniffer (listeners.ts). */
const rawSocket = new WeakMap<Http2Session, Socket>();

/** An HTTP/2 request that carries Host (from :authority) like an HTTP/1.1 one. */
export class EdgeH2Request extends Http2ServerRequest {
  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, options: object, rawHeaders: string[]) {
    const authority = headers[':authority'];
    if (authority !== undefined) headers.host = authority;
    super(stream, headers, options, rawHeaders);
  }
}

/** An HTTP/2 response that drops HTTP/1-only headers and reports `destroyed` like node:http's. */
export class EdgeH2Response extends Http2ServerResponse {
  override setHeader(name: string, value: number | string | readonly string[]): void {
    if (H1_ONLY.has(name.toLowerCase())) return;
    super.setHeader(name, value);
  }

  // HTTP/2 has no reason phrase: a status text is dropped here rather than warned about by node.
  override writeHead(status: number, a?: string | OutgoingHttpHeaders | readonly string[], b?: OutgoingHttpHeaders | readonly string[]): this {
    const headers = typeof a === 'string' ? b : a;
    if (!headers) return super.writeHead(status);
    if (Array.isArray(headers)) {
      const list = headers as readonly string[];
      let clean: string[] | null = null;
      for (let i = 0; i < list.length; i += 2) {
        if (H1_ONLY.has(list[i]!.toLowerCase())) clean ??= list.slice(0, i);
        else clean?.push(list[i]!, list[i + 1]!);
      }
      return super.writeHead(status, (clean ?? list) as unknown as OutgoingHttpHeaders);
    }
    const obj = headers as OutgoingHttpHeaders;
    for (const k of Object.keys(obj)) if (H1_ONLY.has(k.toLowerCase())) delete obj[k];
    return super.writeHead(status, obj);
  }
}

// A sniffed h2c session runs over a replaying stream, whose socket has no address: the request
// stages see the client connection itself.
const baseSocket = Object.getOwnPropertyDescriptor(Http2ServerRequest.prototype, 'socket')!.get!;
Object.defineProperty(EdgeH2Request.prototype, 'socket', {
  get(this: EdgeH2Request) {
    return rawSocket.get(this.stream.session!) ?? baseSocket.call(this);
  },
});

// node:http's responses say `destroyed`; the request stages ask it of both kinds.
Object.defineProperty(EdgeH2Response.prototype, 'destroyed', {
  get(this: EdgeH2Response) {
    return this.stream.destroyed;
  },
});

export interface H2Server {
  readonly server: http2.Http2Server;
  /** Takes a client connection that speaks HTTP/2. */
  accept(socket: Duplex): void;
  /** Open sessions (client connections). */
  readonly sessions: Set<Http2Session>;
  /** Sends GOAWAY to every session: no new streams, the open ones finish. */
  closeSessions(): void;
  /** Cuts every session at once. */
  destroySessions(): void;
}

type Handler = (req: EdgeH2Request, res: EdgeH2Response) => void;

/** Window over which a client's cancelled streams are counted (rapid reset). */
const RESET_WINDOW_MS = 1000;

/** The connection being handed to the server while its session is made (accept). */
let accepting: Duplex | null = null;

/** Active streams per session, to tell an idle connection from a quiet long call. */
const openStreams = new WeakMap<Http2Session, number>();

/** The HTTP/2 server every h2 connection of every listener is handed to. */
export function createH2Server(config: Config, handler: Handler, onAbuse?: (kind: string, session: Http2Session) => void): H2Server {
  const s = config.server;
  // Cancelling as many streams as may be open at once, twice within a window, is no browser's habit.
  const maxResets = Math.max(100, 2 * s.maxConcurrentStreams);
  const server = http2.createServer(
    {
      Http2ServerRequest: EdgeH2Request,
      Http2ServerResponse: EdgeH2Response,
      settings: {
        maxConcurrentStreams: s.maxConcurrentStreams,
        maxHeaderListSize: s.maxHeaderSize,
        enablePush: false,
      },
      maxHeaderListPairs: 256,
      // A peer that keeps sending frames node must refuse (bad frames, streams over the limit,
      // rapid resets) loses its connection after this many.
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
    } as http2.ServerOptions,
    handler as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void,
  );
  const sessions = new Set<Http2Session>();
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    const replay = (session.socket as unknown as { stream?: unknown }).stream;
    if (replay instanceof Replay) rawSocket.set(session, replay.socket);
    // node ends a closed session's socket gracefully and waits for the peer's FIN; a peer that
    // was sent away (rapid reset, a flood) keeps sending instead and would hold the connection.
    const conn = accepting;
    if (conn) session.once('close', () => conn.destroy());
    openStreams.set(session, 0);
    const resets = { n: 0, since: performance.now() };
    session.on('stream', (stream: ServerHttp2Stream) => {
      openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
      stream.once('close', () => {
        openStreams.set(session, (openStreams.get(session) ?? 1) - 1);
        // Rapid reset (CVE-2023-44487): streams the client cancels before any answer cost the
        // gateway (and maybe a backend) work and the client nothing. nghttp2 stops reading such a
        // client after a while but leaves its connection open: the connection goes first.
        if (stream.rstCode === http2.constants.NGHTTP2_CANCEL && !stream.headersSent && !session.destroyed) {
          const now = performance.now();
          if (now - resets.since > RESET_WINDOW_MS) {
            resets.n = 0;
            resets.since = now;
          }
          if (++resets.n > maxResets) {
            onAbuse?.('rapid-reset', session);
            session.destroy(undefined, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
          }
        }
      });
    });
    session.once('close', () => sessions.delete(session));
    // A session error (a protocol violation, a reset) ends that connection only.
    session.on('error', () => session.destroy());
  });
  // An idle connection is closed after keepAliveTimeout; one with streams open is not (a quiet
  // long call keeps its connection, as in HTTP/1.1).
  server.setTimeout(s.keepAliveTimeout, ((session: Http2Session) => {
    if ((openStreams.get(session) ?? 0) === 0) session.close();
  }) as () => void);
  return {
    server,
    accept(socket) {
      // The session is made synchronously inside this emit: its 'session' handler reads `accepting`.
      accepting = socket instanceof Replay ? socket.socket : socket;
      try {
        server.emit('connection', socket);
      } finally {
        accepting = null;
      }
    },
    sessions,
    closeSessions() {
      for (const session of sessions) if (!session.closed) session.close();
    },
    destroySessions() {
      for (const session of sessions) session.destroy();
    },
  };
}
