/**
 * `causeway doctor`: the seeds' "bypass the gateway" test, automated. Probes a backend directly,
 * step by step — DNS, TCP, TLS (or a check that an http:// port does not speak TLS), one HTTP
 * request — timing each step and stopping at the first that fails, with the failure code the
 * gateway would give (same classifier) and its fix. With a config it also calls through the
 * gateway and says which side the problem is on.
 *
 *   const report = await runDoctor({ target: 'orders', config, lookup });   // or a URL
 *   console.log(formatDoctor(report));
 */
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Config, RouteConfig } from '../config/schema.js';
import { classify, type Phase } from '../failures/classify.js';
import { lowLevelMeaning } from '../failures/low-level.js';
import { failure, type FailureCode, type Side } from '../failures/registry.js';
import { openConnection, probeSpeaksTls, type LookupFn } from '../upstream/connector.js';
import { effectiveTimeouts } from '../upstream/policy.js';
import { parseTarget, type Target } from '../upstream/target.js';
import { GRPC_HEALTH_PATH, GRPC_HEALTH_REQUEST, healthVerdict } from '../grpc/health.js';

export interface DoctorStep {
  /** `h2`: the HTTP/2 preface and SETTINGS; `grpc`: the standard gRPC health service (h2c/h2 targets). */
  step: 'dns' | 'tcp' | 'tls' | 'http' | 'h2' | 'grpc';
  ok: boolean;
  ms: number;
  detail: string;
}

export interface TargetReport {
  url: string;
  target: string;
  steps: DoctorStep[];
  ok: boolean;
  /** The failure code of the first failing step (what the gateway would answer). */
  code: FailureCode | null;
  fix: string | null;
  /** HTTP status the backend answered, when it did. */
  status: number | null;
  /** Notes that are not failures: a backend slower than the configured read timeout. */
  warnings: string[];
  /** `ok`; `slow` (answers, but near or over the configured read); `down` (no connection); `failing` (connects, no good answer). */
  verdict: 'ok' | 'slow' | 'down' | 'failing';
  /** Who has to act for this target; `undetermined` when the evidence cannot tell (docs/diagnose.md). */
  side: Side | 'none' | 'undetermined';
  /** Why that side, in words: the evidence it was decided on. */
  evidence: string | null;
  /** The low-level error of the failing step (errno, OpenSSL code), when there was one. */
  error: string | null;
}

export interface UpstreamSummary {
  down: string[];
  failing: string[];
  slow: string[];
  ok: string[];
  /** Whether the gateway hides the failing targets by retrying on the others (null: not applicable). */
  masked: boolean | null;
  sentence: string;
}

export interface GatewayCheck {
  url: string;
  route: string;
  reachable: boolean;
  status: number | null;
  code: string | null;
  ms: number;
  requestId: string;
  detail: string;
}

export interface DoctorReport {
  target: string;
  upstream: string | null;
  targets: TargetReport[];
  gateway: GatewayCheck | null;
  /** The upstream as a whole: which targets are down, failing, slow, and whether retries hide it. */
  summary: UpstreamSummary;
  /** Where the problem is: none, the backend, the network path, the gateway (its config), or not decidable from the evidence. */
  side: 'none' | 'backend' | 'network' | 'gateway' | 'client' | 'undetermined';
  verdict: string;
}

export interface DoctorOptions {
  /** An upstream name of `config`, or a URL. */
  target: string;
  config?: Config;
  /** Replaces the system resolver (tests). */
  lookup?: LookupFn;
  /** Connect (DNS + TCP + TLS) limit in ms; default the upstream's `connect`, else 3 s. */
  connectTimeout?: number;
  /** Wait for response headers in ms; default twice the route's `read`, at least 10 s. */
  readTimeout?: number;
  /** Also call through the gateway (needs `config`); default true with a config. */
  viaGateway?: boolean;
}

const systemLookup: LookupFn = (host, cb) => dns.lookup(host, { all: false }, (err, address, family) => cb(err, address, family));
const round = (ms: number) => Math.round(ms * 10) / 10;
const STEP_OF: Record<'dns' | 'connect' | 'tls', DoctorStep['step']> = { dns: 'dns', connect: 'tcp', tls: 'tls' };

