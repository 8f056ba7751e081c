/**
 * Upgrade proxying (WebSocket, or any `Upgrade`) on routes with `websocket:`. The handshake is a
 * call like any other — routed, through the route's policies, failures from the registry with
 * every header and the JSON body — until the backend answers 101. Then the two connections are
 * piped both ways (backpressure by pipe), until either side closes, the session is idle longer
 * than `idleTimeout`, lives longer than `maxLifetime`, or the gateway drains. The call log
 * records the session: duration, bytes each way, and which side closed and how.
 *
 *   handshake: pick target → connect (connect timeout) → request → 101 | other answer | failure
 *   session:   client ⇄ backend (pipes) → first close → the other side closed too → record
 *
 * For WebSocket sessions the frames are followed (headers only, to find frame boundaries and
 * close frames), so the gateway can close a session the way RFC 6455 wants: a close frame to
 * each side at a frame boundary, then the connections once they answer or the grace runs out.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { classify, type Evidence, type Phase } from '../failures/classify.js';
import type { FailureCode } from '../failures/registry.js';
import type { AttemptRecord, SessionRecord } from '../observe/call-record.js';
import type { PhaseTimings } from '../upstream/attempt.js';
import { openConnection, type ConnectOptions } from '../upstream/connector.js';
import type { TargetState, Upstream } from '../upstream/upstream.js';
import type { CallEnv, Exchange, RouteRuntime, UpgradeRequest } from './exchange.js';
import { downstreamHeaders, upstreamHeaders } from './headers.js';

/** A ServerResponse written straight onto an upgrade request's socket (failures and refusals before the 101). */
export function upgradeResponse(req: IncomingMessage, socket: Socket): ServerResponse {
  const res = new http.ServerResponse(req);
  res.assignSocket(socket);
  // The parser has let go of the connection: nothing more can be read from it as HTTP.
  res.shouldKeepAlive = false;
  res.once('finish', () => socket.end());
  socket.once('close', () => res.emit('close'));
  return res;
}

/** RFC 6455 close codes the gateway sends. */
const GOING_AWAY = 1001;

export class Tunnel {
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly route: RouteRuntime;
  /** The upstream the session goes to (a reload that replaces it closes the session). */
  readonly upstream: Upstream;
  private readonly env: CallEnv;
  private readonly client: UpgradeRequest;
  private readonly timings: PhaseTimings = { dns: 0, connect: 0, tls: 0, send: 0, ttfb: 0, body: 0 };
  private readonly records: AttemptRecord[] = [];
  private tried: Set<TargetState> | null = null;
  private state: TargetState | null = null;
  private backend: Socket | null = null;
  private upstreamReq: http.ClientRequest | null = null;
  private finished = false;
  private readTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private lifeTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private lastActivity = 0;
  private bytesUp = 0;
  private bytesDown = 0;
  private session: SessionRecord | null = null;
  private openSides = 2;
  private sessionStart = 0;
  private readonly websocket: boolean;
  private up: FrameTracker | null = null;
  private down: FrameTracker | null = null;
  private closingFrames = false;

  constructor(private readonly x: Exchange) {
    this.req = x.req;
    // An upgrade's response is always node:http's, written onto the client socket (upgradeResponse).
    this.res = x.res as unknown as ServerResponse;
    this.route = x.route!;
    this.upstream = x.upstream!;
    this.env = x.env;
    this.client = x.upgrade!;
    this.websocket = String(this.req.headers.upgrade).toLowerCase() === 'websocket';
  }

  start(): void {
    this.env.inflight.calls++;
    this.upstream.activeRequests++;
    this.client.socket.on('error', this.onClientEarlyError);
    this.client.socket.once('close', this.onClientEarlyClose);
    if (this.upstream.breaker?.state === 'open') return this.fail('CIRCUIT_OPEN', 'breaker');
    this.next();
  }

  // ── handshake ──────────────────────────────────────────────────────────────

