/** GET /api/routes, /api/upstreams, /api/consumers: what the gateway runs, and its live upstream state. */
import type { AdminContext, AdminRouter } from './router.js';
import { errorBody, routesBody, upstreamsBody } from './schemas.js';

export function register(router: AdminRouter, ctx: AdminContext): void {
  router.get('/api/routes', { summary: 'The routes in force, with their effective timeouts and retries', responses: { 200: routesBody, 401: errorBody } }, () => {
    const byName = new Map(ctx.gateway.config.routes.map((r) => [r.name, r]));
    return {
      routes: ctx.gateway.routes.map((rt) => {
        const { name, match, upstream, stripPrefix: _s, preserveHost: _p, timeouts: _t, retries: _r, maxBodySize: _m, ...policies } = byName.get(rt.name)!;
        return {
          ...policies,
          name,
          upstream,
          match,
          stripPrefix: rt.stripPrefix ?? null,
          preserveHost: rt.preserveHost,
          timeouts: rt.timeouts,
          retries: rt.retries,
          maxBodySize: rt.maxBodySize,
        };
      }),
    };
  });

  router.get(
    '/api/upstreams',
    { summary: 'Every upstream with live per-target state: in-flight, pool, EWMA latency, health, ejection, breaker (with several workers: counters summed over all of them)', responses: { 200: upstreamsBody, 401: errorBody } },
    async () => ({ upstreams: ctx.cluster ? await ctx.cluster.upstreams() : [...ctx.gateway.upstreams.values()].map((u) => u.stats()) }),
  );
}