/** A concrete request path for a route's match pattern (`/api/orders/*` → `/api/orders/`). */
function samplePath(pattern: string): string {
  return pattern.replace(/\*$/, '').replace(/:[A-Za-z0-9_]+/g, 'doctor') || '/';
}

function failed(report: TargetReport, step: DoctorStep['step'], ms: number, code: FailureCode, detail: string, side: Side, error?: string): TargetReport {
  report.steps.push({ step, ok: false, ms: round(ms), detail });
  report.code = code;
  report.fix = failure(code).remedy;
  report.side = side;
  report.error = error ?? null;
  report.verdict = step === 'http' ? 'failing' : 'down';
  return report;
}

/** Opens DNS/TCP/TLS to a target, reporting each step. Resolves with the socket when all passed. */
function connectSteps(t: Target, report: TargetReport, opts: { timeout: number; lookup: LookupFn; tls?: Config['upstreams'][string]['tls'] }): Promise<Socket | null> {
  let address = '';
  const lookup: LookupFn = (host, cb) =>
    opts.lookup(host, (err, addr, family) => {
      address = addr ?? '';
      cb(err, addr, family);
    });
  return new Promise((resolve) => {
    const tls = opts.tls ? { rejectUnauthorized: opts.tls.rejectUnauthorized, servername: opts.tls.servername, ca: opts.tls.ca === undefined ? undefined : readFileSync(opts.tls.ca) } : undefined;
    openConnection(t, { timeout: opts.timeout, lookup, tls }, (fail, socket, timings) => {
      const order: Array<'dns' | 'connect' | 'tls'> = [...(t.literal ? [] : (['dns'] as const)), 'connect', ...(t.tls ? (['tls'] as const) : [])];
      for (const phase of order) {
        if (fail && fail.phase === phase) {
          const { code, side } = classify({ phase: phase as Phase, errorCode: fail.errorCode, timeout: fail.timeout ? 'phase' : undefined, tls: t.tls });
          const why = fail.timeout ? fail.message : `${fail.errorCode}: ${fail.message}`;
          failed(report, STEP_OF[phase], timings[phase], code, why, side, fail.timeout ? undefined : fail.errorCode);
          if (!fail.timeout) report.evidence = lowLevelMeaning(fail.errorCode, phase as Phase)?.says ?? null;
          return resolve(null);
        }
        const detail = phase === 'dns' ? `${t.hostname} → ${address}` : phase === 'connect' ? `connected to ${t.id}` : 'handshake complete, certificate accepted';
        report.steps.push({ step: STEP_OF[phase], ok: true, ms: round(timings[phase]), detail });
      }
      resolve(socket);
    });
  });
}