  private next(): void {
    const up = this.upstream;
    const state = up.pick(this.tried);
    if (!state) return this.fail('NO_HEALTHY_TARGET', 'balance');
    this.state = state;
    const target = state.target;
    const t = this.route.timeouts;
    const connect = (state.pool as unknown as { options: { connect: ConnectOptions } }).options.connect;
    openConnection(target, { ...connect, timeout: t.connect }, (fail, socket, timings) => {
      this.timings.dns = timings.dns;
      this.timings.connect = timings.connect;
      this.timings.tls = timings.tls;
      if (this.finished) {
        socket?.destroy();
        return;
      }
      if (fail) return this.attemptFailed({ phase: fail.phase, errorCode: fail.errorCode, timeout: fail.timeout ? 'phase' : undefined, tls: target.tls }, fail.errorCode);
      this.handshake(state, socket!);
    });
  }

  private handshake(state: TargetState, socket: Socket): void {
    const target = state.target;
    const headers = upstreamHeaders(this.req, {
      requestId: this.x.requestId,
      clientIp: this.x.clientIp,
      trustedPeer: this.env.isTrustedPeer(this.req.socket.remoteAddress),
      proto: (this.req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
      hostHeader: this.route.preserveHost && this.req.headers.host ? this.req.headers.host : target.hostHeader,
      budgetMs: this.route.timeouts.total,
    });
    headers.push('connection', 'upgrade', 'upgrade', String(this.req.headers.upgrade));
    this.backend = socket;
    let ended = false;
    socket.once('end', () => (ended = true));
    const sent = performance.now();
    const req = (this.upstreamReq = http.request({
      method: this.req.method,
      path: target.basePath + this.x.upstreamPath,
      headers: headers as unknown as http.OutgoingHttpHeaders,
      setHost: false,
      createConnection: () => socket,
    }));
    const phaseNow = (): Phase => (this.timings.send ? 'ttfb' : 'send');
    req.on('finish', () => (this.timings.send = Math.round((performance.now() - sent) * 100) / 100 || 0.01));
    this.readTimer = setTimeout(() => {
      this.readTimer = null;
      const phase = phaseNow();
      req.destroy();
      this.attemptFailed({ phase, timeout: 'phase', tls: target.tls }, 'ETIMEDOUT');
    }, this.route.timeouts.read);
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (this.finished || !this.readTimer) return;
      this.clearRead();
      // node says "socket hang up" (ECONNRESET) for a FIN as well as for a reset.
      const code = err.code === 'ECONNRESET' && ended ? 'UND_ERR_SOCKET' : (err.code ?? err.name);
      this.attemptFailed({ phase: phaseNow(), errorCode: code, tls: target.tls }, code);
    });
    req.on('upgrade', (res: IncomingMessage, backend: Socket, head: Buffer) => {
      this.clearRead();
      this.timings.ttfb = Math.round((performance.now() - sent - this.timings.send) * 100) / 100;
      if (this.finished) {
        backend.destroy();
        return;
      }
      this.upstream.report(state, 'success', 'answered 101');
      this.switched(res, backend, head);
    });
    req.on('response', (res: IncomingMessage) => {
      this.clearRead();
      this.timings.ttfb = Math.round((performance.now() - sent - this.timings.send) * 100) / 100;
      if (this.finished) {
        res.destroy();
        return;
      }
      this.answeredWithout101(state, res);
    });
    req.end();
    if (this.client.head.length) socket.write(this.client.head);
  }

  private clearRead(): void {
    if (this.readTimer) clearTimeout(this.readTimer);
    this.readTimer = null;
  }

  /**
   * The backend answered, but not 101. A 2xx means it did not take the upgrade at all (not a
   * WebSocket endpoint): the gateway's failure. Anything else is the backend's own answer
   * (a redirect, 401, 403, 404, 503...): it passes through untouched, as over HTTP.
   */
  private answeredWithout101(state: TargetState, res: IncomingMessage): void {
    const status = res.statusCode ?? 0;
    this.record(state, status, null);
    if (status >= 200 && status < 300) {
      res.destroy();
      this.upstream.report(state, 'failure', `answered ${status} to an upgrade`);
      this.records[this.records.length - 1]!.outcome = 'UPSTREAM_INVALID_RESPONSE';
      return this.fail('UPSTREAM_INVALID_RESPONSE', 'ttfb', undefined, `answered ${status} instead of 101 Switching Protocols to an Upgrade: ${this.req.headers.upgrade} request`);
    }
    this.upstream.report(state, status >= 502 && status <= 504 ? 'failure' : 'success', `answered ${status}`);
    const raw = res.rawHeaders.map((h) => Buffer.from(h, 'latin1'));
    const x = this.x;
    x.head(status, downstreamHeaders(raw, x.requestId), 'backend', res.statusMessage ?? '');
    res.on('data', (c: Buffer) => {
      if (!x.data(c)) res.pause();
    });
    this.res.on('drain', () => res.resume());
    res.once('end', () => {
      x.end();
      this.backend?.destroy();
      this.finish(status, null);
    });
    res.once('error', (err) => {
      x.abort(err);
      this.finish(status, null);
    });
  }

  private attemptFailed(evidence: Evidence, lowLevel: string | undefined): void {
    const { code, proxyStatus } = classify(evidence);
    const state = this.state!;
    this.backend?.destroy();
    this.backend = null;
    this.upstream.report(state, 'failure', `${code}${lowLevel ? ` (${lowLevel})` : ''}`);
    this.record(state, code, evidence.phase, lowLevel);
    // Nothing reached a backend before its connection was up: another target may take it.
    const connectFailure = evidence.phase === 'dns' || evidence.phase === 'connect';
    if (connectFailure && this.route.retryOn.has('connect-failure') && this.records.length < this.route.retries.attempts && this.upstream.hasAlternative(this.tried, state)) {
      this.records[this.records.length - 1]!.retry = 'connect-failure';
      (this.tried ??= new Set()).add(state);
      this.next();
      return;
    }
    this.fail(code, evidence.phase, proxyStatus);
  }

  private record(state: TargetState, outcome: AttemptRecord['outcome'], phase: Phase | null, error?: string): void {
    const t = { ...this.timings };
    const rec: AttemptRecord = { target: state.target.id, outcome, phase, reused: false, timings: t, durationMs: Math.round((t.dns + t.connect + t.tls + t.send + t.ttfb) * 100) / 100 };
    if (error) rec.error = error;
    this.records.push(rec);
    this.timings.dns = this.timings.connect = this.timings.tls = this.timings.send = this.timings.ttfb = 0;
  }

  private fail(code: FailureCode, phase: Phase | 'breaker' | 'balance', proxyStatus?: string, detail?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.settle();
    this.x.attempts = this.records;
    this.x.fail(code, {
      proxyStatus,
      phase,
      target: this.state?.target.id,
      context: { upstream: this.upstream.name, route: this.route.name, method: this.req.method, attempts: this.records.length, limit: this.limitFor(code), detail },
    });
  }

  private limitFor(code: FailureCode): number | undefined {
    const t = this.route.timeouts;
    if (code === 'UPSTREAM_CONNECT_TIMEOUT') return t.connect;
    if (code === 'UPSTREAM_RESPONSE_TIMEOUT' || code === 'UPSTREAM_SEND_TIMEOUT') return t.read;
    return undefined;
  }

  private onClientEarlyError = (): void => {
    this.client.socket.destroy();
  };

  /** The client left during the handshake. */
  private onClientEarlyClose = (): void => {
    if (this.finished || this.session) return;
    this.clearRead();
    this.upstreamReq?.destroy();
    this.backend?.destroy();
    if (this.state) this.record(this.state, 'CLIENT_CLOSED_REQUEST', this.timings.send ? 'ttfb' : 'connect');
    this.finish(499, 'CLIENT_CLOSED_REQUEST');
  };

  // ── session ────────────────────────────────────────────────────────────────

  private switched(res: IncomingMessage, backend: Socket, head: Buffer): void {
    const client = this.client.socket;
    client.removeListener('close', this.onClientEarlyClose);
    client.removeListener('error', this.onClientEarlyError);
    this.record(this.state!, 101, null);
    const raw = res.rawHeaders;
    let out = 'HTTP/1.1 101 Switching Protocols\r\n';
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() !== 'x-request-id') out += `${raw[i]}: ${raw[i + 1]}\r\n`;
    out += `x-request-id: ${this.x.requestId}\r\n\r\n`;
    client.write(out);
    this.backend = backend;
    this.session = { closedBy: 'client', how: 'close', durationMs: 0 };
    this.sessionStart = performance.now();
    this.lastActivity = this.sessionStart;
    this.env.inflight.calls--;
    this.env.tunnels?.add(this);
    if (this.websocket) {
      this.up = new FrameTracker();
      this.down = new FrameTracker();
    }
    client.setNoDelay(true);
    backend.setNoDelay(true);
    client.setTimeout(0);
    backend.setTimeout(0);
    if (head.length) {
      this.bytesDown += head.length;
      this.down?.feed(head);
      client.write(head);
    }
    client.pipe(backend);
    backend.pipe(client);
    client.on('data', (c: Buffer) => {
      this.bytesUp += c.length;
      this.lastActivity = performance.now();
      this.up?.feed(c);
      if (this.closingFrames) this.sendCloseFrames();
    });
    backend.on('data', (c: Buffer) => {
      this.bytesDown += c.length;
      this.lastActivity = performance.now();
      this.down?.feed(c);
      if (this.closingFrames) this.sendCloseFrames();
    });
    this.side(client, 'client', backend);
    this.side(backend, 'backend', client);
    const ws = this.route.websocket!;
    this.idleTimer = setTimeout(this.onIdle, ws.idleTimeout);
    this.lifeTimer = setTimeout(() => this.closeSession('max-lifetime', GOING_AWAY, 1000), ws.maxLifetime);
    // The client may have sent frames right behind its handshake (they went up with the request).
    this.bytesUp += this.client.head.length;
  }

  /** Wires one connection's end to the other: a FIN is passed on, a reset or error cuts both. */
  private side(s: Socket, who: 'client' | 'backend', other: Socket): void {
    s.on('end', () => {
      this.firstClose(who, 'close');
      other.end();
      // A half-closed session gets the grace to finish, not forever.
      this.graceTimer ??= setTimeout(() => {
        this.client.socket.destroy();
        this.backend?.destroy();
      }, this.env.closeGrace ?? 5000);
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      this.firstClose(who, err.code === 'ECONNRESET' ? 'reset' : `error ${err.code ?? err.message}`);
      other.destroy();
    });
    s.once('close', () => {
      this.firstClose(who, 'close');
      if (!other.destroyed && other.writableEnded) other.destroy();
      if (--this.openSides === 0) this.finish(101, null);
    });
  }

  private firstClose(who: 'client' | 'backend' | 'gateway', how: string): void {
    if (!this.session || this.session.durationMs) return;
    const frame = who === 'client' ? this.up?.closeCode : who === 'backend' ? this.down?.closeCode : undefined;
    this.session.closedBy = who;
    this.session.how = frame !== undefined ? `close frame ${frame}${how === 'close' ? '' : `, then ${how}`}` : how;
    this.session.durationMs = Math.max(0.01, Math.round((performance.now() - this.sessionStart) * 100) / 100);
    // Whoever sent the first close frame closed the session, even if the other side's FIN came first.
    const upFirst = this.up?.closeAt ?? Infinity;
    const downFirst = this.down?.closeAt ?? Infinity;
    if (who !== 'gateway' && (upFirst !== Infinity || downFirst !== Infinity)) {
      const by = upFirst <= downFirst ? 'client' : 'backend';
      this.session.closedBy = by;
      this.session.how = `close frame ${(by === 'client' ? this.up : this.down)!.closeCode ?? ''}`.trim();
    }
  }

  private onIdle = (): void => {
    const idle = this.route.websocket!.idleTimeout;
    const quiet = performance.now() - this.lastActivity;
    if (quiet >= idle - 1) {
      this.idleTimer = null;
      this.closeSession('idle-timeout', GOING_AWAY, 1000);
      return;
    }
    this.idleTimer = setTimeout(this.onIdle, idle - quiet);
  };

  /**
   * The gateway ends the session: WebSocket peers get a close frame (at a frame boundary) and
   * `graceMs` to answer it and close; other protocols, and peers that do not, are cut then.
   */
  closeSession(reason: string, code = GOING_AWAY, graceMs = 1000): void {
    if (!this.session || this.finished || this.graceTimer) return;
    this.firstClose('gateway', reason);
    this.session.closedBy = 'gateway';
    this.session.how = reason;
    this.closeCode = code;
    if (this.websocket) {
      this.closingFrames = true;
      this.sendCloseFrames();
    } else {
      this.client.socket.end();
      this.backend?.end();
    }
    this.graceTimer = setTimeout(() => {
      this.client.socket.destroy();
      this.backend?.destroy();
    }, graceMs);
  }

  private closeCode = GOING_AWAY;
  private sentUp = false;
  private sentDown = false;

  /** Sends the gateway's close frame to each side still owed one, where a frame just ended. */
  private sendCloseFrames(): void {
    if (!this.sentDown && this.down!.atBoundary) {
      this.sentDown = true;
      this.client.socket.write(closeFrame(this.closeCode, false));
    }
    if (!this.sentUp && this.up!.atBoundary && this.backend) {
      this.sentUp = true;
      this.backend.write(closeFrame(this.closeCode, true));
    }
    if (this.sentUp && this.sentDown) this.closingFrames = false;
  }

  /** Timers and counters of a call that is over. */
  private settle(): void {
    this.clearRead();
    for (const t of [this.idleTimer, this.lifeTimer, this.graceTimer]) if (t) clearTimeout(t);
    this.upstream.activeRequests--;
    if (this.session) this.env.tunnels?.delete(this);
    else this.env.inflight.calls--;
  }

  private finish(status: number, code: FailureCode | null): void {
    if (this.finished) return;
    this.finished = true;
    this.settle();
    if (this.session) {
      const last = this.records[this.records.length - 1]!;
      last.session = { ...this.session, durationMs: this.session.durationMs || Math.round((performance.now() - this.sessionStart) * 100) / 100 };
    }
    const x = this.x;
    x.attempts = this.records;
    if (this.session) {
      x.bytesIn = this.bytesUp;
      x.bytesOut = this.bytesDown;
    }
    x.finish(status, code);
  }
}

