/**
 * The primary process of `causeway start` with `workers: N > 1`. It serves no traffic itself:
 * node:cluster's primary accepts the connections and hands them to the workers in turn (Node 20
 * has no SO_REUSEPORT), and this primary
 *
 * - forks workers 1..N (worker.ts) and gives each the validated config and the shared state;
 * - restarts a worker that exits unexpectedly, under the same number (so a new worker 1 is the
 *   lead again), after a backoff that grows while restarts keep failing quickly: 100 ms,
 *   200 ms, … up to 10 s; a worker that lived 10 s resets it. Each exit and restart is logged;
 * - relays the bus (bus.ts), remembers the latest shared upstream state and recent events for
 *   workers that start later (shared-state.ts), and owns the rate-limit buckets and HMAC nonces
 *   (shared-stores.ts);
 * - on SIGTERM/SIGINT asks every worker to drain and stop, and exits once all are gone (a second
 *   signal kills them); on SIGHUP validates the file once and has every worker apply it.
 *
 * If a worker cannot start during startup (port in use, say), the others are stopped and
 * `causeway start` exits 1 with the worker's reason.
 */
import cluster, { type Worker } from 'node:cluster';
import { isDeepStrictEqual } from 'node:util';
import pino, { type Logger } from 'pino';
import { readReloadable } from '../admin/reload.js';
import type { Config } from '../config/schema.js';
import type { ReloadSummary } from '../gateway.js';
import { buildForStart, opening, startupLines } from '../startup.js';
import { openLogFile } from '../observe/access-log.js';
import { LEAD, PrimaryBus, type ReadyBody, type Reply } from './bus.js';
import { relayLines } from './output.js';
import { EventRing, StateMirror } from './shared-state.js';
import { StoreHost } from './shared-stores.js';
import { WORKER_ENV } from './worker.js';

export interface PrimaryOptions {
  file: string;
  config: Config;
  workers: number;
  /** Defaults to a logger on log.file, or on standard output shared with the workers' relayed lines. */
  logger?: Logger;
}

interface Slot {
  n: number;
  worker: Worker | null;
  pid: number;
  startedAt: number;
  ready: ReadyBody | null;
  /** Exits in a row that came soon after a start. */
  quickExits: number;
  restartTimer: NodeJS.Timeout | null;
  fatal: string | null;
}

/** A worker that lived this long before exiting is restarted at once (its backoff resets). */
const STABLE_MS = 10_000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 10_000;

class Primary {
  readonly bus = new PrimaryBus();
  readonly logger: Logger;
  private config: Config;
  private readonly file: string;
  private readonly slots: Slot[];
  private readonly mirror = new StateMirror();
  private readonly events = new EventRing(1000);
  private readonly stores: StoreHost;
  private readonly out: pino.DestinationStream & { write(s: string): unknown; flushSync?(): void };
  private started = false;
  private stopping = false;
  private onStarted: { resolve(): void; reject(e: Error): void } | null = null;
  private onStopped: (() => void) | null = null;
  /** Exits and restarts since start, for tests and the log. */
  restarts = 0;

  constructor(opts: PrimaryOptions) {
    this.config = opts.config;
    this.file = opts.file;
    // One writer for standard output: the primary's own lines and the workers' relayed ones.
    this.out = pino.destination({ dest: 1, sync: false }) as unknown as Primary['out'];
    this.logger =
      opts.logger ??
      pino(
        { level: opts.config.log.level, base: { service: 'causeway', role: 'primary' }, timestamp: pino.stdTimeFunctions.isoTime },
        opts.config.log.file ? pino.destination({ dest: opening('log.file', 'the log file', opts.config.log.file, () => openLogFile(opts.config.log.file!)), sync: false }) : this.out,
      );
    this.stores = new StoreHost(opts.config.auth.nonceCache);
    this.slots = Array.from({ length: opts.workers }, (_, i) => ({ n: i + 1, worker: null, pid: 0, startedAt: 0, ready: null, quickExits: 0, restartTimer: null, fatal: null }));
    this.wire();
  }

