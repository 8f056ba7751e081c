/**
 * OpenTelemetry export over OTLP/HTTP JSON (`tracing.otlp.endpoint`): per call one SERVER span,
 * with one CLIENT child span per attempt carrying the span id the backend saw as its parent.
 * Spans are queued and POSTed in batches (every second, or at once past 512) off the request path;
 * a collector that is down costs dropped spans, never a slower gateway (the queue is bounded).
 *
 *   const exporter = new OtlpExporter({ endpoint, headers, serviceName });
 *   gateway.sinks.add(exporter); ... await exporter.close();
 */
import type { CallRecord, CallSink } from './call-record.js';
import { attemptSpanId } from './trace.js';

export interface OtlpOptions {
  endpoint: string;
  headers?: Record<string, string>;
  serviceName?: string;
  flushMs?: number;
}

const BATCH = 512;
/** Calls kept while the collector is slow or down; older ones are dropped. */
const MAX_QUEUED = 10_000;
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_OK = 1;
const STATUS_ERROR = 2;

type AttrValue = string | number | boolean;
const attr = (key: string, v: AttrValue) => ({
  key,
  value: typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v },
});
const nanos = (ms: number) => (BigInt(Math.round(ms * 1000)) * 1000n).toString();

type TracedCall = CallRecord & { traceId: string; spanId: string };

/** The spans of one call, OTLP JSON. */
function callSpans(c: TracedCall): unknown[] {
  const end = c.time + c.durationMs;
  const failed = c.code !== null || c.status >= 500;
  const server = {
    traceId: c.traceId,
    spanId: c.spanId,
    ...(c.parentSpanId ? { parentSpanId: c.parentSpanId } : {}),
    name: `${c.method} ${c.route ?? 'unmatched'}`,
    kind: SPAN_KIND_SERVER,
    startTimeUnixNano: nanos(c.time),
    endTimeUnixNano: nanos(end),
    attributes: [
      attr('http.request.method', c.method),
      attr('url.path', c.path),
      attr('http.response.status_code', c.status),
      attr('causeway.request_id', c.requestId),
      ...(c.route ? [attr('http.route', c.route)] : []),
      ...(c.upstream ? [attr('causeway.upstream', c.upstream)] : []),
      ...(c.code ? [attr('error.type', c.code)] : []),
      attr('causeway.attempts', c.attempts.length),
    ],
    status: failed ? { code: STATUS_ERROR, message: c.code ?? `status ${c.status}` } : { code: STATUS_OK },
  };
  // Attempt start times are not recorded; attempts ran one after another, so they are laid end to end.
  let at = c.time;
  const attempts = c.attempts.map((a, i) => {
    const span = {
      traceId: c.traceId,
      spanId: attemptSpanId(c.spanId, i),
      parentSpanId: c.spanId,
      name: `attempt ${i + 1} ${a.target}`,
      kind: SPAN_KIND_CLIENT,
      startTimeUnixNano: nanos(at),
      endTimeUnixNano: nanos(at + a.durationMs),
      attributes: [
        attr('server.address', a.target),
        attr('causeway.outcome', String(a.outcome)),
        attr('causeway.reused_connection', a.reused),
        ...Object.entries(a.timings).map(([k, v]) => attr(`causeway.timing.${k}_ms`, v)),
        ...(a.phase ? [attr('causeway.phase', a.phase)] : []),
        ...(a.error ? [attr('causeway.error', a.error)] : []),
        ...(a.retry ? [attr('causeway.retry', a.retry)] : []),
      ],
      status: typeof a.outcome === 'string' || a.outcome >= 500 ? { code: STATUS_ERROR, message: String(a.outcome) } : { code: STATUS_OK },
    };
    at += a.durationMs;
    return span;
  });
  return [server, ...attempts];
}

export class OtlpExporter implements CallSink {
  private queue: TracedCall[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly sending = new Set<Promise<void>>();
  /** Export outcomes, for tests and the admin API. */
  readonly stats = { exported: 0, dropped: 0, failedPosts: 0 };

  constructor(private readonly opts: OtlpOptions) {}

  /** Queues the spans of a call (calls without a trace, such as unmatched routes, are skipped). */
  record(call: CallRecord): void {
    if (!call.traceId || !call.spanId) return;
    if (this.queue.length >= MAX_QUEUED) {
      this.queue.shift();
      this.stats.dropped++;
    }
    this.queue.push(call as TracedCall);
    if (this.queue.length >= BATCH) setImmediate(this.flush);
    else this.timer ??= setTimeout(this.flush, this.opts.flushMs ?? 1000);
  }

  /** POSTs what is queued; resolves when that POST is done (failures are counted, not thrown). */
  flush = (): Promise<void> => {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.queue.length) return Promise.resolve();
    const batch = this.queue.splice(0, this.queue.length);
    const body = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [attr('service.name', this.opts.serviceName ?? 'causeway')] },
          scopeSpans: [{ scope: { name: 'causeway' }, spans: batch.flatMap(callSpans) }],
        },
      ],
    });
    const p = fetch(this.opts.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.opts.headers },
      body,
      signal: AbortSignal.timeout(5000),
    })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.ok) this.stats.exported += batch.length;
        else this.stats.failedPosts++;
      })
      .catch(() => {
        this.stats.failedPosts++;
      })
      .finally(() => this.sending.delete(p));
    this.sending.add(p);
    return p;
  };

  /** Sends what is queued and waits for every POST in flight. */
  async close(): Promise<void> {
    void this.flush();
    await Promise.all([...this.sending]);
  }
}