/** Sends one GET over the socket and reads the response head. */
function httpStep(socket: Socket, t: Target, path: string, readTimeout: number): Promise<{ status?: number; errorCode?: string; timeout?: boolean; bytes: number; ms: number; data?: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let buf = '';
    let done = false;
    const finish = (r: { status?: number; errorCode?: string; timeout?: boolean }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...r, bytes: buf.length, ms: performance.now() - t0, data: buf.slice(0, 2) });
    };
    const timer = setTimeout(() => finish({ errorCode: 'ETIMEDOUT', timeout: true }), readTimeout);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buf += d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0 && buf.length < 64 * 1024) return;
      const m = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?\r\n/.exec(buf);
      finish(m && end >= 0 ? { status: Number(m[1]) } : { errorCode: 'HPE_INVALID_RESPONSE' });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ errorCode: err.code ?? 'ECONNRESET' }));
    socket.on('end', () => finish({ errorCode: 'UND_ERR_SOCKET' }));
    socket.write(`GET ${t.basePath}${path} HTTP/1.1\r\nHost: ${t.hostHeader}\r\nUser-Agent: causeway-doctor\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
  });
}

/** Probes one target URL step by step. */
async function probeTarget(url: string, opts: { path: string; connectTimeout: number; readTimeout: number; lookup?: LookupFn; tls?: Config['upstreams'][string]['tls'] }): Promise<TargetReport> {
  const t = parseTarget(url);
  const report: TargetReport = { url, target: t.id, steps: [], ok: false, code: null, fix: null, status: null, warnings: [], verdict: 'ok', side: 'none', evidence: null, error: null };
  const lookup = opts.lookup ?? systemLookup;
  const socket = await connectSteps(t, report, { timeout: opts.connectTimeout, lookup, tls: opts.tls });
  if (!socket) return report;
  if (t.h2) return h2Steps(socket, t, report, opts);
  const r = await httpStep(socket, t, opts.path, opts.readTimeout);
  if (r.status !== undefined) {
    report.steps.push({ step: 'http', ok: true, ms: round(r.ms), detail: `GET ${opts.path} → ${r.status}` });
    report.ok = true;
    report.status = r.status;
    return report;
  }
  // Closed without a byte on plain http: a TLS port behind an http:// URL, or a backend that hung up.
  const looksTls = !!r.data && (r.data.charCodeAt(0) === 0x15 || r.data.charCodeAt(0) === 0x16) && r.data.charCodeAt(1) === 0x03;
  const peerSpeaksTls = !t.tls && (looksTls || (r.bytes === 0 && !r.timeout && (await probeSpeaksTls(t, Math.min(1000, opts.connectTimeout), lookup))));
  const errorCode = looksTls ? 'HPE_INVALID_CONSTANT' : r.errorCode;
  const { code, side } = classify({ phase: 'ttfb', errorCode, timeout: r.timeout ? 'phase' : undefined, tls: t.tls, peerSpeaksTls });
  const detail = peerSpeaksTls
    ? `the port answers TLS: it needs https://${t.hostHeader}, not http://`
    : r.timeout
      ? `no response headers within ${opts.readTimeout} ms`
      : `${r.errorCode} after ${r.bytes} response bytes`;
  failed(report, 'http', r.ms, code, detail, side, r.timeout ? undefined : errorCode);
  if (!r.timeout && errorCode && !peerSpeaksTls) report.evidence = lowLevelMeaning(errorCode, 'ttfb')?.says ?? null;
  return report;
}

/** The first of `ports` on `host` that answers a TCP handshake (accepts or refuses) within `timeout`, or null. */
async function answeringPort(host: string, ports: number[], timeout: number): Promise<number | null> {
  for (const port of ports) {
    const answered = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      const done = (ok: boolean) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeout);
      socket.once('connect', () => done(true));
      socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
    });
    if (answered) return port;
  }
  return null;
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;

/**
 * Decides the side of a connect timeout by what else the host does: a host that answers on
 * another port (or is this machine) is up, so this port's packets are dropped (filtered) or its
 * listener's accept queue is full; with no other evidence the causes cannot be told apart.
 */
async function sideOfConnectTimeout(r: TargetReport, siblings: number[], timeout: number): Promise<void> {
  const t = parseTarget(r.url);
  if (LOOPBACK.test(t.hostname)) {
    r.side = 'network';
    r.evidence = `${t.hostname} is this machine, so the host is up: packets to port ${t.port} are dropped (a firewall DROP rule — filtered), or the backend's accept queue is full; a handshake timeout cannot tell the two apart`;
    return;
  }
  const port = await answeringPort(t.hostname, siblings.filter((p) => p !== t.port), Math.min(timeout, 1000));
  if (port !== null) {
    r.side = 'network';
    r.evidence = `the host answers a TCP handshake on port ${port} but not on ${t.port}: packets to port ${t.port} are dropped (filtered by a firewall or security group), or the backend's accept queue is full`;
  } else {
    r.side = 'undetermined';
    r.evidence = `no TCP handshake completed${siblings.length > 1 ? ' on any known port of the host' : ''}: a dead host, or packets dropped on the way — the evidence cannot tell which`;
  }
}

/**
 * An HTTP/2 target after its connection: the preface answered by the backend's SETTINGS (the
 * gateway's own connect does the same), then grpc.health.v1.Health/Check where the backend has it.
 */
