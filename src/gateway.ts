/**
 * A gateway: the data-plane server with its routes and upstreams, the access log, and an
 * orderly stop that finishes in-flight requests. This is what `causeway start` runs and what
 * tests start in-process.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { AccessLog, SinkList, createLogger } from './observe/access-log.js';
import type { CallSink } from './observe/call-record.js';
import { EventLog } from './observe/events.js';
import { buildRuntime, type CallEnv, type Runtime } from './proxy/runtime.js';
import { createFrontend, type Frontend } from './proxy/server.js';
import type { LookupFn } from './upstream/connector.js';

export interface GatewayOptions {
  /** Replaces the system resolver (tests inject failures; never the machine's DNS). */
  lookup?: LookupFn;
  logger?: Logger;
  /** Extra receivers of call records (tests, the call log store). */
  sinks?: CallSink[];
}

export class Gateway {
  readonly logger: Logger;
  readonly sinks = new SinkList();
  /** State changes (ejections, health, breakers, reloads), readable at run time. */
  readonly events: EventLog;
  private readonly accessLog: AccessLog | null;
  private readonly frontend: Frontend;
  private runtime: Runtime;
  private readonly inflight = new Set<unknown>();
  private stopping = false;

  constructor(
    readonly config: Config,
    options: GatewayOptions = {},
  ) {
    this.logger = options.logger ?? createLogger({ level: config.log.level, file: config.log.file });
    this.events = new EventLog(this.logger);
    this.accessLog = config.log.access ? new AccessLog(config.log.file) : null;
    if (this.accessLog) this.sinks.add(this.accessLog);
    for (const s of options.sinks ?? []) this.sinks.add(s);
    this.runtime = buildRuntime(config, options.lookup);
    const trusted = new Set(config.server.trustedProxies);
    const env: CallEnv = {
      expose: config.errors.expose,
      sink: this.sinks,
      lookup: options.lookup,
      isTrustedPeer: (a) => a !== undefined && trusted.size > 0 && (trusted.has(a) || trusted.has(a.replace(/^::ffff:/, ''))),
      inflight: this.inflight,
      draining: () => this.stopping,
    };
    this.frontend = createFrontend(config, this.runtime, env);
  }

  get server() {
    return this.frontend.server;
  }

  get upstreams() {
    return this.runtime.upstreams;
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(port = this.config.listen.port, host = this.config.listen.host): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', onError);
        const addr = this.server.address() as AddressInfo;
        this.logger.info({ kind: 'lifecycle', address: `${addr.address}:${addr.port}`, routes: this.runtime.routes.length }, 'gateway listening');
        resolve(addr);
      });
    });
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /**
   * Stops accepting connections, lets in-flight calls finish (up to `server.shutdownTimeout`),
   * then closes every connection and pool.
   */
  async stop(timeoutMs = this.config.server.shutdownTimeout): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + timeoutMs;
    while (this.inflight.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      this.server.closeIdleConnections();
    }
    if (this.inflight.size > 0) this.logger.warn({ kind: 'lifecycle', abandoned: this.inflight.size }, 'shutdown timeout: closing calls still in flight');
    this.server.closeAllConnections();
    await closed;
    await Promise.all([...this.runtime.upstreams.values()].map((u) => u.close()));
    await this.accessLog?.close();
    this.logger.info({ kind: 'lifecycle' }, 'gateway stopped');
    this.logger.flush();
  }
}
