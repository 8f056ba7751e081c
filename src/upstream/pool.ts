/**
 * The connection pool of one target: at most `maxConnections` connections, each an undici
 * Client with one socket, leased to one exchange at a time. A request that finds every
 * connection busy waits in a bounded FIFO queue for at most `queueTimeout`; when the queue is
 * full or the wait runs out, the lease fails (UPSTREAM_POOL_EXHAUSTED). Memory never grows past
 * maxConnections slots and maxQueue waiters.
 */
import type { Socket } from 'node:net';
import { Client, type Dispatcher } from 'undici';
import { openConnection, type ConnectOptions, type ConnectTimings, type ConnectFailure } from './connector.js';
import type { Target } from './target.js';

const ignore = (): void => undefined;

export interface PoolOptions {
  maxConnections: number;
  maxQueue: number;
  queueTimeout: number;
  idleTimeout: number;
  connect: ConnectOptions;
}

export type LeaseCallback<S extends PoolSlot = PoolSlot> = (slot: S | null, reason?: 'queue-full' | 'queue-timeout') => void;

/**
 * What a call and its attempt use of a leased connection: an HTTP/1.1 connection of its own
 * (Slot, below) or one stream of a shared HTTP/2 session (h2-pool.ts).
 */
export interface PoolSlot {
  /** Where the attempt dispatches its exchange (undici's handler interface, for both transports). */
  readonly client: Pick<Dispatcher, 'dispatch'>;
  /** What the send timeout watches: bytes handed to the network, and bytes still queued. */
  readonly socket: { readonly bytesWritten: number; readonly writableLength: number } | null;
  readonly connected: boolean;
  uses: number;
  releasedAt: number;
  exchanging: boolean;
  /** The socket's own error code when undici reports it merely closed (HTTP/1.1 slots). */
  readonly socketError?: string | null;
  connect(timeout: number, cb: (failure: ConnectFailure | null, timings: ConnectTimings) => void): void;
  dropConnection(): void;
}

/** A target's pool, whatever its transport. */
export interface UpstreamPool {
  readonly target: Target;
  inUse: number;
  exhausted: number;
  lease(cb: LeaseCallback): (() => void) | undefined;
  release(slot: PoolSlot): void;
  dropIdleOlderThan(minIdleMs: number): number;
  stats(): PoolStats;
  close(): Promise<void>;
  destroy(): void;
}

interface Waiter {
  cb: LeaseCallback<Slot>;
  timer: NodeJS.Timeout;
  cancelled: boolean;
}

/** One connection of the pool. */
export class Slot implements PoolSlot {
  readonly client: Client;
  /**
   * The socket undici is using (or is about to be handed), or null. Only that socket's own close
   * clears it: undici reports the close of a dropped connection ('disconnect') only after the
   * slot may have opened its replacement, so that report must not clear the replacement.
   */
  socket: Socket | null = null;
  /** Opened by connect() and not yet taken by undici: nobody reads it until then. */
  private pending: Socket | null = null;
  /** Exchanges completed on the current socket (0: it is fresh). */
  uses = 0;
  /** When the slot was last released (performance.now()). */
  releasedAt = 0;
  /** An attempt has dispatched on this slot and not settled yet. */
  exchanging = false;
  /**
   * The first error the current socket emitted. undici reports some of them only as the close
   * they cause ("other side closed"): a TLS alert the backend sends after the handshake (a
   * client certificate it requires) would otherwise be lost.
   */
  socketError: string | null = null;

  constructor(
    readonly pool: TargetPool,
    target: Target,
    idleTimeout: number,
  ) {
    this.client = new Client(target.origin, {
      connect: (_opts, cb) => this.handOver(cb as (err: Error | null, socket: Socket | null) => void),
      pipelining: 1,
      keepAliveTimeout: idleTimeout,
      keepAliveMaxTimeout: idleTimeout,
      // A backend's `Keep-Alive: timeout=N` hint is honoured with a 250 ms margin: `timeout=1`
      // still allows reuse within 750 ms (a 1 s margin would give such a backend a new connection
      // per request); the stale-connection retry covers the rare close that still races.
      keepAliveTimeoutThreshold: 250,
      headersTimeout: 0,
      bodyTimeout: 0,
      strictContentLength: true,
    });
  }

  get connected(): boolean {
    return this.socket !== null && !this.socket.destroyed;
  }

  /** Opens a connection now, so connect failures are known before the request is handed over. */
  connect(timeout: number, cb: (failure: ConnectFailure | null, timings: ConnectTimings) => void): void {
    openConnection(this.pool.target, { ...this.pool.options.connect, timeout }, (failure, socket, timings) => {
      if (socket) {
        // Unread until undici takes it: a reset meanwhile must not be an 'error' without a listener.
        socket.on('error', ignore);
        this.discardPending();
        this.pending = socket;
        this.track(socket);
      }
      cb(failure, timings);
    });
  }

