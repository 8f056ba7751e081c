/**
 * One proxied call, from a matched route to a finished response: leases a connection, runs
 * attempts (connect, send, wait, stream), decides retries by what failed and whether repeating
 * the request is safe, holds the overall time budget, and leaves one CallRecord behind.
 *
 * Flow: start → next() → lease → (connect) → dispatch → headers → body → complete
 *                  ↑______ retry (backoff) ______|  any failure → classify → retry or respond
 */
import type { Readable } from 'node:stream';
import { classify, type Evidence, type Phase } from '../failures/classify.js';
import { failure, type FailureCode } from '../failures/registry.js';
import type { AttemptRecord } from '../observe/call-record.js';
import { Attempt, type AttemptOwner } from '../upstream/attempt.js';
import { probeSpeaksTls, type ConnectFailure } from '../upstream/connector.js';
import type { PoolSlot } from '../upstream/pool.js';
import type { Permit } from '../upstream/breaker.js';
import type { AttemptVerdict, TargetState, Upstream } from '../upstream/upstream.js';
import { backoffDelay, budgetExempt, mayRetry, retryCondition, safeToRepeat, type Condition } from '../upstream/retry.js';
import { breakerOutcome, countsAgainstBackend, fallbackMayAnswer, unavailableStatus } from '../upstream/verdict.js';
import { downstreamHeaders, upstreamHeaders } from './headers.js';
import { BodyLimit, limitedBody, refusedWith } from './limits.js';
import type { FailureReport } from '../failures/respond.js';
import type { CallEnv, Exchange, RouteRuntime } from './exchange.js';
import { Tunnel } from './tunnel.js';
import { GrpcCall } from './grpc-call.js';

