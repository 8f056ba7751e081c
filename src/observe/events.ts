/**
 * State changes of the gateway — a target ejected or returned, health up or down, a breaker
 * opening or closing, a config reload — kept in a bounded ring for the admin API and the
 * dashboard, logged, and emitted to listeners (alerts, metrics).
 *
 * With several workers (src/cluster/), each worker's events carry its `worker` number (`tags`),
 * and the lead worker's ring also receives every other worker's events through `ingest()`:
 * kept for the admin API, but neither logged again nor emitted (their own worker did both).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

export interface GatewayEvent {
  /** e.g. `target.ejected`, `target.returned`, `health.down`, `health.up`, `breaker.open`, `breaker.half-open`, `breaker.closed`, `config.reloaded` */
  type: string;
  /** Epoch ms. */
  at: number;
  upstream?: string;
  target?: string;
  /** Plain words: why it happened ("5 consecutive failures", "3 health checks failed"). */
  reason: string;
  [extra: string]: unknown;
}

export class EventLog extends EventEmitter {
  private readonly ring: GatewayEvent[] = [];
  private next = 0;
  private count = 0;

  constructor(
    private readonly logger?: Logger,
    private readonly capacity = 1000,
    /** Fields every event of this log carries (`{ worker: 2 }` in a cluster). */
    private readonly tags?: Record<string, unknown>,
  ) {
    super();
  }

  /** Records an event: logged at warn for trouble, info otherwise, then kept and emitted. */
  publish(event: { type: string; reason: string; upstream?: string; target?: string; at?: number; [extra: string]: unknown }): GatewayEvent {
    const base = { ...event, at: event.at ?? Date.now() } as GatewayEvent;
    // The tags stay out of the log line: a cluster worker's logger already names its worker.
    const e = this.tags ? { ...base, ...this.tags } : base;
    this.keep(e);
    const bad = /ejected|down|open$|failed/.test(e.type);
    this.logger?.[bad ? 'warn' : 'info']({ kind: 'event', ...base }, e.type);
    this.emit('event', e);
    return e;
  }

  /** Keeps an event another worker published (and logged, and counted) in this ring. */
  ingest(e: GatewayEvent): void {
    this.keep(e);
  }

  private keep(e: GatewayEvent): void {
    this.ring[this.next] = e;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  /** Newest first, optionally only of some types or one upstream. */
  recent(opts: { limit?: number; types?: string[]; upstream?: string } = {}): GatewayEvent[] {
    const out: GatewayEvent[] = [];
    const limit = opts.limit ?? 100;
    for (let i = 1; i <= this.count && out.length < limit; i++) {
      const e = this.ring[(this.next - i + this.capacity) % this.capacity]!;
      if (opts.types && !opts.types.includes(e.type)) continue;
      if (opts.upstream && e.upstream !== opts.upstream) continue;
      out.push(e);
    }
    return out;
  }
}