async function h2Steps(socket: Socket, t: Target, report: TargetReport, opts: { connectTimeout: number; readTimeout: number }): Promise<TargetReport> {
  const t0 = performance.now();
  const session = http2.connect(t.origin, { createConnection: () => socket, settings: { enablePush: false } });
  session.on('error', () => undefined);
  try {
    const settings = await new Promise<http2.Settings | 'timeout' | 'closed'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), opts.connectTimeout);
      session.once('remoteSettings', (x) => (clearTimeout(timer), resolve(x)));
      session.once('close', () => (clearTimeout(timer), resolve('closed')));
    });
    const ms = performance.now() - t0;
    if (settings === 'timeout') return failed(report, 'h2', ms, 'UPSTREAM_CONNECT_TIMEOUT', `no HTTP/2 SETTINGS within ${opts.connectTimeout} ms: the port does not speak HTTP/2 (or is stuck)`, failure('UPSTREAM_CONNECT_TIMEOUT').side);
    if (settings === 'closed') {
      // What the pool names CAUSEWAY_NOT_H2 (src/failures/low-level.ts): the backend's port speaks something else.
      const k = classify({ phase: 'connect', errorCode: 'CAUSEWAY_NOT_H2', tls: t.tls });
      return failed(report, 'h2', ms, k.code, `the port closed the connection instead of answering the HTTP/2 preface: it does not speak ${t.tls ? 'h2' : 'h2c'}`, k.side, 'CAUSEWAY_NOT_H2');
    }
    const max = settings.maxConcurrentStreams;
    report.steps.push({ step: 'h2', ok: true, ms: round(ms), detail: `HTTP/2 preface answered with SETTINGS (max concurrent streams ${max === undefined || max >= 2 ** 31 ? 'unlimited' : max})` });
    const t1 = performance.now();
    const r = await new Promise<{ status: number; grpc?: string; body: Buffer } | { error: string; timeout: boolean }>((resolve) => {
      const req = session.request({ ':method': 'POST', ':path': t.basePath + GRPC_HEALTH_PATH, 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'causeway-doctor' });
      const chunks: Buffer[] = [];
      let status = 0;
      let grpc: string | undefined;
      const timer = setTimeout(() => (req.close(http2.constants.NGHTTP2_CANCEL), resolve({ error: 'ETIMEDOUT', timeout: true })), opts.readTimeout);
      req.on('response', (h) => {
        status = Number(h[':status']);
        if (h['grpc-status'] !== undefined) grpc = String(h['grpc-status']);
      });
      req.on('trailers', (h) => {
        if (h['grpc-status'] !== undefined) grpc = String(h['grpc-status']);
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', () => undefined);
      req.on('close', () => {
        clearTimeout(timer);
        if (status === 0) resolve({ error: req.rstCode ? `H2_RST_${req.rstCode}` : 'H2_SESSION_CLOSED', timeout: false });
        else resolve({ status, grpc, body: Buffer.concat(chunks) });
      });
      req.end(GRPC_HEALTH_REQUEST);
    });
    const ms1 = performance.now() - t1;
    if ('error' in r) {
      const { code, side } = classify({ phase: 'ttfb', errorCode: r.error, timeout: r.timeout ? 'phase' : undefined, tls: t.tls });
      return failed(report, 'grpc', ms1, code, r.timeout ? `no answer to ${GRPC_HEALTH_PATH} within ${opts.readTimeout} ms` : `${GRPC_HEALTH_PATH}: ${r.error}`, side, r.timeout ? undefined : r.error);
    }
    report.ok = true;
    report.status = r.status;
    const v = healthVerdict(r.grpc, r.body);
    if (r.status !== 200 || v.status === 'UNIMPLEMENTED') {
      report.steps.push({ step: 'grpc', ok: true, ms: round(ms1), detail: `the backend does not implement grpc.health.v1.Health (${r.status !== 200 ? `HTTP ${r.status}` : 'UNIMPLEMENTED'}): HTTP/2 checked only` });
    } else {
      report.steps.push({ step: 'grpc', ok: v.serving, ms: round(ms1), detail: `${GRPC_HEALTH_PATH} → ${v.status}` });
      if (!v.serving) report.warnings.push(`${report.target} answers HTTP/2 but its gRPC health service says ${v.status}`);
    }
    return report;
  } finally {
    session.destroy();
  }
}

