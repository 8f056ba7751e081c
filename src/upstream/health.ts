/**
 * Active health checks: every `interval`, GET `path` on each target over a connection of its
 * own (never one of the data pool), within `timeout`. `unhealthyAfter` failures in a row take a
 * target out of rotation, `healthyAfter` passes in a row bring it back. Targets start healthy so
 * traffic flows before the first round completes.
 */
import { Client } from 'undici';
import type { ActiveHealthConfig } from '../config/schema.js';
import type { Target } from './target.js';
import { GRPC_HEALTH_PATH, GRPC_HEALTH_REQUEST, healthVerdict } from '../grpc/health.js';

export interface HealthSubject {
  readonly target: Target;
  /** Passing the active checks (true until they say otherwise). */
  healthy: boolean;
}

export interface HealthTransition {
  subject: HealthSubject;
  healthy: boolean;
  reason: string;
}

export interface HealthTls {
  rejectUnauthorized: boolean;
  ca?: string | Buffer | undefined;
  servername?: string | undefined;
}

/** Parses "200", 204 or "200-399" into ranges. */
function statusRanges(list: ReadonlyArray<number | string>): Array<[number, number]> {
  return list.map((s) => {
    if (typeof s === 'number') return [s, s];
    const [a, b] = s.split('-').map(Number);
    return [a!, b ?? a!];
  });
}

interface Probe {
  subject: HealthSubject;
  client: Client;
  passes: number;
  fails: number;
  running: boolean;
}

export class ActiveHealthChecker {
  private readonly probes: Probe[];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly expected: Array<[number, number]>;
  /** Checks run, since start. */
  checks = 0;

  constructor(
    subjects: readonly HealthSubject[],
    private readonly config: ActiveHealthConfig,
    private readonly onChange: (t: HealthTransition) => void,
    tls?: HealthTls,
  ) {
    this.expected = statusRanges(config.expectedStatuses);
    this.probes = subjects.map((subject) => ({
      subject,
      passes: 0,
      fails: 0,
      running: false,
      client: new Client(subject.target.origin, {
        connect: { timeout: config.timeout, ...(subject.target.tls ? { rejectUnauthorized: tls?.rejectUnauthorized ?? true, ca: tls?.ca, servername: tls?.servername ?? (subject.target.literal ? undefined : subject.target.hostname) } : {}) },
        headersTimeout: config.timeout,
        bodyTimeout: config.timeout,
        pipelining: 1,
        keepAliveTimeout: Math.max(1000, config.interval * 2),
        // HTTP/2 targets are checked over HTTP/2: an h2c port may not answer HTTP/1.1 at all.
        ...(subject.target.h2 ? { allowH2: true, useH2c: !subject.target.tls } : {}),
      }),
    }));
  }

  start(): void {
    if (this.timer) return;
    this.round();
    this.timer = setInterval(() => this.round(), this.config.interval);
    this.timer.unref();
  }

  private round(): void {
    for (const p of this.probes) if (!p.running) void this.check(p);
  }

  private async check(p: Probe): Promise<void> {
    p.running = true;
    this.checks++;
    let failure: string | null = null;
    const signal = AbortSignal.timeout(this.config.timeout);
    try {
      if (this.config.path === GRPC_HEALTH_PATH) failure = await this.grpcCheck(p, signal);
      else {
        const res = await p.client.request({ path: p.subject.target.basePath + this.config.path, method: 'GET', headers: { 'user-agent': 'causeway-health-check' }, signal });
        await res.body.dump();
        if (!this.expected.some(([lo, hi]) => res.statusCode >= lo && res.statusCode <= hi)) failure = `GET ${this.config.path} answered ${res.statusCode}`;
      }
    } catch (err) {
      // An AbortSignal.timeout() abort is a DOMException whose `code` is the number 23: name it instead.
      const e = err as Error & { code?: unknown };
      failure = `GET ${this.config.path} failed: ${typeof e.code === 'string' ? e.code : e.name}${signal.aborted ? ` (no answer within ${this.config.timeout} ms)` : ''}`;
    } finally {
      p.running = false;
    }
    if (this.stopped) return;
    if (failure === null) {
      p.fails = 0;
      p.passes++;
      if (!p.subject.healthy && p.passes >= this.config.healthyAfter) {
        p.subject.healthy = true;
        this.onChange({ subject: p.subject, healthy: true, reason: `${p.passes} health checks passed` });
      }
    } else {
      p.passes = 0;
      p.fails++;
      if (p.subject.healthy && p.fails >= this.config.unhealthyAfter) {
        p.subject.healthy = false;
        this.onChange({ subject: p.subject, healthy: false, reason: `${p.fails} health checks failed; last: ${failure}` });
      }
    }
  }