/** A close frame (RFC 6455 5.5.1); frames to a server are masked. */
function closeFrame(code: number, masked: boolean): Buffer {
  const payload = Buffer.from([code >> 8, code & 0xff]);
  if (!masked) return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
  const mask = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload]);
}

/**
 * Follows WebSocket frame headers in one direction without buffering payloads: where frames
 * end (the only places a frame may be inserted), and the first close frame's status code.
 */
export class FrameTracker {
  /** Bytes of the current frame's payload still to come. */
  private payloadLeft = 0;
  /** A frame header split across chunks. */
  private header: number[] = [];
  /** The first close frame's code (undefined: none yet, or it had none). */
  closeCode: number | undefined;
  /** When the first close frame went by (performance.now()). */
  closeAt: number | undefined;
  private inClose = false;
  private closePayload: number[] = [];
  private mask: number[] | null = null;

  get atBoundary(): boolean {
    return this.payloadLeft === 0 && this.header.length === 0;
  }

  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.payloadLeft > 0) {
        const n = Math.min(this.payloadLeft, chunk.length - i);
        if (this.inClose) this.takeClose(chunk, i, n);
        this.payloadLeft -= n;
        i += n;
        continue;
      }
      this.header.push(chunk[i++]!);
      const need = headerLength(this.header);
      if (need === 0 || this.header.length < need) continue;
      const h = this.header;
      this.header = [];
      const b1 = h[1]! & 0x7f;
      const lenBytes = b1 === 126 ? 2 : b1 === 127 ? 8 : 0;
      let len = b1 < 126 ? b1 : 0;
      for (let k = 0; k < lenBytes; k++) len = len * 256 + h[2 + k]!;
      const hasMask = (h[1]! & 0x80) !== 0;
      this.mask = hasMask ? h.slice(2 + lenBytes, 6 + lenBytes) : null;
      this.inClose = (h[0]! & 0x0f) === 0x8 && this.closeAt === undefined;
      if (this.inClose) {
        this.closeAt = performance.now();
        this.closePayload = [];
      }
      this.payloadLeft = len;
    }
  }

  private takeClose(chunk: Buffer, at: number, n: number): void {
    for (let k = 0; k < n && this.closePayload.length < 2; k++) {
      const pos = this.closePayload.length;
      this.closePayload.push(chunk[at + k]! ^ (this.mask ? this.mask[pos % 4]! : 0));
    }
    if (this.closePayload.length === 2) {
      this.closeCode = (this.closePayload[0]! << 8) | this.closePayload[1]!;
      this.inClose = false;
    }
  }
}

/** Length of a frame header once its first two bytes are known (0: not yet). */
function headerLength(h: number[]): number {
  if (h.length < 2) return 0;
  const b1 = h[1]! & 0x7f;
  return 2 + (b1 === 126 ? 2 : b1 === 127 ? 8 : 0) + ((h[1]! & 0x80) !== 0 ? 4 : 0);
}
