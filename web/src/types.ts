/** The admin API's shapes, as the dashboard reads them (GET /api/openapi.json is the full contract). */
export interface Phases {
  dns: number;
  connect: number;
  tls: number;
  send: number;
  ttfb: number;
  body: number;
}
export interface Attempt {
  target: string;
  outcome: number | string;
  phase: string | null;
  error?: string;
  reused: boolean;
  retry?: string;
  timings: Phases;
  durationMs: number;
  /** When its first phase began, in ms since the call started. */
  startMs?: number;
}
export interface Call {
  requestId: string;
  time: number;
  route: string | null;
  upstream: string | null;
  method: string;
  path: string;
  status: number;
  code: string | null;
  attempts: Attempt[];
  durationMs: number;
}
export interface Bucket {
  t: number;
  requests: number;
  errors: number;
  byCode: Record<string, number>;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
export interface Stats {
  since: number;
  until: number;
  bucket: number;
  buckets: Bucket[];
  totals: Omit<Bucket, 't'>;
  topFailingRoutes: Array<{ route: string; errors: number; requests: number }>;
  upstreamsByRoute?: Array<{ route: string; upstream: string; requests: number; errors: number; p50: number | null; p95: number | null; p99: number | null }>;
}
export interface TargetStats {
  id: string;
  url: string;
  weight: number;
  inflight: number;
  ewmaMs: number;
  requests?: number;
  failures?: number;
  pool: { inUse: number; queued: number; connected: number; maxConnections: number; exhausted?: number };
  [extra: string]: unknown;
}
export interface UpstreamStats {
  name: string;
  balance: string;
  activeRequests: number;
  targets: TargetStats[];
  [extra: string]: unknown;
}
export interface GatewayEvent {
  type: string;
  at: number;
  reason: string;
  upstream?: string;
  target?: string;
}
export interface Finding {
  severity: 'error' | 'warning' | 'info';
  path: string;
  message: string;
  fix: string;
}
/** gRPC facts of one attempt, as the explanation names them. */
export interface AttemptGrpc {
  status: string | null;
  message: string | null;
  sent: number;
  received: number;
}
export interface Explanation {
  verdict: 'ok' | 'backend-error' | 'failure';
  headline: string;
  timeline?: Array<{ grpc: AttemptGrpc | null }>;
  grpc?: { service: string | null; method: string | null; status: string | null } | null;
  classification: { code: string; status: number; title: string; cause: string; remedy: string } | null;
  context: { sentence: string } | null;
}