interface Plan {
  upstream: string | null;
  urls: string[];
  route: RouteConfig | null;
  connect: number;
  /** How long the direct probe waits for response headers. */
  read: number;
  /** The route's configured read timeout, when a config names the upstream. */
  configuredRead: number | null;
  path: string;
  tls?: Config['upstreams'][string]['tls'];
  /** The upstream's retry settings, when a config names it. */
  retries: { attempts: number; on: readonly string[] } | null;
  /** Other ports the config knows on the host of `url` (evidence that the host is up). */
  siblingPorts(url: string): number[];
}

/** scheme://host:port of a target URL (URL.origin is "null" for h2c:// and h2://). */
const originOf = (url: string) => {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
};

function plan(opts: DoctorOptions): Plan {
  const cfg = opts.config;
  const isUrl = /^(https?|h2c?):\/\//i.test(opts.target);
  let name: string | null = null;
  if (!isUrl) {
    if (!cfg) throw new Error(`"${opts.target}" is not a URL; naming an upstream needs a config (-c FILE)`);
    if (!cfg.upstreams[opts.target]) throw new Error(`no upstream "${opts.target}" in the config (upstreams: ${Object.keys(cfg.upstreams).join(', ')})`);
    name = opts.target;
  } else if (cfg) {
    const origin = originOf(opts.target);
    name = Object.entries(cfg.upstreams).find(([, u]) => u.targets.some((t) => originOf(t.url) === origin))?.[0] ?? null;
  }
  const u = name ? cfg!.upstreams[name]! : undefined;
  const route = name ? (cfg!.routes.find((r) => r.upstream === name && (!r.match.methods || r.match.methods.includes('GET'))) ?? null) : null;
  const t = u ? effectiveTimeouts(u.timeouts, route?.timeouts) : undefined;
  const health = (u as { healthCheck?: { active?: { path?: string } } } | undefined)?.healthCheck?.active?.path;
  const path = isUrl ? new URL(opts.target).pathname + new URL(opts.target).search : (health ?? '/');
  return {
    upstream: name,
    urls: isUrl ? [originOf(opts.target)] : u!.targets.map((x) => x.url),
    route,
    connect: opts.connectTimeout ?? t?.connect ?? 3000,
    // Wait longer than the gateway would, to tell "slow" from "never answers".
    read: opts.readTimeout ?? Math.min(60_000, Math.max(10_000, 2 * (t?.read ?? 0))),
    configuredRead: t?.read ?? null,
    path,
    tls: u?.tls,
    retries: u ? { attempts: u.retries.attempts, on: u.retries.on.map(String) } : null,
    siblingPorts(url) {
      const host = parseTarget(url).hostname;
      const all = cfg ? Object.values(cfg.upstreams).flatMap((x) => x.targets.map((t) => parseTarget(t.url))) : [];
      return [...new Set(all.filter((t) => t.hostname === host).map((t) => t.port))];
    },
  };
}

/** One GET through the gateway on a route to the upstream. */
function viaGateway(cfg: Config, route: RouteConfig, timeout: number): Promise<GatewayCheck> {
  // A plain listener when there is one; a TLS one is asked over https without checking its certificate.
  const l = cfg.listen.find((x) => !x.tls) ?? cfg.listen[0]!;
  const host = l.host === '0.0.0.0' ? '127.0.0.1' : l.host === '::' ? '::1' : l.host;
  const path = samplePath(route.match.path);
  const requestId = `doctor-${randomBytes(6).toString('hex')}`;
  const url = `${l.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${l.port}${path}`;
  const headers: Record<string, string> = { 'x-request-id': requestId, 'user-agent': 'causeway-doctor' };
  if (route.match.host) headers['host'] = route.match.host.replace(/^\*\./, 'doctor.');
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = (l.tls ? https : http).get(url, { headers, agent: false, timeout, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => {
        const code = (res.headers['x-causeway-error'] as string | undefined) ?? null;
        resolve({ url, route: route.name, reachable: true, status: res.statusCode ?? null, code, ms: round(performance.now() - t0), requestId, detail: `GET ${path} → ${res.statusCode}${code ? ` ${code}` : ''}` });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeout} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ url, route: route.name, reachable: false, status: null, code: null, ms: round(performance.now() - t0), requestId, detail: `the gateway at ${url} did not answer (${err.code ?? err.message})` }),
    );
  });
}

