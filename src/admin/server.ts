/**
 * The admin listener: the JSON API under /api, /metrics, /healthz and the dashboard at /.
 * Every endpoint but /healthz and the dashboard's static files needs the bearer token when one
 * is configured; without a token the listener must be on loopback, and it refuses what only a
 * browser page of another site would send (origin.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLoopback, tokenMatches } from './auth.js';
import { browserAttack } from './origin.js';
import * as calls from './calls.js';
import * as consumers from './consumers.js';
import * as fleet from './fleet.js';
import { serveDashboard } from './dashboard.js';
import * as openapi from './openapi.js';
import * as ops from './ops.js';
import { AdminError, AdminRouter, sendError, type AdminContext } from './router.js';
import * as topology from './topology.js';

/** Endpoint modules, each `register(router, ctx)`; see router.ts to add one. */
const MODULES: Array<{ register(router: AdminRouter, ctx: AdminContext): void }> = [topology, calls, ops, consumers, fleet, openapi];

export interface AdminListen {
  host: string;
  port: number;
  token?: string | undefined;
}

export class AdminServer {
  readonly server: http.Server;
  readonly router = new AdminRouter();

  constructor(
    ctx: AdminContext,
    private readonly opts: AdminListen,
  ) {
    if (!opts.token && !isLoopback(opts.host)) {
      throw new Error(`admin.host: the admin API on ${opts.host} would be reachable from other machines without a token — set admin.token or bind admin.host to 127.0.0.1`);
    }
    for (const m of MODULES) m.register(this.router, ctx);
    this.server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) sendError(res, new AdminError('INTERNAL', err.message));
        else res.destroy();
      });
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const api = url.pathname.startsWith('/api/') || url.pathname === '/metrics';
    if (!this.opts.token) {
      const attack = browserAttack(req);
      if (attack) return sendError(res, new AdminError('FORBIDDEN', attack));
    }
    if (api && this.opts.token && !tokenMatches(req.headers.authorization, this.opts.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="causeway-admin"');
      return sendError(res, new AdminError('UNAUTHORIZED', req.headers.authorization ? 'the bearer token is wrong' : 'this admin API needs Authorization: Bearer <admin.token>'));
    }
    if (await this.router.handle(req, res, url)) return;
    if (!api && (req.method === 'GET' || req.method === 'HEAD')) {
      res.setHeader('Content-Security-Policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
      if (await serveDashboard(url.pathname, res)) return;
    }
    sendError(res, new AdminError('NOT_FOUND', `no admin endpoint ${req.method} ${url.pathname} (the list: GET /api/openapi.json)`));
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(port = this.opts.port, host = this.opts.host): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** `http://host:port` of a bound address, brackets around IPv6. */
export function baseUrl(addr: AddressInfo): string {
  return `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
}
