/**
 * /metrics over every worker: each worker's registry as JSON (gathered over the bus), merged by
 * prom-client's AggregatorRegistry. Counters, histograms and per-process gauges (in flight,
 * pool connections, memory) are summed: the gateway's totals. Gauges of shared state — a target
 * up, healthy or ejected, its ejection streak, the breaker state — are the same in every worker
 * (src/upstream/upstream.ts), so the first answer (the lead's) is taken instead of a sum; the
 * latency average is averaged.
 */
import { AggregatorRegistry, type Aggregator } from 'prom-client';
import type { MetricsJson } from './bus.js';

const AGGREGATORS: Record<string, Aggregator> = {
  causeway_target_up: 'first',
  causeway_target_healthy: 'first',
  causeway_target_ejected: 'first',
  causeway_target_ejection_streak: 'first',
  causeway_breaker_state: 'first',
  causeway_target_ewma_seconds: 'average',
};

/** Prometheus text for the registries of every worker (the lead's first). */
export async function aggregateMetrics(perWorker: MetricsJson[]): Promise<string> {
  for (const registry of perWorker) {
    for (const m of registry as Array<{ name: string; aggregator?: Aggregator }>) {
      const a = AGGREGATORS[m.name];
      if (a) m.aggregator = a;
    }
  }
  const text = await AggregatorRegistry.aggregate(perWorker as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  return `${text}# HELP causeway_workers Worker processes whose metrics this scrape merged.\n# TYPE causeway_workers gauge\ncauseway_workers ${perWorker.length}\n`;
}