/** The upstream as a whole, from the per-target reports and its retry settings. */
function summarise(targets: TargetReport[], p: Plan): UpstreamSummary {
  const ids = (v: TargetReport['verdict']) => targets.filter((t) => t.verdict === v).map((t) => t.target);
  const down = ids('down');
  const failing = ids('failing');
  const slow = ids('slow');
  const ok = ids('ok');
  const bad = down.length + failing.length;
  const retries = p.retries;
  let masked: boolean | null = null;
  const parts: string[] = [];
  if (bad === 0) parts.push(`all ${targets.length} target(s) answer${slow.length ? `; slow against read (${p.configuredRead} ms): ${slow.join(', ')}` : ''}`);
  else {
    if (down.length) parts.push(`down: ${down.join(', ')}`);
    if (failing.length) parts.push(`connect but fail: ${failing.join(', ')}`);
    if (slow.length) parts.push(`slow against read (${p.configuredRead} ms): ${slow.join(', ')}`);
    const healthy = ok.length + slow.length;
    if (healthy === 0) parts.push('no target answers: every call fails');
    else if (retries) {
      const onConnect = retries.on.includes('connect-failure');
      masked = retries.attempts > 1 && (down.length > 0 ? onConnect : retries.on.includes('reset') || retries.on.includes('stale-connection'));
      parts.push(
        masked
          ? `${healthy} of ${targets.length} target(s) work, and the gateway retries (${retries.attempts} attempts on ${retries.on.join(', ')}): calls that hit a broken target are retried on another, so clients see mostly successes while the broken target(s) cost every such call an extra attempt`
          : `${healthy} of ${targets.length} target(s) work, and the gateway does not retry these failures: about ${Math.round((100 * bad) / targets.length)}% of calls fail until the broken target(s) are fixed or ejected`,
      );
    }
  }
  return { down, failing, slow, ok, masked, sentence: `${parts.join('; ')}.` };
}

function judge(targets: TargetReport[], gw: GatewayCheck | null, p: Plan, summary: UpstreamSummary): Pick<DoctorReport, 'side' | 'verdict'> {
  const bad = targets.filter((t) => !t.ok);
  const slow = targets.flatMap((t) => t.warnings);
  const direct = bad.length === 0 ? 'every target answers directly' : `${bad.length} of ${targets.length} target(s) fail directly (${[...new Set(bad.map((t) => t.code))].join(', ')})`;
  const note = gw && !gw.reachable ? ` ${gw.detail}; only the direct probe ran.` : '';
  // The side of the upstream is the side of its broken targets when they agree.
  const sides = [...new Set(bad.map((t) => t.side))];
  const badSide = (sides.length === 1 ? sides[0] : 'undetermined') as DoctorReport['side'];
  const perTarget = bad.map((t) => `${t.target}: ${t.code}${t.evidence ? ` — ${t.evidence}` : ''}`).join('; ');
  if (!gw || !gw.reachable) {
    if (bad.length === 0) return { side: 'none', verdict: `The backend is reachable: ${direct}.${slow.length ? ` But: ${slow.join('; ')}.` : ''}${note}` };
    return { side: badSide, verdict: `${direct}. ${perTarget}. ${summary.sentence} Fix: ${bad[0]!.fix}${note}` };
  }
  if (bad.length === 0 && !gw.code) return { side: 'none', verdict: `Both work: ${direct}, and through the gateway (route ${gw.route}) ${gw.detail} in ${gw.ms} ms.` };
  if (bad.length > 0 && bad.length < targets.length && !gw.code) {
    return { side: badSide, verdict: `${direct}: ${perTarget}. Through the gateway the call succeeded (${gw.detail}): ${summary.sentence} Fix: ${bad[0]!.fix}` };
  }
  if (bad.length > 0 && gw.code) {
    return { side: badSide, verdict: `The backend fails with or without the gateway: ${direct}; through the gateway ${gw.code}. ${perTarget}. Fix: ${bad[0]!.fix}` };
  }
  if (bad.length === 0 && gw.code) {
    const def = failure(gw.code as FailureCode);
    const slowNote = slow.length ? ` (${slow.join('; ')})` : '';
    return {
      side: 'gateway',
      verdict: `The backend answers directly, but through the gateway (route ${p.route?.name}) it fails with ${gw.code}${slowNote}: the gateway's settings or its own path to the backend are the problem. Fix: ${def?.remedy ?? 'see docs/errors.md'}`,
    };
  }
  // Every target fails from here, yet the gateway's call succeeded: the two machines see different networks.
  return { side: 'network', verdict: `The gateway reaches the backend (${gw.detail}) but this machine cannot: ${direct}. ${perTarget}. The failure is in the network path from here (DNS, firewall, routing), not in the backend or the gateway.` };
}

