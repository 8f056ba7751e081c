/**
 * GET /api/upstreams over every worker. Each worker has its own connections and counters, so the
 * lead merges the workers' `Upstream.stats()`: in-flight calls and retries, request and failure
 * counts, every pool number (connections, leases, queue, maxConnections: each worker has its own
 * pool) and the calls a breaker refused are summed; the latency average is averaged. What the
 * workers share — a target's state, health, ejection and the breaker's state — is the lead's
 * view, which every worker holds (src/upstream/upstream.ts).
 */
import type { TargetStats, UpstreamStats } from '../upstream/upstream.js';

const SUMMED_TARGET = ['inflight', 'requests', 'failures'] as const;

function addNumbers(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) if (typeof v === 'number' && typeof into[k] === 'number') into[k] = (into[k] as number) + v;
}

/** One list of upstreams from each worker's (the lead's first), merged into one. */
export function mergeUpstreamStats(perWorker: UpstreamStats[][]): UpstreamStats[] {
  const [lead, ...others] = perWorker;
  if (!lead) return [];
  const out = structuredClone(lead);
  for (const u of out) {
    const copies = others.map((list) => list.find((x) => x.name === u.name)).filter((x): x is UpstreamStats => x !== undefined);
    for (const c of copies) {
      u.activeRequests += c.activeRequests;
      u.activeRetries += c.activeRetries;
      if (u.breaker && c.breaker) {
        u.breaker.rejected += c.breaker.rejected;
        u.breaker.requests += c.breaker.requests;
        u.breaker.failures += c.breaker.failures;
      }
    }
    for (const t of u.targets) {
      const same = copies.map((c) => c.targets.find((x) => x.id === t.id)).filter((x): x is TargetStats => x !== undefined);
      const ewmas = [t.ewmaMs, ...same.map((x) => x.ewmaMs)].filter((x) => x > 0);
      for (const s of same) {
        for (const k of SUMMED_TARGET) t[k] += s[k];
        addNumbers(t.pool as unknown as Record<string, unknown>, s.pool as unknown as Record<string, unknown>);
      }
      t.ewmaMs = ewmas.length ? Math.round((ewmas.reduce((a, b) => a + b, 0) / ewmas.length) * 100) / 100 : 0;
    }
  }
  return out;
}