  private track(socket: Socket): void {
    this.socket = socket;
    this.uses = 0;
    this.socketError = null;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The first error is the cause; undici then destroys the socket with its own.
      if (this.socket === socket && err.code && this.socketError === null) this.socketError = err.code;
    });
    socket.once('close', () => {
      if (this.socket === socket) this.socket = null;
      if (this.pending === socket) this.pending = null;
    });
  }

  /** Closes a connection opened by connect() that undici never took: its exchange never happened. */
  discardPending(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    if (this.socket === p) this.socket = null;
    p.destroy();
  }

  /** Drops the current connection (a suspected stale keep-alive socket). */
  dropConnection(): void {
    this.discardPending();
    this.socket?.destroy();
    this.socket = null;
  }

  /** undici's connector: give it the socket opened by connect(), or open one now. */
  private handOver(cb: (err: Error | null, socket: Socket | null) => void): void {
    const s = this.pending;
    this.pending = null;
    if (s && !s.destroyed) {
      s.removeListener('error', ignore);
      this.socket = s;
      // Never synchronously: undici's resume() is not re-entrant, a sync answer would strand the request.
      process.nextTick(cb, null, s);
      return;
    }
    if (!this.exchanging) {
      // undici keeps a request aborted by the gateway (timeout, client gone) in its queue and
      // reconnects for it before dropping it: never open a connection that no exchange asked for.
      process.nextTick(cb, Object.assign(new Error('no exchange is waiting for a connection'), { code: 'CAUSEWAY_NO_EXCHANGE' }), null);
      return;
    }
    openConnection(this.pool.target, this.pool.options.connect, (failure, socket) => {
      if (failure || !socket) {
        cb(Object.assign(new Error(failure?.message ?? 'connect failed'), { code: failure?.errorCode ?? 'ECONNREFUSED' }), null);
        return;
      }
      this.track(socket);
      cb(null, socket);
    });
  }
}

export interface PoolStats {
  size: number;
  inUse: number;
  idle: number;
  connected: number;
  queued: number;
  maxConnections: number;
  exhausted: number;
}

export class TargetPool implements UpstreamPool {
  private readonly idle: Slot[] = [];
  private readonly slots: Slot[] = [];
  private readonly queue: Waiter[] = [];
  private queueHead = 0;
  /** Waiters still waiting (the queue array also holds cancelled ones until compacted). */
  private queued = 0;
  inUse = 0;
  /** Leases that failed (queue full or timed out), since start. */
  exhausted = 0;

  constructor(
    readonly target: Target,
    readonly options: PoolOptions,
  ) {}

  /** Leases a connection slot; calls back synchronously when one is free. Returns a cancel function when queued. */
  lease(cb: LeaseCallback<Slot>): (() => void) | undefined {
    let slot = this.idle.pop();
    if (!slot && this.slots.length < this.options.maxConnections) {
      slot = new Slot(this, this.target, this.options.idleTimeout);
      this.slots.push(slot);
    }
    if (slot) {
      this.inUse++;
      cb(slot);
      return undefined;
    }
    if (this.queued >= this.options.maxQueue || this.options.queueTimeout === 0) {
      this.exhausted++;
      cb(null, 'queue-full');
      return undefined;
    }
    const waiter: Waiter = {
      cb,
      cancelled: false,
      timer: setTimeout(() => {
        this.cancel(waiter);
        this.exhausted++;
        cb(null, 'queue-timeout');
      }, this.options.queueTimeout),
    };
    if (this.queue.length - this.queueHead > 2 * this.options.maxQueue + 16) this.compact();
    this.queue.push(waiter);
    this.queued++;
    return () => this.cancel(waiter);
  }

  private cancel(w: Waiter): void {
    if (w.cancelled) return;
    w.cancelled = true;
    clearTimeout(w.timer);
    this.queued--;
  }

  private compact(): void {
    const live = this.queue.slice(this.queueHead).filter((w) => !w.cancelled);
    this.queue.length = 0;
    this.queue.push(...live);
    this.queueHead = 0;
  }

  /** Returns a slot; the oldest live waiter gets it first. */
  release(s: PoolSlot): void {
    const slot = s as Slot;
    // A connection still pending here was opened for a call that ended meanwhile: nobody would
    // read it (a backend's FIN would leave it in CLOSE-WAIT for good), so it is closed.
    slot.discardPending();
    slot.releasedAt = performance.now();
    while (this.queued > 0 && this.queueHead < this.queue.length) {
      const w = this.queue[this.queueHead++]!;
      if (w.cancelled) continue;
      this.cancel(w);
      if (this.queueHead === this.queue.length) {
        this.queue.length = 0;
        this.queueHead = 0;
      }
      w.cb(slot);
      return;
    }
    if (this.queued === 0 && this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
    this.inUse--;
    this.idle.push(slot);
  }

  /** Closes idle connections that have been idle at least `minIdleMs`: after one proved stale, they are suspect too. */
  dropIdleOlderThan(minIdleMs: number): number {
    const now = performance.now();
    let n = 0;
    for (const s of this.idle) {
      if (s.connected && now - s.releasedAt >= minIdleMs) {
        s.dropConnection();
        n++;
      }
    }
    return n;
  }

  stats(): PoolStats {
    let connected = 0;
    for (const s of this.slots) if (s.connected) connected++;
    const queued = this.queued;
    return {
      size: this.slots.length,
      inUse: this.inUse,
      idle: this.idle.length,
      connected,
      queued,
      maxConnections: this.options.maxConnections,
      exhausted: this.exhausted,
    };
  }

  async close(): Promise<void> {
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const w = this.queue[i]!;
      if (!w.cancelled) {
        this.cancel(w);
        w.cb(null, 'queue-full');
      }
    }
    this.queue.length = 0;
    this.queueHead = 0;
    await Promise.all(this.slots.map((s) => s.client.close().catch(() => undefined)));
    // A connection opened by connect() but never handed to undici is not undici's to close.
    for (const s of this.slots) s.dropConnection();
  }

  destroy(): void {
    for (const s of this.slots) {
      void s.client.destroy().catch(() => undefined);
      s.dropConnection();
    }
  }
}
