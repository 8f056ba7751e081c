/**
 * Alert conditions, evaluated against the call log: error rate, one code's rate, a latency
 * percentile, growth of a code over the previous window, and deviation from the route's own
 * baseline. Pure over a CallStore: `evaluateRule(rule, store, now)` → is it met, the measured
 * value and a sentence saying so.
 */
import type { AlertRule } from '../config/schema.js';
import { formatDuration } from '../config/units.js';
import type { CallStore, StatsResult } from '../observe/store-api.js';

export interface Evaluation {
  met: boolean;
  /** The measured value, in the unit of the condition (a fraction, per second, ms, a ratio). */
  value: number | null;
  /** What was measured, in words: "error rate 62% (31 of 50 calls) over the last 1m". */
  summary: string;
}

type Threshold = { op: '>' | '>=' | '<' | '<='; value: number; text: string };

function compare(v: number, t: Threshold): boolean {
  switch (t.op) {
    case '>':
      return v > t.value;
    case '>=':
      return v >= t.value;
    case '<':
      return v < t.value;
    case '<=':
      return v <= t.value;
  }
}

const pct = (f: number) => `${Math.round(f * 1000) / 10}%`;
const dur = (ms: number) => (ms >= 1000 ? `${Math.round(ms / 10) / 100}s` : `${Math.round(ms)}ms`);

function window(store: CallStore, rule: AlertRule, since: number, until: number, bucket = until - since): Promise<StatsResult> {
  return Promise.resolve(store.stats({ since, until, bucket: Math.max(1, bucket), ...(rule.route ? { route: rule.route } : {}), ...(rule.upstream ? { upstream: rule.upstream } : {}) }));
}

/** Evaluates one rule at `now` (epoch ms). */
export async function evaluateRule(rule: AlertRule, store: CallStore, now: number): Promise<Evaluation> {
  const w = rule.when;
  const span = `over the last ${formatDuration(rule.window)}`;
  if ('errorRate' in w) {
    const s = (await window(store, rule, now - rule.window, now)).totals;
    if (s.requests < w.minRequests) return { met: false, value: null, summary: `${s.requests} calls ${span}, fewer than minRequests (${w.minRequests})` };
    const rate = s.errors / s.requests;
    return { met: compare(rate, w.errorRate), value: rate, summary: `error rate ${pct(rate)} (${s.errors} of ${s.requests} calls) ${span}; threshold ${w.errorRate.text}` };
  }
  if ('code' in w) {
    const s = (await window(store, rule, now - rule.window, now)).totals;
    const n = s.byCode[w.code] ?? 0;
    const rate = n / (rule.window / 1000);
    return { met: compare(rate, w.rate), value: rate, summary: `${w.code} at ${Math.round(rate * 100) / 100}/s (${n} calls) ${span}; threshold ${w.rate.text}` };
  }
  if ('latency' in w) {
    const s = (await window(store, rule, now - rule.window, now)).totals;
    for (const q of ['p50', 'p95', 'p99'] as const) {
      const t = w.latency[q];
      const v = s[q];
      if (!t || v === null) continue;
      if (compare(v, t)) return { met: true, value: v, summary: `${q} latency ${dur(v)} over ${s.requests} calls ${span}; threshold ${t.text}` };
    }
    return { met: false, value: s.p99, summary: `latency within thresholds ${span} (p50 ${s.p50 ?? '-'} ms, p95 ${s.p95 ?? '-'} ms, p99 ${s.p99 ?? '-'} ms)` };
  }
  if ('change' in w) {
    const c = w.change;
    const s = await window(store, rule, now - 2 * c.window, now, c.window);
    const count = (i: number) => {
      const b = s.buckets[i];
      if (!b) return 0;
      return c.code ? (b.byCode[c.code] ?? 0) : b.errors;
    };
    const prev = count(0);
    const cur = count(1);
    const what = c.code ?? 'failures';
    const growth = prev === 0 ? (cur > 0 ? Infinity : 0) : (cur - prev) / prev;
    const met = cur >= c.minCount && growth >= c.increase;
    const shown = growth === Infinity ? 'from none' : `${growth >= 0 ? 'up' : 'down'} ${pct(Math.abs(growth))}`;
    return { met, value: growth === Infinity ? null : growth, summary: `${what}: ${cur} in the last ${formatDuration(c.window)} vs ${prev} in the ${formatDuration(c.window)} before (${shown}); threshold +${pct(c.increase)}, at least ${c.minCount}` };
  }
  const b = w.baseline;
  // The history is cut into windows; the current window is compared with their mean and spread.
  const s = await window(store, rule, now - b.history - rule.window, now, rule.window);
  const metric = (x: { requests: number; errors: number; p99: number | null }) => (b.metric === 'p99' ? x.p99 : x.requests ? x.errors / x.requests : null);
  const past = s.buckets.slice(0, -1).map(metric).filter((v): v is number => v !== null);
  const last = s.buckets[s.buckets.length - 1];
  const cur = last ? metric(last) : null;
  if (past.length < 3 || cur === null) return { met: false, value: cur, summary: `not enough history for a baseline (${past.length} windows with calls)` };
  const mean = past.reduce((a, v) => a + v, 0) / past.length;
  const sd = Math.sqrt(past.reduce((a, v) => a + (v - mean) ** 2, 0) / past.length);
  // A flat history has no spread: allow a small floor so one odd call is not an anomaly.
  const floor = b.metric === 'p99' ? Math.max(1, mean * 0.05) : 0.01;
  const z = (cur - mean) / Math.max(sd, floor);
  const show = (v: number) => (b.metric === 'p99' ? dur(v) : pct(v));
  return { met: z >= b.deviation, value: z, summary: `${b.metric} ${show(cur)} ${span} vs baseline ${show(mean)} ± ${show(sd)} over ${formatDuration(b.history)}: ${Math.round(z * 10) / 10} standard deviations; threshold ${b.deviation}` };
}
