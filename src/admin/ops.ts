/** Operating the gateway: liveness, the event log, alerts, Prometheus metrics, the running config and its reload. */
import { lintConfig } from '../config/lint.js';
import { redactConfig } from './redact.js';
import { reloadFromFile } from './reload.js';
import { AdminError, type AdminContext, type AdminRouter } from './router.js';
import { alertsBody, configBody, errorBody, eventsBody, healthBody, reloadBody, textBody } from './schemas.js';

export function register(router: AdminRouter, ctx: AdminContext): void {
  const startedAt = Date.now();

  router.get('/healthz', { summary: 'Liveness of the gateway process (no token needed)', responses: { 200: healthBody } }, () => ({
    status: 'ok' as const,
    inflight: ctx.gateway.inflightCount,
    uptimeMs: Date.now() - startedAt,
  }));

  router.get(
    '/api/events',
    { summary: 'State changes, newest first: ejections, health, breakers, reloads', query: { type: 'only events of this type (repeatable)', upstream: 'only this upstream', limit: '1..1000, default 100' }, responses: { 200: eventsBody, 401: errorBody } },
    ({ query }) => {
      const types = query.getAll('type').filter(Boolean);
      const limit = Math.min(1000, Math.max(1, Number(query.get('limit')) || 100));
      return { events: ctx.gateway.events.recent({ limit, upstream: query.get('upstream') || undefined, types: types.length ? types : undefined }) };
    },
  );

  router.get('/api/alerts', { summary: 'Every alert rule with its state (inactive, pending, firing), value and last delivery', responses: { 200: alertsBody, 401: errorBody } }, () => ({
    alerts: ctx.gateway.alerts.list(),
  }));

  router.raw('GET', '/metrics', { summary: 'Prometheus metrics (text exposition format; with several workers, summed over all of them)', responses: { 200: textBody, 401: errorBody } }, async (_r, res) => {
    const text = ctx.cluster ? await ctx.cluster.metrics() : await ctx.gateway.metrics.render();
    res.writeHead(200, { 'content-type': ctx.gateway.metrics.contentType, 'cache-control': 'no-store' });
    res.end(text);
  });

  router.get('/api/config', { summary: 'The running config (secrets masked) with its lint findings', responses: { 200: configBody, 401: errorBody } }, () => ({
    file: ctx.configFile ?? null,
    config: redactConfig(ctx.gateway.config) as Record<string, unknown>,
    findings: lintConfig(ctx.gateway.config),
  }));

  router.post(
    '/api/config/reload',
    {
      summary: 'Re-read and validate the config file, then apply it without dropping in-flight requests; an invalid file changes nothing (422 with the problems)',
      responses: { 200: reloadBody, 401: errorBody, 409: errorBody, 422: errorBody },
    },
    () => {
      const file = ctx.configFile;
      if (!file) throw new AdminError('CONFLICT', 'this gateway was not started from a config file (causeway start -c FILE), so there is nothing to reload');
      const out = reloadFromFile(ctx.gateway, file);
      if (!out.ok) throw new AdminError('INVALID_CONFIG', `${file} is invalid; the running config stays:\n${out.lines.join('\n')}`, out.problems);
      ctx.cluster?.reloaded(out.config);
      return { reloaded: true as const, file, summary: out.summary, findings: out.findings };
    },
  );
}
