/**
 * The alert engine: evaluates each rule of `alerts:` on its own schedule (`every`) against the
 * call log, moves it through inactive → pending (met, waiting out `for`) → firing → resolved,
 * and on the two transitions that matter — firing and resolved — POSTs once to the rule's
 * webhook (dedup: a firing alert is not re-sent while it stays firing).
 *
 *   const alerts = new AlertEngine(config.alerts, store, { events });
 *   alerts.start();  alerts.list();  await alerts.evaluate();  await alerts.stop();
 *
 * `list()` is what GET /api/alerts serves.
 */
import type { AlertRule } from '../config/schema.js';
import type { EventLog } from '../observe/events.js';
import type { CallStore } from '../observe/store-api.js';
import { evaluateRule } from './rules.js';
import { deliver, type DeliveryResult } from './webhook.js';

export type AlertState = 'inactive' | 'pending' | 'firing';

export interface AlertStatus {
  name: string;
  state: AlertState;
  route: string | null;
  upstream: string | null;
  /** The condition as written. */
  condition: AlertRule['when'];
  /** When the current state began (epoch ms); null before the first evaluation. */
  since: number | null;
  lastEvaluated: number | null;
  value: number | null;
  summary: string;
  /** Last time it fired and resolved (epoch ms). */
  firedAt: number | null;
  resolvedAt: number | null;
  lastDelivery: (DeliveryResult & { notification: 'firing' | 'resolved'; at: number }) | null;
}

/** The JSON POSTed to a webhook. */
export interface AlertNotification {
  alert: string;
  status: 'firing' | 'resolved';
  /** When the alert started firing (ISO 8601). */
  startsAt: string;
  endsAt: string | null;
  summary: string;
  value: number | null;
  route: string | null;
  upstream: string | null;
  condition: AlertRule['when'];
  source: 'causeway';
}

export interface AlertEngineOptions {
  events?: EventLog;
  now?: () => number;
  /** Webhook retry tuning (tests). */
  delivery?: { attempts?: number; baseDelayMs?: number };
}

interface Entry {
  rule: AlertRule;
  status: AlertStatus;
  pendingSince: number | null;
  nextAt: number;
}

export class AlertEngine {
  private readonly entries: Entry[];
  private timer: NodeJS.Timeout | null = null;
  private readonly deliveries = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private readonly now: () => number;

  constructor(
    rules: AlertRule[],
    private readonly store: CallStore | null,
    private readonly opts: AlertEngineOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.entries = rules.map((rule) => ({
      rule,
      pendingSince: null,
      nextAt: 0,
      status: { name: rule.name, state: 'inactive', route: rule.route ?? null, upstream: rule.upstream ?? null, condition: rule.when, since: null, lastEvaluated: null, value: null, summary: 'not evaluated yet', firedAt: null, resolvedAt: null, lastDelivery: null },
    }));
  }

  /** Evaluates due rules periodically (ticks at the shortest `every`, at least every 100 ms). */
  start(): void {
    if (this.timer || !this.entries.length || !this.store) return;
    const tick = Math.max(100, Math.min(...this.entries.map((e) => e.rule.every)));
    this.timer = setInterval(() => void this.evaluate(false), tick);
    this.timer.unref();
  }

  /** The state of every rule, for GET /api/alerts. */
  list(): AlertStatus[] {
    return this.entries.map((e) => ({ ...e.status }));
  }

  /** Evaluates rules now (all of them, or only those due); resolves when notifications are queued. */
  async evaluate(all = true): Promise<void> {
    if (!this.store) return;
    const now = this.now();
    for (const e of this.entries) {
      if (!all && now < e.nextAt) continue;
      e.nextAt = now + e.rule.every;
      let r;
      try {
        r = await evaluateRule(e.rule, this.store, now);
      } catch (err) {
        r = { met: false, value: null, summary: `evaluation failed: ${(err as Error).message}` };
      }
      const s = e.status;
      s.lastEvaluated = now;
      s.value = r.value;
      s.summary = r.summary;
      if (r.met) {
        e.pendingSince ??= now;
        if (s.state !== 'firing' && now - e.pendingSince >= e.rule.for) {
          this.transition(e, 'firing', now);
          s.firedAt = now;
          this.notify(e, 'firing', now);
        } else if (s.state === 'inactive') this.transition(e, 'pending', now);
      } else {
        e.pendingSince = null;
        if (s.state === 'firing') {
          s.resolvedAt = now;
          this.transition(e, 'inactive', now);
          this.notify(e, 'resolved', now);
        } else if (s.state === 'pending') this.transition(e, 'inactive', now);
      }
    }
  }

  private transition(e: Entry, to: AlertState, now: number): void {
    e.status.state = to;
    e.status.since = now;
  }

  private notify(e: Entry, status: 'firing' | 'resolved', now: number): void {
    const s = e.status;
    this.opts.events?.publish({
      type: status === 'firing' ? 'alert.firing' : 'alert.resolved',
      reason: `${e.rule.name}: ${s.summary}`,
      alert: e.rule.name,
      ...(e.rule.upstream ? { upstream: e.rule.upstream } : {}),
    });
    const hook = e.rule.webhook;
    if (!hook) return;
    const payload: AlertNotification = {
      alert: e.rule.name,
      status,
      startsAt: new Date(s.firedAt ?? now).toISOString(),
      endsAt: status === 'resolved' ? new Date(now).toISOString() : null,
      summary: s.summary,
      value: s.value,
      route: s.route,
      upstream: s.upstream,
      condition: e.rule.when,
      source: 'causeway',
    };
    const p = deliver(hook, payload, { ...this.opts.delivery, signal: this.abort.signal }).then((d) => {
      s.lastDelivery = { ...d, notification: status, at: this.now() };
    });
    this.deliveries.add(p);
    void p.finally(() => this.deliveries.delete(p));
  }

  /** Stops evaluating; waits up to `graceMs` for deliveries in flight, then gives up on retries. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const grace = new Promise((r) => setTimeout(r, graceMs).unref());
    await Promise.race([Promise.all([...this.deliveries]), grace]);
    this.abort.abort();
  }
}