/** Runs the probes (and the gateway comparison when a config names the upstream). */
export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const p = plan(opts);
  const targets: TargetReport[] = [];
  for (const url of p.urls) {
    const r = await probeTarget(url, { path: p.path, connectTimeout: p.connect, readTimeout: p.read, lookup: opts.lookup, tls: p.tls });
    const http = r.steps.find((s) => s.step === 'http');
    const read = p.configuredRead;
    if (r.ok && http && read !== null && http.ms > read * 0.8) {
      r.warnings.push(`${r.target} took ${http.ms} ms to answer, ${http.ms > read ? 'over' : 'close to'} the read timeout of ${read} ms`);
      r.verdict = 'slow';
      r.side = 'backend';
      r.evidence = `answers in ${http.ms} ms against a configured read of ${read} ms`;
    }
    if (r.code === 'UPSTREAM_CONNECT_TIMEOUT') await sideOfConnectTimeout(r, p.siblingPorts(r.url), p.connect);
    targets.push(r);
  }
  const summary = summarise(targets, p);
  const gw = opts.config && p.route && opts.viaGateway !== false ? await viaGateway(opts.config, p.route, effectiveTimeouts(opts.config.upstreams[p.upstream!]!.timeouts, p.route.timeouts).total + 2000) : null;
  return { target: opts.target, upstream: p.upstream, targets, gateway: gw, summary, ...judge(targets, gw, p, summary) };
}

/** The report as `causeway doctor` prints it. */
export function formatDoctor(r: DoctorReport): string {
  const lines: string[] = [`doctor ${r.target}${r.upstream && r.upstream !== r.target ? ` (upstream ${r.upstream})` : ''}`];
  for (const t of r.targets) {
    lines.push('', `${t.url}  (direct, bypassing the gateway)`);
    for (const s of t.steps) lines.push(`  ${s.ok ? '✓' : '✗'} ${s.step.padEnd(4)} ${String(s.ms).padStart(8)} ms  ${s.detail}`);
    lines.push(`  verdict: ${t.verdict}${t.side !== 'none' ? `; side: ${t.side}` : ''}`);
    if (t.code) lines.push(`  → ${t.code}: ${failure(t.code).title}`);
    if (t.evidence) lines.push(`    why: ${t.evidence}`);
    if (t.code) lines.push(`    fix: ${t.fix}`);
    for (const w of t.warnings) lines.push(`  ! ${w}`);
  }
  if (r.upstream) lines.push('', `upstream ${r.upstream}: ${r.summary.sentence}`);
  if (r.gateway) lines.push('', `through the gateway: ${r.gateway.detail}${r.gateway.reachable ? ` in ${r.gateway.ms} ms (request id ${r.gateway.requestId})` : ''}`);
  lines.push('', `${r.side === 'none' ? 'OK' : `problem side: ${r.side}`} — ${r.verdict}`);
  return lines.join('\n');
}
