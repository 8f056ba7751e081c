/**
 * One worker process of `causeway start` with `workers: N > 1` (forked by primary.ts). It runs a
 * whole data plane — its own connections, pools, balancers, retry budget — and shares with the
 * other workers, over the bus:
 *
 * - upstream state: each local ejection, return, health verdict and breaker transition is sent
 *   to the others, which apply it silently (no echo: an applied change is never re-sent);
 * - rate limits and HMAC nonces: decided by the primary (shared-stores.ts);
 * - events: sent to the primary, which keeps the recent ones and passes them to the lead;
 * - consumers changed through the admin API: the others re-read them from the shared file.
 *
 * The lead (worker 1) also serves the admin API and dashboard (with /metrics summed over every
 * worker), runs the active health checks, the alerts and the call-log retention. The call log
 * itself is one SQLite file that every worker's writer thread appends to.
 */
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { AdminServer, baseUrl } from '../admin/server.js';
import type { Config } from '../config/schema.js';
import { Gateway } from '../gateway.js';
import { dataListenFailure, listenFailure, opening, startupFailure } from '../startup.js';
import { createLogger } from '../observe/access-log.js';
import { LEAD, WorkerBus, type InitReply } from './bus.js';
import { aggregateMetrics } from './metrics.js';
import { StoreClient } from './shared-stores.js';
import { mergeUpstreamStats } from './stats.js';

/** The environment variable that carries a worker's number (1..N). */
export const WORKER_ENV = 'CAUSEWAY_WORKER';

/** Runs this process as worker `process.env.CAUSEWAY_WORKER`; resolves -1 (keep running) or an exit status. */
export async function runWorker(): Promise<number> {
  const slot = Number(process.env[WORKER_ENV]);
  const lead = slot === LEAD;
  const bus = new WorkerBus(slot);
  // The primary coordinates Ctrl-C and SIGHUP (a terminal sends them to the whole process group).
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);

  let init: InitReply;
  try {
    init = await bus.request('primary', 'init', { pid: process.pid }, 30_000);
  } catch (err) {
    process.stderr.write(`causeway worker ${slot}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const config: Config = init.config;
  const stores = new StoreClient(bus, config.auth.nonceCache);
  let logger: Logger;
  let gateway: Gateway;
  try {
    logger = opening('log.file', 'the log file', config.log.file ?? '', () => createLogger({ level: config.log.level, file: config.log.file })).child({ worker: slot });
    gateway = new Gateway(config, {
      logger,
      cluster: { worker: slot, lead, policies: { buckets: stores, nonces: stores }, onTransition: (t) => bus.send('others', 'transition', t) },
    });
  } catch (err) {
    // The primary reports it ("worker N could not start: …") and stops the others.
    await bus.request('primary', 'fatal', { message: startupFailure(err, init.file, config) }, 2000).catch(() => undefined);
    bus.close();
    process.exit(1);
  }
  for (const t of init.state) gateway.applyTransition(t);
  for (const e of init.events) gateway.events.ingest(e);

  gateway.events.on('event', (e) => bus.send('primary', 'event', e));
  gateway.policies.onConsumersChanged(() => bus.send('others', 'consumers', null));
  bus.on('transition', (t) => gateway.applyTransition(t));
  bus.on('event', (e) => gateway.events.ingest(e));
  bus.on('metrics.local', () => gateway.metrics.registry.getMetricsAsJSON());
  bus.on('upstreams.local', () => [...gateway.upstreams.values()].map((u) => u.stats()));
  bus.on('reload', ({ config: next }) => gateway.reload(next));
  bus.on('reload.failed', ({ file, problems }) => {
    gateway.events.publish({ type: 'config.reload-failed', reason: `${file}: ${problems} problem(s); the running config stays` });
  });
  bus.on('consumers', () => gateway.policies.refreshConsumers());

  let admin: AdminServer | null = null;
  let stopping = false;
  /** The primary died without asking us to stop: see the 'disconnect' handler. */
  let orphaned = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ kind: 'lifecycle' }, `worker ${slot} stopping: ${why}`);
    try {
      await admin?.close();
      await gateway.stop();
    } finally {
      bus.close();
      if (orphaned) hardExit();
      else process.exit(0);
    }
  };
  /**
   * Without the primary, standard output may be a dead relay (output.ts), and an exit handler
   * that flushes a logger to it never returns (sonic-boom retries a failed synchronous write
   * forever): leave without exit handlers, once the log had a moment to go to a file.
   */
  const hardExit = () => {
    const kill = () => process.kill(process.pid, 'SIGKILL');
    setTimeout(kill, 500).unref();
    logger.flush(kill);
  };
  bus.on('stop', () => void stop('the primary asked (graceful shutdown)'));
  // `kill -TERM <worker pid>` recycles one worker: it drains, exits, and the primary starts another.
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // node:cluster exits a worker at once when the primary disappears (process.exit in its own
  // 'disconnect' listener), and that exit would hang flushing logs to a dead relay: take over.
  process.prependListener('disconnect', () => {
    if (cluster.worker) cluster.worker.exitedAfterDisconnect = true;
  });
  process.on('disconnect', () => {
    // The primary is gone (killed, crashed): no new connections reach us; finish what is in
    // flight, within a bound, and go.
    orphaned = true;
    setTimeout(hardExit, Math.min(config.server.shutdownTimeout, 10_000) + 1000).unref();
    process.on('uncaughtException', hardExit);
    void stop('the primary is gone');
  });

  let adminUrl: string | null = null;
  try {
    const addr = await gateway.listen().catch((err: unknown) => {
      throw dataListenFailure(err, config);
    });
    if (lead) {
      const adminListen = config.admin ?? { host: '127.0.0.1', port: 9901 };
      admin = new AdminServer(
        {
          gateway,
          configFile: init.file,
          cluster: {
            metrics: async () => aggregateMetrics(await bus.request('primary', 'metrics', null, 5000)),
            upstreams: async () => mergeUpstreamStats(await bus.request('primary', 'upstreams', null, 5000)),
            reloaded: (next) => bus.send('primary', 'reloaded', { config: next }),
          },
        },
        adminListen,
      );
      adminUrl = baseUrl(
        await admin.listen().catch((err: unknown) => {
          throw listenFailure(err, 'admin', adminListen.host, adminListen.port);
        }),
      );
      logger.info({ kind: 'lifecycle', admin: adminUrl }, `admin API and dashboard on ${adminUrl}/`);
    }
    bus.send('primary', 'ready', { pid: process.pid, address: `${addr.address}:${addr.port}`, admin: adminUrl });
  } catch (err) {
    stopping = true;
    // A request, not a message: the primary has it before this process exits.
    await bus.request('primary', 'fatal', { message: startupFailure(err, init.file, config) }, 2000).catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await gateway.stop(0).catch(() => undefined);
    bus.close();
    process.exit(1);
  }
  return -1;
}
