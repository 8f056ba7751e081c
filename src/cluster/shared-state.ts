/**
 * What the primary remembers of the workers' shared state, so that a worker that starts late —
 * restarted after a crash, the lead included — starts from the same view as the others: the
 * latest transition per target ejection, target health and upstream breaker, and the recent
 * events of every worker (a restarted lead's event ring). Applying a transition is idempotent,
 * so the snapshot is simply replayed.
 */
import type { GatewayEvent } from '../observe/events.js';
import type { Transition } from '../upstream/upstream.js';

function keyOf(t: Transition): string {
  switch (t.kind) {
    case 'ejected':
    case 'returned':
      return `eject\0${t.upstream}\0${t.target}`;
    case 'health':
      return `health\0${t.upstream}\0${t.target}`;
    case 'breaker':
      return `breaker\0${t.upstream}`;
  }
}

export class StateMirror {
  private readonly latest = new Map<string, Transition>();

  record(t: Transition): void {
    this.latest.set(keyOf(t), t);
  }

  /** The transitions that still say something: live ejections, unhealthy targets, breakers not closed. */
  snapshot(now = Date.now()): Transition[] {
    const out: Transition[] = [];
    for (const [k, t] of this.latest) {
      if (t.kind === 'returned' || (t.kind === 'ejected' && t.until <= now) || (t.kind === 'health' && t.healthy) || (t.kind === 'breaker' && t.state === 'closed')) {
        this.latest.delete(k);
        continue;
      }
      out.push(t);
    }
    return out;
  }

  /** Forgets an upstream whose config changed (its state starts afresh in every worker). */
  forget(upstream: string): void {
    for (const [k, t] of this.latest) if (t.upstream === upstream) this.latest.delete(k);
  }
}

/** The last `capacity` events of every worker, oldest first. */
export class EventRing {
  private readonly items: GatewayEvent[] = [];
  constructor(private readonly capacity = 1000) {}
  push(e: GatewayEvent): void {
    this.items.push(e);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }
  list(): GatewayEvent[] {
    return [...this.items];
  }
}
