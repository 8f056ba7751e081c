/**
 * A bounded load generator for end-to-end scenarios: `total` GETs over `concurrency` keep-alive
 * connections, with a hard time cap. Reports the client-visible success rate and latencies.
 */
import http from 'node:http';

export interface LoadResult {
  total: number;
  ok: number;
  /** Successes / total, 0..1. */
  successRate: number;
  byStatus: Record<string, number>;
  /** X-Causeway-Error values seen (gateway-generated failures). */
  byCode: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
  elapsedMs: number;
}

export interface LoadOptions {
  url: string;
  total: number;
  concurrency: number;
  /** Stop sending new requests after this long. */
  capMs?: number;
  /** Called after each response with the count so far (to change the scenario mid-run). */
  onProgress?: (done: number) => void;
  headers?: Record<string, string>;
  /** Pause between requests on each connection. */
  gapMs?: number;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const latencies: number[] = [];
  const byStatus: Record<string, number> = {};
  const byCode: Record<string, number> = {};
  let sent = 0;
  let done = 0;
  let ok = 0;
  const start = performance.now();
  const cap = start + (o.capMs ?? 60_000);
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = http.get(o.url, { agent, headers: o.headers }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - t0);
          const s = String(res.statusCode);
          byStatus[s] = (byStatus[s] ?? 0) + 1;
          const code = res.headers['x-causeway-error'];
          if (typeof code === 'string') byCode[code] = (byCode[code] ?? 0) + 1;
          if (res.statusCode! < 500 && code === undefined) ok++;
          resolve();
        });
        res.on('error', () => {
          byStatus['aborted'] = (byStatus['aborted'] ?? 0) + 1;
          resolve();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const k = `error:${err.code ?? err.message}`;
        byStatus[k] = (byStatus[k] ?? 0) + 1;
        latencies.push(performance.now() - t0);
        resolve();
      });
    });
  const worker = async () => {
    while (sent < o.total && performance.now() < cap) {
      sent++;
      await one();
      done++;
      o.onProgress?.(done);
      if (o.gapMs) await new Promise((r) => setTimeout(r, o.gapMs));
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    total: done,
    ok,
    successRate: done ? ok / done : 0,
    byStatus,
    byCode,
    p50: round(percentile(latencies, 50)),
    p99: round(percentile(latencies, 99)),
    max: round(latencies[latencies.length - 1] ?? NaN),
    elapsedMs: round(performance.now() - start),
  };
}

const round = (n: number) => Math.round(n * 100) / 100;

/** One line for the test output: the figures the closing note quotes. */
export function summary(name: string, r: LoadResult): string {
  return `${name}: ${r.ok}/${r.total} ok (${(r.successRate * 100).toFixed(2)}%), p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms, statuses ${JSON.stringify(r.byStatus)}${Object.keys(r.byCode).length ? `, codes ${JSON.stringify(r.byCode)}` : ''}`;
}