  private wire(): void {
    const bus = this.bus;
    bus.observe = (e) => {
      if (e.type === 'transition') this.mirror.record(e.body as Parameters<StateMirror['record']>[0]);
    };
    bus.on('init', (_b, from) => ({ config: this.config, file: this.file, state: this.mirror.snapshot(), events: from === LEAD ? this.events.list() : [] }));
    bus.on('ready', (body, from) => this.ready(from, body));
    bus.on('fatal', ({ message }, from) => {
      const s = this.slots[from - 1];
      if (s) s.fatal = message;
    });
    bus.on('event', (e, from) => {
      this.events.push(e);
      if (from !== LEAD) bus.send(LEAD, 'event', e);
    });
    bus.on('store', (ops) => this.stores.run(ops));
    bus.on('metrics', () => this.collect('metrics.local'));
    bus.on('upstreams', () => this.collect('upstreams.local'));
    bus.on('reloaded', ({ config }, from) => {
      // The lead's admin API applied it there; the others follow.
      this.adopt(config);
      for (const n of this.bus.slots) if (n !== from) this.bus.request(n, 'reload', { config }, 10_000).catch((err: Error) => this.logger.warn({ kind: 'lifecycle', worker: n, err: err.message }, `worker ${n} could not apply the reloaded config`));
    });
  }

  /** Forks every worker; resolves once all listen, rejects if one cannot start. */
  start(): Promise<void> {
    const pipeStdout = !this.config.log.file;
    cluster.setupPrimary({ serialization: 'advanced', stdio: ['ignore', pipeStdout ? 'pipe' : 'inherit', 'inherit', 'ipc'] });
    this.logger.info({ kind: 'lifecycle', workers: this.slots.length, pid: process.pid }, `starting ${this.slots.length} workers`);
    return new Promise<void>((resolve, reject) => {
      this.onStarted = { resolve, reject };
      for (const s of this.slots) this.fork(s);
    });
  }

  private fork(s: Slot): void {
    s.restartTimer = null;
    s.ready = null;
    s.fatal = null;
    const w = cluster.fork({ [WORKER_ENV]: String(s.n) });
    s.worker = w;
    s.pid = w.process.pid ?? 0;
    s.startedAt = Date.now();
    this.bus.attach(s.n, w);
    if (w.process.stdout) relayLines(w.process.stdout, this.out);
    w.once('exit', (code, signal) => this.exited(s, w, code, signal));
  }

  private ready(n: number, body: ReadyBody): void {
    const s = this.slots[n - 1];
    if (!s) return;
    if (this.stopping) {
      // It missed the stop: sent while it was still starting, before it listened for one (a
      // worker that failed at start stops the others). Now it listens: ask again.
      this.bus.send(n, 'stop', null);
      return;
    }
    s.ready = body;
    this.logger.info({ kind: 'lifecycle', worker: n, pid: body.pid, address: body.address, ...(body.admin ? { admin: body.admin } : {}) }, `worker ${n} (pid ${body.pid}) ready${n === LEAD ? ' (lead: admin API, health checks, alerts, call-log retention)' : ''}`);
    if (!this.started && this.slots.every((x) => x.ready)) {
      this.started = true;
      const admin = this.slots[0]!.ready!.admin;
      this.logger.info({ kind: 'lifecycle', workers: this.slots.length, address: body.address, admin }, `${this.slots.length} workers serving on ${body.address}`);
      // The lead worker has printed the dashboard's URL; the files are the primary's to name.
      for (const line of startupLines(this.file, this.config, admin ?? '')) if (!line.fields['admin']) this.logger.info({ kind: 'lifecycle', ...line.fields }, line.msg);
      this.onStarted?.resolve();
      this.onStarted = null;
    }
  }

