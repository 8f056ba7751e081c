/**
 * The fleet through the admin API (storage.url; src/fleet/): every node with its config version,
 * last report and state; the published config versions; publishing and rolling back.
 *
 *   GET  /api/fleet                              this node, every node, the newest versions
 *   GET  /api/fleet/config/{version}             one published version's YAML
 *   POST /api/fleet/config     {"yaml", "note"?} validate and publish (422 when invalid: never published)
 *   POST /api/fleet/config/rollback {"version"}  publish an old version again as the newest
 */
import { z } from 'zod';
import { ConfigError } from '../config/load.js';
import { describeDbError } from '../fleet/db.js';
import type { Fleet } from '../fleet/index.js';
import { readJson } from './consumers.js';
import { AdminError, type AdminContext, type AdminRouter } from './router.js';
import { errorBody } from './schemas.js';

const version = z.strictObject({ version: z.number(), created: z.number(), source: z.string(), note: z.string().nullable() });
const node = z.strictObject({
  node: z.string(),
  configVersion: z.number().nullable(),
  state: z.enum(['applied', 'rejected', 'local']),
  error: z.string().nullable(),
  started: z.number(),
  lastSeen: z.number(),
  up: z.boolean(),
  admin: z.string().nullable(),
  listen: z.string().nullable(),
  pid: z.number().nullable(),
});
const fleetBody = z.strictObject({
  fleet: z.boolean(),
  node: z.string(),
  configVersion: z.number().nullable(),
  state: z.enum(['applied', 'rejected', 'local']),
  error: z.string().nullable(),
  nodes: z.array(node),
  versions: z.array(version),
});
const published = z.strictObject({ version: z.number() });

/** The database is down: 503 with the reason. */
async function db<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof AdminError || err instanceof ConfigError) throw err;
    throw new AdminError('UNAVAILABLE', `${describeDbError(err)}; nothing was changed`);
  }
}

export function register(router: AdminRouter, ctx: AdminContext): void {
  const needFleet = (): Fleet => {
    const f = ctx.gateway.fleet;
    if (!f) throw new AdminError('CONFLICT', 'this gateway is not a node of a fleet (storage.url is not set): reload its own file instead (POST /api/config/reload)');
    return f;
  };

  router.get('/api/fleet', { summary: 'The fleet: every node with its config version, last report and state, and the newest published versions', responses: { 200: fleetBody, 401: errorBody, 503: errorBody } }, async () => {
    const f = ctx.gateway.fleet;
    if (!f) return { fleet: false, node: ctx.gateway.node, configVersion: null, state: 'local' as const, error: null, nodes: [], versions: [] };
    const [nodes, versions] = await db(Promise.all([f.config.nodes(), f.config.history(20)]));
    return { fleet: true, node: f.node, configVersion: f.agent.version, state: f.agent.state, error: f.agent.error, nodes, versions };
  });

  router.get('/api/fleet/config/{version}', { summary: "One published version's YAML (the fleet-wide part)", responses: { 200: version.extend({ yaml: z.string() }), 401: errorBody, 404: errorBody, 409: errorBody, 503: errorBody } }, async ({ params }) => {
    const v = await db(needFleet().config.get(Number(params.version)));
    if (!v) throw new AdminError('NOT_FOUND', `no config version ${params.version}`);
    return v;
  });

  router.post(
    '/api/fleet/config',
    { summary: 'Validate a config (body {"yaml", "note"?}) and publish its fleet-wide part; every node applies it. Invalid: 422, nothing published', responses: { 200: published, 400: errorBody, 401: errorBody, 409: errorBody, 422: errorBody, 503: errorBody } },
    async ({ req }) => {
      const f = needFleet();
      const { yaml, note } = await readJson(req, 1024 * 1024);
      if (typeof yaml !== 'string') throw new AdminError('BAD_REQUEST', 'yaml must be the config file text');
      try {
        return { version: await db(f.config.push(yaml, `admin API on ${f.node}`, typeof note === 'string' ? note : null)) };
      } catch (err) {
        if (err instanceof ConfigError) throw new AdminError('INVALID_CONFIG', `the config is invalid; nothing was published:\n${err.message}`, err.problems);
        throw err;
      }
    },
  );

  router.post(
    '/api/fleet/config/rollback',
    { summary: 'Publish an earlier version again as the newest (body {"version"})', responses: { 200: published, 400: errorBody, 401: errorBody, 404: errorBody, 409: errorBody, 503: errorBody } },
    async ({ req }) => {
      const f = needFleet();
      const { version: v } = await readJson(req);
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new AdminError('BAD_REQUEST', 'version must be a version number (GET /api/fleet lists them)');
      if (!(await db(f.config.get(v)))) throw new AdminError('NOT_FOUND', `no config version ${v}`);
      return { version: await db(f.config.rollback(v, `admin API on ${f.node}`)) };
    },
  );
}