const CLOSED_OR_RESET = new Set(['UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

type LowLevelError = Error & { code?: string; data?: string };

/** Why an attempt counted against its target, as outlier detection's events say it. */
const failureReason = (code: FailureCode, lowLevel: string | undefined) => `${code}${lowLevel ? ` (${lowLevel})` : ''}`;

/** A TLS record header (handshake 0x16 or alert 0x15, version 3.x) where HTTP was expected. */
function looksLikeTls(data: string | undefined): boolean {
  return !!data && data.length >= 2 && (data.charCodeAt(0) === 0x15 || data.charCodeAt(0) === 0x16) && data.charCodeAt(1) === 0x03;
}

/** The pipeline's last stage: proxies the exchange to its upstream. */
export function upstreamCall(x: Exchange): void {
  if (x.upgrade) new Tunnel(x).start();
  else new Call(x).start();
}

export class Call implements AttemptOwner {
  private readonly req: Exchange['req'];
  private readonly route: RouteRuntime;
  private readonly up: Upstream;
  private readonly env: CallEnv;
  private readonly deadline: number;
  private readonly budget: number;
  private budgetTimer: NodeJS.Timeout | null = null;
  private waitTimer: NodeJS.Timeout | null = null;
  private attempt: Attempt | null = null;
  private targetState: TargetState | null = null;
  private cancelLease: (() => void) | undefined;
  private tried: Set<TargetState> | null = null;
  private readonly records: AttemptRecord[] = [];
  private finished = false;
  private retrying = false;
  private forceFresh = false;
  private readonly body: Readable | null;
  private bodyDispatched = false;
  private lastTarget: string | undefined;
  private readonly clientBudget: boolean;
  /** The breaker's permit for this call (null without a breaker). */
  private permit: Permit = null;
  /** gRPC semantics of the call (content-type application/grpc*), null for plain HTTP. */
  private readonly grpc: GrpcCall | null;

  constructor(private readonly x: Exchange) {
    this.req = x.req;
    this.route = x.route!;
    this.up = x.upstream!;
    this.env = x.env;
    this.grpc = x.isGrpc ? new GrpcCall(x.req, this.route) : null;
    const total = this.route.timeouts.total;
    // grpc-timeout is the client's deadline, as X-Request-Timeout is: the shorter of the two counts.
    const deadline = this.grpc?.deadline;
    const clientBudgetMs = deadline !== undefined && !(x.clientBudget !== undefined && x.clientBudget <= deadline) ? deadline : x.clientBudget;
    this.clientBudget = clientBudgetMs !== undefined && clientBudgetMs < total;
    this.budget = this.clientBudget ? clientBudgetMs! : total;
    this.deadline = x.t0 + this.budget;
    this.body = this.makeBody();
  }

  private makeBody(): Readable | null {
    const h = this.req.headers;
    if (this.grpc) return (this.req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders ? null : this.grpc.body(this.req, this.route.maxBodySize);
    // HTTP/2 frames its body by END_STREAM: a request with data and no length is streamed like chunked.
    const chunked = h['transfer-encoding'] !== undefined || (this.req.httpVersionMajor === 2 && h['content-length'] === undefined && !(this.req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders);
    if (!chunked && (h['content-length'] === undefined || h['content-length'] === '0')) return null;
    // A declared length over the limit was refused before the call; chunked bodies are counted.
    if (!chunked) return this.req;
    return limitedBody(this.req, this.route.maxBodySize);
  }

  start(): void {
    this.up.activeRequests++;
    this.env.inflight.calls++;
    this.x.res.on('close', this.onClose);
    this.x.res.on('drain', this.onDrain);
    this.route.fallback?.watch(this.x);
    this.budgetTimer = setTimeout(this.onBudget, this.budget);
    const breaker = this.up.breaker;
    if (breaker) {
      this.permit = breaker.acquire();
      if (this.permit === null) {
        this.fail('CIRCUIT_OPEN', 'breaker');
        return;
      }
    }
    this.next();
  }

  private remaining(): number {
    return this.deadline - performance.now();
  }

  // ── attempts ───────────────────────────────────────────────────────────────

  private next(): void {
    const up = this.up;
    const state = up.pick(this.tried);
    if (!state) {
      this.fail('NO_HEALTHY_TARGET', 'balance');
      return;
    }
    this.targetState = state;
    this.grpc?.startAttempt();
    this.lastTarget = state.target.id;
    const attempt = new Attempt(state.target, this, { send: this.route.timeouts.send, read: this.route.timeouts.read }, this.body);
    this.attempt = attempt;
    this.cancelLease = state.pool.lease((slot, reason) => {
      this.cancelLease = undefined;
      if (this.finished) {
        if (slot) state.pool.release(slot);
        return;
      }
      if (!slot) {
        this.attemptFailed(attempt, { phase: 'pool', tls: state.target.tls }, reason ?? 'queue-full');
        return;
      }
      this.withSlot(attempt, state, slot);
    });
  }

  private withSlot(attempt: Attempt, state: TargetState, slot: PoolSlot): void {
    state.inflight++;
    state.requests++;
    attempt.slot = slot;
    if (this.forceFresh && slot.connected) slot.dropConnection();
    if (slot.connected) {
      this.dispatch(attempt, slot);
      return;
    }
    attempt.phase = state.target.literal ? 'connect' : 'dns';
    const timeout = Math.max(1, Math.min(this.route.timeouts.connect, this.remaining()));
    const hedge = this.hedgeDelay(state, timeout);
    const hedgeTimer = hedge > 0 ? setTimeout(() => this.raceConnect(attempt, state, hedge), hedge) : null;
    slot.connect(timeout, (fail, timings) => {
      if (hedgeTimer) clearTimeout(hedgeTimer);
      attempt.timings.dns = timings.dns;
      attempt.timings.connect = timings.connect;
      attempt.timings.tls = timings.tls;
      if (!fail) state.observeConnect(timings.dns + timings.connect + timings.tls);
      if (attempt.raced) {
        this.racedConnectSettled(attempt, state, fail);
        return;
      }
      if (this.finished) {
        this.releaseSlot(attempt);
        return;
      }
      if (fail) {
        this.releaseSlot(attempt);
        attempt.phase = fail.phase;
        const total = fail.timeout && timeout < this.route.timeouts.connect && this.remaining() <= 1;
        this.attemptFailed(attempt, { phase: fail.phase, errorCode: fail.errorCode, timeout: total ? 'total' : fail.timeout ? 'phase' : undefined, tls: state.target.tls }, fail.errorCode);
        return;
      }
      this.dispatch(attempt, slot);
    });
  }

  /**
   * How long a connect to `state` may pend before it is raced by one to another target
   * (retries.hedgeConnect, at least 4x the target's usual connect time); 0: no race.
   */
  private hedgeDelay(state: TargetState, timeout: number): number {
    const r = this.route;
    const configured = r.retries.hedgeConnect;
    if (!configured || !r.retryOn.has('connect-failure') || r.upstream.targets.length < 2) return 0;
    const delay = Math.max(configured, Math.ceil(4 * state.connectEwma));
    return delay < timeout ? delay : 0;
  }

  /**
   * The connect of `attempt` is still pending after `after` ms: if this call may retry and has
   * another target to go to, it goes there now, and the slow connect carries on in the
   * background (the target is avoided meanwhile; its outcome feeds health, not this call).
   */
  private raceConnect(attempt: Attempt, state: TargetState, after: number): void {
    if (this.finished || attempt !== this.attempt) return;
    const up = this.up;
    if (!this.canRetry('connect-failure', true) || !up.hasAlternative(this.tried, state)) return;
    attempt.raced = true;
    up.connectRaced(state);
    const rec = this.recordAttempt(attempt, 'UPSTREAM_CONNECT_TIMEOUT', attempt.phase, `connect still pending after ${after} ms`);
    // A snapshot: the connect goes on, and its own timings with it.
    rec.timings = { ...attempt.timings, [attempt.phase === 'dns' ? 'dns' : 'connect']: after };
    rec.durationMs = after;
    rec.retry = 'slow-connect';
    this.leaveTarget(state);
    this.next();
  }

  /** The call moves on from `state` to another attempt: it counts as a retry in flight from now on. */
  private leaveTarget(state: TargetState): void {
    (this.tried ??= new Set()).add(state);
    if (!this.retrying) {
      this.retrying = true;
      this.up.activeRetries++;
    }
  }

  /** A connect this call raced elsewhere settled: its connection joins the pool, or its failure counts against the target. */
  private racedConnectSettled(attempt: Attempt, state: TargetState, fail: ConnectFailure | null): void {
    const up = this.up;
    up.racedConnectSettled(state);
    this.releaseSlot(attempt, state);
    if (fail) {
      const { code } = classify({ phase: fail.phase, errorCode: fail.errorCode, timeout: fail.timeout ? 'phase' : undefined, tls: state.target.tls });
      up.report(state, 'failure', `${failureReason(code, fail.errorCode)}, after the call had moved to another target`);
    }
  }

  private dispatch(attempt: Attempt, slot: PoolSlot): void {
    const t = attempt.target;
    const body = this.bodyDispatched && this.grpc ? this.grpc.replay() : this.body;
    if (this.body) this.bodyDispatched = true;
    attempt.dispatch(slot, {
      path: t.basePath + this.x.upstreamPath,
      method: this.req.method as 'GET',
      headers: upstreamHeaders(this.req, {
        requestId: this.x.requestId,
        clientIp: this.x.peer,
        trustedPeer: this.env.isTrustedPeer(this.x.peer),
        proto: (this.req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
        hostHeader: this.route.preserveHost && this.req.headers.host ? this.req.headers.host : t.hostHeader,
        budgetMs: this.remaining(),
        grpc: this.grpc !== null,
      }),
      body,
      // Body silence is timed by the attempt itself (finer than undici's 1 s timer wheel).
      bodyTimeout: 0,
      headersTimeout: 0,
      reset: false,
    });
  }

  /** Gives the attempt's connection back to the pool of its target (`state`: the call's current one unless said). */
  private releaseSlot(attempt: Attempt, state: TargetState = this.targetState!): void {
    const slot = attempt.slot;
    if (!slot) return;
    attempt.slot = null;
    state.inflight--;
    state.pool.release(slot);
  }

  private recordAttempt(attempt: Attempt, outcome: AttemptRecord['outcome'], phase: Phase | null, error?: string): AttemptRecord {
    const t = attempt.timings;
    const rec: AttemptRecord = {
      target: attempt.target.id,
      outcome,
      phase,
      reused: attempt.reused,
      timings: t,
      durationMs: Math.round((t.dns + t.connect + t.tls + t.send + t.ttfb + t.body) * 100) / 100,
    };
    rec.startMs = Math.max(0, Math.round((performance.now() - this.x.t0 - rec.durationMs) * 100) / 100);
    if (error) rec.error = error;
    // The budget that ran out, as the response said it: explain names it, not the time measured.
    if (outcome === 'GATEWAY_TIMEOUT') rec.error = `budget ${Math.round(this.budget)} ms${this.clientBudget ? ' (X-Request-Timeout)' : ''}`;
    if (this.grpc) rec.grpc = this.grpc.attemptInfo();
    this.records.push(rec);
    return rec;
  }

  // ── AttemptOwner ───────────────────────────────────────────────────────────

  onAttemptHeaders(_attempt: Attempt, status: number, rawHeaders: Buffer[], statusText: string): boolean {
    if (this.finished) return false;
    if (this.route.retryStatuses.has(status) && this.canRetry('status', this.safeToRepeat('status'))) return false;
    // A trailers-only answer with a status the route lists is retried as gRPC's retry design allows.
    const trailersOnly = this.grpc?.headers(rawHeaders) === true;
    if (trailersOnly && this.grpc!.retryable() && this.canRetry('status', this.safeToRepeat('status'))) return false;
    const headers = downstreamHeaders(rawHeaders, this.x.requestId);
    // Trailers-only is one HEADERS frame that ends the stream: held until the attempt completes.
    if (trailersOnly) this.grpc!.hold(status, headers);
    else this.x.head(status, headers, 'backend', statusText);
    return true;
  }

  onAttemptInterim(status: number, rawHeaders: Buffer[]): void {
    if (!this.finished) this.x.interim(status, downstreamHeaders(rawHeaders, this.x.requestId));
  }

  onAttemptData(chunk: Buffer): boolean {
    this.grpc?.received.push(chunk);
    return this.x.data(chunk);
  }

  private onDrain = (): void => {
    this.attempt?.resume();
  };

  onAttemptComplete(attempt: Attempt): void {
    const state = this.targetState!;
    state.observeLatency(attempt.timings.ttfb + attempt.timings.send);
    this.releaseSlot(attempt);
    if (this.finished) return;
    if (attempt.trailers) this.grpc?.trailers(attempt.trailers);
    const rec = this.recordAttempt(attempt, attempt.status, null);
    const backendFailed = unavailableStatus(attempt.status) || this.grpc?.backendFailed() === true;
    this.up.report(state, backendFailed ? 'failure' : 'success', this.grpc?.failureReason() ?? `answered ${attempt.status}`);
    if (attempt.discarding) {
      rec.retry = this.grpc?.retryReason() ?? `status ${attempt.status}`;
      this.retry('status');
      return;
    }
    const held = this.grpc?.held;
    if (held) this.x.headOnly(held.status, held.headers, 'backend');
    else this.x.end(attempt.trailers);
    this.finish(attempt.status, null);
  }

  onAttemptError(attempt: Attempt, err: LowLevelError): void {
    // undici's parser errors do not always carry a code; name them so classification sees a parse failure.
    if (!err.code) err.code = err.name === 'HTTPParserError' ? 'HPE_INVALID_RESPONSE' : err.name;
    this.releaseSlot(attempt);
    if (this.finished) return;
    if (err.code === 'CAUSEWAY_BODY_LIMIT') {
      this.recordAttempt(attempt, 'REQUEST_TOO_LARGE', attempt.phase, err.code);
      this.fail('REQUEST_TOO_LARGE', 'request');
      return;
    }
    if (this.clientGone()) {
      this.recordAttempt(attempt, 'CLIENT_CLOSED_REQUEST', attempt.phase, err.code);
      this.finish(499, 'CLIENT_CLOSED_REQUEST');
      return;
    }
    const target = attempt.target;
    const evidence: Evidence = { phase: attempt.phase, errorCode: err.code, timeout: attempt.timedOut, tls: target.tls };
    if (err.code?.startsWith('HPE_') && looksLikeTls(err.data)) evidence.peerSpeaksTls = true;
    const silentClose =
      !target.tls && !attempt.reused && !attempt.timedOut && attempt.status === 0 && attempt.bytesReceived === 0 && CLOSED_OR_RESET.has(err.code ?? '');
    if (silentClose && this.remaining() > 50) {
      // Zero bytes then a close on a fresh connection: a backend that hung up, or a TLS port
      // behind an http:// URL. One ClientHello tells them apart.
      void probeSpeaksTls(target, Math.min(300, this.remaining() - 10), this.env.lookup).then((tls) => {
        if (this.finished) return;
        evidence.peerSpeaksTls = tls;
        this.attemptFailed(attempt, evidence, err.code);
      });
      return;
    }
    this.attemptFailed(attempt, evidence, err.code);
  }

  // ── failures and retries ───────────────────────────────────────────────────

  private attemptFailed(attempt: Attempt, evidence: Evidence, lowLevel: string | undefined): void {
    const { code, proxyStatus } = classify(evidence);
    const state = this.targetState!;
    this.up.report(state, this.verdict(code), failureReason(code, lowLevel));
    const rec = this.recordAttempt(attempt, code, evidence.phase, lowLevel);
    const limit = this.limitFor(code);
    if (limit !== undefined) rec.limitMs = limit;
    if (this.x.headersSent) {
      // The response is streaming: nothing can be retried or reported in-band.
      this.fail(code, evidence.phase, proxyStatus);
      return;
    }
    const condition = this.retryCondition(attempt, evidence, code);
    if (condition && this.canRetry(condition, this.safeToRepeat(condition))) {
      rec.retry = condition;
      if (condition === 'stale-connection') {
        // Connections idle as long as this one are likely closed by the backend too.
        state.pool.dropIdleOlderThan(Math.max(0, attempt.idleFor - 50));
        this.forceFresh = true;
      }
      this.retry(condition);
      return;
    }
    this.fail(code, evidence.phase, proxyStatus);
  }

  /** Whether a failed attempt counts against its target (a budget the client shortened does not). */
  private verdict(code: FailureCode): AttemptVerdict {
    return countsAgainstBackend(code, this.clientBudget) ? 'failure' : 'neutral';
  }

  /** Which configured retry condition, if any, this failure falls under. */
  private retryCondition(attempt: Attempt, e: Evidence, code: FailureCode): Condition | null {
    const answered = attempt.status !== 0 || attempt.bytesReceived !== 0;
    return retryCondition({ evidence: e, code, answered, reused: attempt.reused }, this.route.retryOn, this.up.targets.length, this.grpc ? this.route.retryGrpc : null);
  }

  private safeToRepeat(condition: Condition): boolean {
    const replayable = this.grpc?.replayable() === true;
    return safeToRepeat(condition, this.x.method, this.req.headers['idempotency-key'] !== undefined, this.bodyDispatched, { grpc: this.grpc !== null, replayable });
  }

  private canRetry(condition: Condition, safe: boolean): boolean {
    if (!safe) return false;
    // `attempts` counts tries in all. A status retry is decided before its attempt is recorded.
    const tries = this.records.length + (condition === 'status' ? 1 : 0);
    const budgetAllows = budgetExempt(condition) || this.up.retryAllowed(this.route.retries.budget);
    return mayRetry(condition, { tries, attempts: this.route.retries.attempts, remainingMs: this.remaining(), budgetAllows });
  }

  private retry(condition: Condition): void {
    this.leaveTarget(this.targetState!);
    const delay = backoffDelay(condition, this.records.length, this.route.retries.backoff, Math.random());
    if (delay >= this.remaining()) {
      const last = this.records[this.records.length - 1]!;
      this.fail(typeof last.outcome === 'string' ? last.outcome : 'GATEWAY_TIMEOUT', last.phase ?? 'budget');
      return;
    }
    if (delay < 1) {
      this.next();
      return;
    }
    this.waitTimer = setTimeout(() => {
      this.waitTimer = null;
      if (!this.finished) this.next();
    }, delay);
  }

  private limitFor(code: FailureCode): number | undefined {
    const t = this.route.timeouts;
    switch (code) {
      case 'UPSTREAM_CONNECT_TIMEOUT':
        return t.connect;
      case 'UPSTREAM_SEND_TIMEOUT':
        return t.send;
      case 'UPSTREAM_RESPONSE_TIMEOUT':
      case 'UPSTREAM_BODY_TIMEOUT':
        return t.read;
      case 'UPSTREAM_POOL_EXHAUSTED':
        return this.up.config.pool.queueTimeout;
      case 'GATEWAY_TIMEOUT':
        return Math.round(this.budget);
      case 'REQUEST_TOO_LARGE':
        return this.route.maxBodySize;
      default:
        return undefined;
    }
  }

  // ── ending ─────────────────────────────────────────────────────────────────

  private onBudget = (): void => {
    this.budgetTimer = null;
    if (this.finished) return;
    if (this.attempt && this.attempt.slot && !this.attempt.settled && this.attempt.phase !== 'dns' && this.attempt.phase !== 'connect') {
      this.attempt.abort('total');
      return;
    }
    if (this.attempt && !this.attempt.settled) this.recordAttempt(this.attempt, 'GATEWAY_TIMEOUT', this.attempt.phase).limitMs = Math.round(this.budget);
    this.fail('GATEWAY_TIMEOUT', 'budget');
  };

  private clientGone(): boolean {
    return this.x.gone;
  }

  private onClose = (): void => {
    if (this.finished) return;
    // The client went away mid-call: stop all work on its behalf.
    this.cancelLease?.();
    if (this.attempt && !this.attempt.settled) {
      this.attempt.abort('client');
      // An abort that settled the attempt at once already recorded it (onAttemptError).
      if (!this.attempt.settled) this.recordAttempt(this.attempt, 'CLIENT_CLOSED_REQUEST', this.attempt.phase);
    }
    this.finish(499, 'CLIENT_CLOSED_REQUEST');
  };

  /** Tells the breaker how the call went: a failure of the backend, a success, or no verdict. */
  private settleBreaker(status: number, code: FailureCode | null): void {
    const permit = this.permit;
    if (!permit) return;
    const breaker = this.up.breaker!;
    // A gRPC call that completed can still be the backend's failure: its grpc-status says so.
    const outcome = code === null && this.grpc?.backendFailed() ? 'failure' : breakerOutcome(status, code, this.clientBudget);
    if (outcome === 'release') breaker.release(permit);
    else breaker.record(permit, outcome === 'success');
  }

  private fail(code: FailureCode, phase: FailureReport['phase'], proxyStatus?: string): void {
    if (this.finished) return;
    if (this.clientGone()) {
      this.finish(499, 'CLIENT_CLOSED_REQUEST');
      return;
    }
    // A fallback's HTTP body would be no gRPC response: gRPC callers get the failure itself.
    if (fallbackMayAnswer(code) && !this.x.headersSent && !this.grpc && (this.x.rescue?.(this.x, code) || this.route.fallback?.answer(this.x, code))) {
      this.finish(this.x.res.statusCode, code);
      return;
    }
    this.finished = true;
    this.release(failure(code).status, code);
    this.x.attempts = this.records;
    this.x.bytesIn = this.bytesIn();
    if (this.grpc) this.x.grpc = this.grpc.callInfo(this.x.upstreamPath, code);
    this.x.fail(code, {
      proxyStatus,
      phase,
      target: this.lastTarget,
      context: {
        upstream: this.up.name,
        route: this.route.name,
        method: this.req.method,
        attempts: this.records.length,
        limit: this.limitFor(code),
      },
    });
  }

  private finish(status: number, code: FailureCode | null): void {
    if (this.finished) return;
    this.finished = true;
    const refused = code === 'CLIENT_CLOSED_REQUEST' ? refusedWith(this.x.res) : undefined;
    if (refused) {
      // The parser answered this exchange (a malformed chunk in its body): record what the client got.
      code = refused;
      status = failure(refused).status;
    }
    this.release(status, code);
    this.x.attempts = this.records;
    this.x.bytesIn = this.bytesIn();
    if (this.grpc) this.x.grpc = this.grpc.callInfo(this.x.upstreamPath, code);
    this.x.finish(status, code);
  }

  private bytesIn(): number {
    if (this.grpc) return this.grpc.bytesIn();
    return this.body instanceof BodyLimit ? this.body.seen : Number(this.req.headers['content-length'] ?? 0);
  }

  /** Gives back what the call held: timers, its lease, the counts of calls in flight, the breaker permit. */
  private release(status: number, code: FailureCode | null): void {
    this.settleBreaker(status, code);
    if (this.budgetTimer) clearTimeout(this.budgetTimer);
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.cancelLease?.();
    this.x.res.removeListener('drain', this.onDrain);
    const up = this.up;
    up.activeRequests--;
    if (this.retrying) up.activeRetries--;
    this.env.inflight.calls--;
  }
}
