/**
 * One exchange with one target over one leased connection, as an undici dispatch handler:
 * tracks the phase it is in (send, ttfb, body), the time of each phase, the send timeout
 * (the backend stops reading the request body) and the read timeout (no response headers),
 * and streams the response to its owner with backpressure. The body silence between chunks is
 * timed here too (undici's bodyTimeout only ticks once a second, so `read: 300ms` would fire
 * after about a second); the overall budget belongs to the call, which aborts the attempt.
 */
import type { Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import type { Phase } from '../failures/classify.js';
import type { PoolSlot } from './pool.js';
import type { Target } from './target.js';

export interface PhaseTimings {
  dns: number;
  connect: number;
  tls: number;
  send: number;
  ttfb: number;
  body: number;
}

/** What the owner of an attempt (the proxied call) is told. */
export interface AttemptOwner {
  /** Response headers arrived. Return false to read and discard the body (a retry will follow). */
  onAttemptHeaders(attempt: Attempt, status: number, rawHeaders: Buffer[], statusText: string): boolean;
  /** An interim (1xx) response arrived before the final one. */
  onAttemptInterim(status: number, rawHeaders: Buffer[]): void;
  /** A body chunk; return false to pause the backend until attempt.resume(). */
  onAttemptData(chunk: Buffer): boolean;
  onAttemptComplete(attempt: Attempt): void;
  onAttemptError(attempt: Attempt, err: Error & { code?: string; data?: string }): void;
}

export interface AttemptLimits {
  send: number;
  read: number;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Uses undici's direct (legacy) handler interface: no wrapper per request, and it reports body writes. */
export class Attempt {
  phase: Phase = 'pool';
  readonly timings: PhaseTimings = { dns: 0, connect: 0, tls: 0, send: 0, ttfb: 0, body: 0 };
  /** The connection had served earlier exchanges (a keep-alive reuse). */
  reused = false;
  /** How long the reused connection had sat idle before this attempt. */
  idleFor = 0;
  status = 0;
  bytesSent = 0;
  bytesReceived = 0;
  /** A gateway timer ended the attempt. */
  timedOut: 'phase' | 'total' | undefined;
  /** Response trailers (HTTP/2, or chunked HTTP/1.1), as a flat name/value list; null for none. */
  trailers: Buffer[] | string[] | null = null;
  /** Set when the owner discards this response to retry. */
  discarding = false;
  slot: PoolSlot | null = null;
  /** Its connect was slow and the call moved to another target (retries.hedgeConnect); the connect carries on alone. */
  raced = false;
  private abortFn: ((err: Error) => void) | null = null;
  /** An abort asked for before undici called onConnect. */
  private pendingAbort: Error | null = null;
  private resumeFn: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private mark = 0;
  private lastWritten = 0;
  private done = false;
  /** The owner asked to pause the response (its client is slow): the body clock stops. */
  private paused = false;

  constructor(
    readonly target: Target,
    private readonly owner: AttemptOwner,
    private readonly limits: AttemptLimits,
    private readonly body: Readable | null,
  ) {}

  /** Sends the request on the leased slot; the connection is already open. */
  dispatch(slot: PoolSlot, opts: Dispatcher.DispatchOptions): void {
    this.slot = slot;
    this.reused = slot.uses > 0;
    if (this.reused) this.idleFor = round(performance.now() - slot.releasedAt);
    this.phase = 'send';
    this.mark = performance.now();
    slot.exchanging = true;
    slot.client.dispatch(opts, this as unknown as Dispatcher.DispatchHandler);
  }

  /** Ends the attempt from outside (the overall budget ran out, the client went away). */
  abort(reason: 'total' | 'client'): void {
    if (this.done) return;
    if (reason === 'total') this.timedOut = 'total';
    const err = Object.assign(new Error(reason === 'total' ? 'request budget exhausted' : 'client closed request'), {
      code: reason === 'total' ? 'CAUSEWAY_BUDGET' : 'CAUSEWAY_CLIENT_CLOSED',
    });
    // Before undici's onConnect (it is still connecting for this request) there is nothing to
    // abort yet: the abort is kept and applied the moment undici hands over (as undici's own handlers do).
    if (this.abortFn) this.abortFn(err);
    else this.pendingAbort = err;
  }

  resume(): void {
    if (this.paused && !this.done) {
      this.paused = false;
      this.arm(this.limits.read, this.fireTimeout);
    }
    this.resumeFn?.();
  }

  get settled(): boolean {
    return this.done;
  }

  private lap(): number {
    const now = performance.now();
    const d = now - this.mark;
    this.mark = now;
    return round(d);
  }

  private arm(ms: number, fn: () => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = ms > 0 ? setTimeout(fn, ms) : null;
  }

  private disarm(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private fireTimeout = (): void => {
    this.timer = null;
    if (this.done || !this.abortFn) return;
    this.timedOut = 'phase';
    this.abortFn(Object.assign(new Error(`${this.phase} timeout`), { code: 'CAUSEWAY_TIMEOUT' }));
  };

  /**
   * The send timeout counts only time in which the backend leaves our writes unread, as
   * nginx's proxy_send_timeout does: a slow client uploading slowly is not the backend's fault.
   */
  private checkSend = (): void => {
    this.timer = null;
    if (this.done || this.phase !== 'send') return;
    const socket = this.slot?.socket;
    const written = socket ? socket.bytesWritten : 0;
    const blocked = (socket !== null && socket !== undefined && socket.writableLength > 0) || (this.body !== null && this.body.readableLength > 0);
    if (written === this.lastWritten && blocked) {
      this.fireTimeout();
      return;
    }
    this.lastWritten = written;
    this.arm(this.limits.send, this.checkSend);
  };

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.pendingAbort) {
      abort(this.pendingAbort);
      return;
    }
    if (this.body) {
      this.lastWritten = this.slot?.socket?.bytesWritten ?? 0;
      this.arm(this.limits.send, this.checkSend);
    }
  }

  onBodySent(chunk: Buffer | string | number): void {
    this.bytesSent += typeof chunk === 'number' ? chunk : chunk.length;
  }

  onRequestSent(): void {
    // Over HTTP/2 a streaming call may get its response before its request ends (bidi gRPC).
    if (this.phase !== 'send') return;
    this.timings.send = this.lap();
    this.phase = 'ttfb';
    this.arm(this.limits.read, this.fireTimeout);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) {
      this.owner.onAttemptInterim(statusCode, rawHeaders);
      return true;
    }
    // The read clock restarts for the body: the same timer, refreshed (no new timer per exchange).
    const readTimer = this.phase === 'ttfb' ? this.timer : null;
    if (readTimer) this.timer = null;
    else this.disarm();
    if (this.phase === 'send') this.timings.send = this.lap();
    this.timings.ttfb = this.lap();
    this.phase = 'body';
    this.status = statusCode;
    this.resumeFn = resume;
    this.discarding = !this.owner.onAttemptHeaders(this, statusCode, rawHeaders, statusText);
    if (this.done || this.timer) {
      if (readTimer) clearTimeout(readTimer);
    } else if (readTimer) this.timer = readTimer.refresh();
    else this.arm(this.limits.read, this.fireTimeout);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesReceived += chunk.length;
    const more = this.discarding || this.owner.onAttemptData(chunk);
    // Silence while the client is not reading is not the backend's: the clock runs only while we read.
    if (more) this.timer?.refresh();
    else {
      this.paused = true;
      this.disarm();
    }
    return more;
  }

  onComplete(trailers?: Buffer[] | string[] | null): void {
    if (this.done) return;
    if (trailers && trailers.length) this.trailers = trailers;
    this.done = true;
    if (this.slot) this.slot.exchanging = false;
    this.disarm();
    this.timings.body = this.lap();
    if (this.slot) this.slot.uses++;
    this.owner.onAttemptComplete(this);
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    if (this.slot) this.slot.exchanging = false;
    this.disarm();
    this.timings[this.phase === 'pool' ? 'send' : this.phase] += this.lap();
    const e = err as Error & { code?: string };
    // undici names a socket that errored as merely closed; the socket's own error says why.
    const cause = this.slot?.socketError;
    if (cause && (e.code === 'UND_ERR_SOCKET' || e.code === 'UND_ERR_CLOSED')) e.code = cause;
    this.owner.onAttemptError(this, e);
  }
}