  /** The standard gRPC health service: healthy when it says SERVING. Returns the failure, or null. */
  private async grpcCheck(p: Probe, signal: AbortSignal): Promise<string | null> {
    const res = await p.client.request({
      path: p.subject.target.basePath + GRPC_HEALTH_PATH,
      method: 'POST',
      headers: { 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'causeway-health-check' },
      body: GRPC_HEALTH_REQUEST,
      signal,
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200) return `Health/Check answered HTTP ${res.statusCode}`;
    const v = healthVerdict((res.headers['grpc-status'] ?? res.trailers['grpc-status']) as string | undefined, body);
    return v.serving ? null : `Health/Check answered ${v.status}`;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(this.probes.map((p) => p.client.destroy().catch(() => undefined)));
  }
}

/** How many recent attempts on a target its observed health is judged on. */
export const OBSERVED_WINDOW = 20;

export interface ObservedHealth {
  /** Attempts in the window (at most OBSERVED_WINDOW) and how many failed. */
  calls: number;
  failures: number;
  /** failures / calls, 0..1 (0 with no calls). */
  failureRate: number;
  /** The code (or `status 503`) of the last failed attempt, and when (epoch ms). */
  lastCode: string | null;
  lastFailureAt: number | null;
  /** At least half of the last calls failed, the last one too: shown as failing whatever the health checks say. */
  failing: boolean;
}

/**
 * What the traffic says about a target, apart from active checks and ejection: the outcome of
 * its last OBSERVED_WINDOW attempts. A target with no health check configured and every call
 * failing is shown as failing, not as up.
 */
export class ObservedOutcomes {
  private readonly ring = new Uint8Array(OBSERVED_WINDOW);
  private next = 0;
  private count = 0;
  private failures = 0;
  private lastFailed = false;
  private lastCode: string | null = null;
  private lastFailureAt: number | null = null;

  /** One attempt's outcome; `reason` of a failure starts with its code ("UPSTREAM_CONNECTION_REFUSED (ECONNREFUSED)", "answered 503"). */
  record(failed: boolean, reason?: string): void {
    if (this.count === OBSERVED_WINDOW) this.failures -= this.ring[this.next]!;
    else this.count++;
    this.ring[this.next] = failed ? 1 : 0;
    this.next = (this.next + 1) % OBSERVED_WINDOW;
    if (failed) {
      this.failures++;
      const code = /^[A-Z][A-Z0-9_]+/.exec(reason ?? '')?.[0];
      this.lastCode = code ?? (reason?.replace(/^answered /, 'status ') || 'failure');
      this.lastFailureAt = Date.now();
    }
    this.lastFailed = failed;
  }

  /** Forgets the window: a target back from ejection starts with a clean record, as outlier detection gives it. */
  reset(): void {
    this.ring.fill(0);
    this.next = this.count = this.failures = 0;
    this.lastFailed = false;
  }

  stats(): ObservedHealth {
    const rate = this.count ? this.failures / this.count : 0;
    return {
      calls: this.count,
      failures: this.failures,
      failureRate: Math.round(rate * 1000) / 1000,
      lastCode: this.lastCode,
      lastFailureAt: this.lastFailureAt,
      failing: this.lastFailed && this.count >= 3 && rate >= 0.5,
    };
  }
}
