/**
 * Webhook delivery: one JSON POST per alert transition, retried with exponential backoff
 * (0.5 s, 1 s, 2 s, ... up to `attempts` tries) on network errors and non-2xx answers.
 */
export interface WebhookTarget {
  url: string;
  headers?: Record<string, string>;
}

export interface DeliveryResult {
  ok: boolean;
  tries: number;
  status: number | null;
  error: string | null;
}

export interface DeliveryOptions {
  attempts?: number;
  baseDelayMs?: number;
  timeoutMs?: number;
  /** Stops retrying (the gateway is stopping). */
  signal?: AbortSignal;
}

/** POSTs `payload` as JSON, retrying; never throws. */
export async function deliver(target: WebhookTarget, payload: unknown, opts: DeliveryOptions = {}): Promise<DeliveryResult> {
  const attempts = opts.attempts ?? 5;
  const base = opts.baseDelayMs ?? 500;
  const body = JSON.stringify(payload);
  let last: DeliveryResult = { ok: false, tries: 0, status: null, error: null };
  for (let i = 0; i < attempts; i++) {
    if (opts.signal?.aborted) break;
    if (i > 0) await new Promise((r) => setTimeout(r, Math.min(30_000, base * 2 ** (i - 1))));
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'causeway-alerts', ...target.headers },
        body,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
      });
      await res.arrayBuffer();
      last = { ok: res.ok, tries: i + 1, status: res.status, error: res.ok ? null : `HTTP ${res.status}` };
      if (res.ok) return last;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      last = { ok: false, tries: i + 1, status: null, error: e.cause?.code ?? e.message };
    }
  }
  return last;
}