  private exited(s: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (s.worker !== w) return;
    this.bus.detach(s.n);
    s.worker = null;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (this.stopping) {
      this.logger.info({ kind: 'lifecycle', worker: s.n, pid: s.pid, code, signal }, `worker ${s.n} (pid ${s.pid}) stopped`);
      if (this.slots.every((x) => !x.worker)) this.onStopped?.();
      return;
    }
    if (!this.started) {
      // Startup failed: the same cause would stop every restart (a port in use, a bad file).
      const why = s.fatal ?? `exited with ${how} before it was ready`;
      this.onStarted?.reject(new Error(`worker ${s.n} could not start: ${why}`));
      this.onStarted = null;
      void this.stop();
      return;
    }
    const lived = Date.now() - s.startedAt;
    s.quickExits = lived >= STABLE_MS ? 0 : s.quickExits + 1;
    const delay = s.quickExits === 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (s.quickExits - 1));
    this.restarts++;
    this.logger.warn(
      { kind: 'lifecycle', worker: s.n, pid: s.pid, code, signal, livedMs: lived, restartInMs: delay, ...(s.fatal ? { reason: s.fatal } : {}) },
      `worker ${s.n} (pid ${s.pid}) exited with ${how} after ${Math.round(lived / 1000)} s; restarting it${delay ? ` in ${delay} ms` : ''}${s.n === LEAD ? ' (the lead: admin API and health checks resume when it is back)' : ''}`,
    );
    s.restartTimer = setTimeout(() => {
      if (!this.stopping) this.fork(s);
    }, delay);
  }

  /** Every live worker's answer (metrics, upstream stats), the lead's first; a worker that does not answer in 3 s is left out. */
  private async collect<K extends 'metrics.local' | 'upstreams.local'>(type: K): Promise<Array<Reply<K>>> {
    const answers = await Promise.allSettled(this.bus.slots.map((n) => this.bus.request(n, type, null, 3000)));
    return answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
  }

  /** Takes a new config: upstreams it changed or removed start afresh, so their remembered state goes. */
  private adopt(next: Config): void {
    for (const [name, u] of Object.entries(this.config.upstreams)) if (!isDeepStrictEqual(u, next.upstreams[name])) this.mirror.forget(name);
    this.config = next;
  }

  /** SIGHUP: validates the file once; every worker applies it. Resolves with a line for the operator. */
  async reload(): Promise<string> {
    const read = readReloadable(this.file);
    if (!read.ok) {
      this.bus.send(LEAD, 'reload.failed', { file: this.file, problems: read.problems.length });
      return `SIGHUP: ${this.file} is invalid; the running config stays:\n${read.lines.join('\n')}`;
    }
    this.adopt(read.config);
    const results = await Promise.allSettled(this.bus.slots.map((n) => this.bus.request(n, 'reload', { config: read.config }, 10_000)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`worker ${this.bus.slots[i]}: ${(r.reason as Error).message}`] : []));
    const s = results.find((r): r is PromiseFulfilledResult<ReloadSummary> => r.status === 'fulfilled')?.value;
    if (!s) return `SIGHUP: no worker applied ${this.file}: ${failed.join('; ')}`;
    return (
      `SIGHUP: reloaded ${this.file} in ${results.length - failed.length} of ${results.length} workers: ${s.routes} routes; upstreams changed [${s.changed.join(', ')}], added [${s.added.join(', ')}], removed [${s.removed.join(', ')}]` +
      (s.restartRequired.length ? `; a restart is needed to apply ${s.restartRequired.join(', ')}` : '') +
      (failed.length ? `; failed: ${failed.join('; ')}` : '')
    );
  }

  /**
   * Asks every worker to drain and stop; resolves when all have exited. Workers still running
   * `server.shutdownTimeout` + 5 s later are killed.
   */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      for (const s of this.slots) if (s.restartTimer) clearTimeout(s.restartTimer);
      this.logger.info({ kind: 'lifecycle', workers: this.bus.slots.length }, 'stopping: every worker drains its in-flight requests');
      for (const n of this.bus.slots) this.bus.send(n, 'stop', null);
      const guard = setTimeout(() => this.kill(), this.config.server.shutdownTimeout + 5000);
      guard.unref();
    }
    if (this.slots.every((s) => !s.worker)) return Promise.resolve();
    return new Promise((resolve) => {
      const prev = this.onStopped;
      this.onStopped = () => {
        prev?.();
        resolve();
      };
    });
  }

  /** Kills every worker at once (a second stop signal). */
  kill(): void {
    for (const s of this.slots) s.worker?.process.kill('SIGKILL');
  }

  /** Writes what the primary still holds for standard output. */
  flush(): void {
    try {
      this.out.flushSync?.();
    } catch {
      /* nothing buffered, or stdout is gone */
    }
  }

  /** The workers, for the log and tests. */
  workers(): Array<{ worker: number; pid: number; ready: boolean }> {
    return this.slots.map((s) => ({ worker: s.n, pid: s.pid, ready: s.ready !== null }));
  }
}

/** `causeway start` with several workers: runs until SIGTERM/SIGINT; returns -1 (running) or 1 (could not start). */
export async function runPrimary(opts: PrimaryOptions): Promise<number> {
  const primary = buildForStart(() => new Primary(opts), opts.file, opts.config);
  if (!primary) return 1;
  try {
    await primary.start();
  } catch (err) {
    primary.flush();
    console.error(`causeway start: ${(err as Error).message}`);
    return 1;
  }
  let stops = 0;
  const onStop = (sig: string) => {
    if (++stops > 1) {
      primary.kill();
      process.exit(1);
    }
    process.stderr.write(`\n${sig}: stopping gracefully (every worker finishes its in-flight requests; ${sig} again forces)\n`);
    void primary.stop().then(() => {
      primary.logger.info({ kind: 'lifecycle' }, 'gateway stopped');
      primary.logger.flush();
      primary.flush();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGHUP', () => {
    void primary.reload().then((line) => process.stderr.write(`${line}\n`));
  });
  // Never leave workers behind, whatever ends this process.
  process.on('exit', () => primary.kill());
  return -1;
}
