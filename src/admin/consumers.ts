/**
 * Consumers, credentials and subscriptions through the admin API (src/policies/ holds the
 * logic; this is its HTTP face). A key or secret is shown once, in the answer that created or
 * rotated it; listings show credential ids only. Changes persist (policies/consumers/store.ts).
 *
 *   GET  /api/consumers                                   consumers, credential ids, subscriptions
 *   POST /api/consumers                   {"name"}        a new consumer
 *   GET  /api/consumers/{name}
 *   POST /api/consumers/{name}/keys                        a new API key        → {id, key}
 *   POST /api/consumers/{name}/hmac                        a new HMAC key pair  → {id, secret}
 *   POST /api/consumers/{name}/credentials/{id}/rotate     new key/secret, same id; the old one stops at once
 *   POST /api/consumers/{name}/credentials/{id}/revoke
 *   POST /api/consumers/{name}/subscriptions {"route"}     request a subscription (pending)
 *   POST /api/consumers/{name}/subscriptions/{route}/approve
 *   POST /api/consumers/{name}/subscriptions/{route}/revoke
 *   GET  /api/policies                                     rate limiter (Redis state, fail-open/closed counts), nonce cache, response cache
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { AdminError, type AdminContext, type AdminRouter } from './router.js';
import { errorBody } from './schemas.js';
import { StoreWriteError } from '../policies/consumers/store.js';

const credential = z.strictObject({ id: z.string(), kind: z.enum(['key', 'hmac']), source: z.enum(['config', 'api']), created: z.number().nullable() });
const subscription = z.strictObject({ route: z.string(), status: z.enum(['pending', 'approved']), source: z.enum(['config', 'api']) });
const consumer = z.strictObject({ name: z.string(), source: z.enum(['config', 'api']), credentials: z.array(credential), subscriptions: z.array(subscription) });
const issued = z.strictObject({ id: z.string(), key: z.string().optional(), secret: z.string().optional() }).describe('the key or secret, shown this once');
const subscriptionState = z.looseObject({ consumer: z.string(), route: z.string(), status: z.enum(['pending', 'approved']) });

/** A JSON object body of at most `limit` bytes. */
export async function readJson(req: IncomingMessage, limit = 64 * 1024): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new AdminError('BAD_REQUEST', `the request body is over ${Math.round(limit / 1024)} KiB`);
    chunks.push(c);
  }
  if (!size) return {};
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new AdminError('BAD_REQUEST', 'the request body must be a JSON object');
}

/** A change the store could not take (the fleet database down): 503 with the reason; nothing changed. */
async function stored<T>(change: Promise<T>): Promise<T> {
  try {
    return await change;
  } catch (err) {
    if (err instanceof StoreWriteError) throw new AdminError('UNAVAILABLE', `${err.message}; nothing was changed, retry when the database is back`);
    throw err;
  }
}

export function register(router: AdminRouter, ctx: AdminContext): void {
  const reg = () => ctx.gateway.policies.consumers;
  const known = (name: string) => {
    const c = reg().get(name);
    if (!c) throw new AdminError('NOT_FOUND', `no consumer named "${name}"`);
    return c;
  };
  const ownCredential = (name: string, id: string) => {
    known(name);
    const c = reg().credential(id);
    if (!c || c.consumer !== name) throw new AdminError('NOT_FOUND', `consumer "${name}" has no credential "${id}"`);
    if (c.source === 'config') throw new AdminError('BAD_REQUEST', `credential "${id}" comes from the config file; change it there and reload`);
    return c;
  };
  const routeExists = (route: string) => {
    if (!ctx.gateway.config.routes.some((r) => r.name === route)) throw new AdminError('NOT_FOUND', `no route named "${route}"`);
  };

  router.get('/api/consumers', { summary: 'API consumers and their credentials (ids only, never secrets)', responses: { 200: z.strictObject({ consumers: z.array(consumer) }), 401: errorBody } }, () => ({
    consumers: reg().list(),
  }));

  router.post('/api/consumers', { summary: 'Create a consumer: body {"name"}', responses: { 200: consumer, 400: errorBody, 401: errorBody, 503: errorBody } }, async ({ req }) => {
    const { name } = await readJson(req);
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) throw new AdminError('BAD_REQUEST', 'name must be letters, digits, ".", "_" or "-"');
    if (!(await stored(reg().createConsumer(name)))) throw new AdminError('BAD_REQUEST', `consumer "${name}" already exists`);
    return reg().get(name);
  });

  router.get('/api/consumers/{name}', { summary: 'One consumer', responses: { 200: consumer, 401: errorBody, 404: errorBody } }, ({ params }) => known(params.name!));

  for (const kind of ['keys', 'hmac'] as const) {
    router.post(
      `/api/consumers/{name}/${kind}`,
      { summary: kind === 'keys' ? 'Issue an API key (returned once)' : 'Issue an HMAC key pair (the secret is returned once)', responses: { 200: issued, 401: errorBody, 404: errorBody, 503: errorBody } },
      ({ params }) => {
        known(params.name!);
        return stored(reg().issue(params.name!, kind === 'keys' ? 'key' : 'hmac'));
      },
    );
  }

  router.post('/api/consumers/{name}/credentials/{id}/rotate', { summary: 'Replace a key or secret under the same id', responses: { 200: issued, 400: errorBody, 401: errorBody, 404: errorBody, 503: errorBody } }, ({ params }) => {
    ownCredential(params.name!, params.id!);
    return stored(reg().rotate(params.id!));
  });

  router.post('/api/consumers/{name}/credentials/{id}/revoke', { summary: 'Revoke a credential', responses: { 200: z.strictObject({ revoked: z.string() }), 400: errorBody, 401: errorBody, 404: errorBody, 503: errorBody } }, async ({ params }) => {
    ownCredential(params.name!, params.id!);
    await stored(reg().revoke(params.id!));
    return { revoked: params.id! };
  });

  router.post('/api/consumers/{name}/subscriptions', { summary: 'Request a subscription to a route: body {"route"}; pending until approved', responses: { 200: subscriptionState, 400: errorBody, 401: errorBody, 404: errorBody, 503: errorBody } }, async ({ req, params }) => {
    known(params.name!);
    const { route } = await readJson(req);
    if (typeof route !== 'string') throw new AdminError('BAD_REQUEST', 'route must be a route name');
    routeExists(route);
    return stored(reg().requestSubscription(params.name!, route));
  });

  router.post('/api/consumers/{name}/subscriptions/{route}/approve', { summary: 'Approve a subscription request', responses: { 200: subscriptionState, 401: errorBody, 404: errorBody, 503: errorBody } }, async ({ params }) => {
    known(params.name!);
    const s = await stored(reg().approveSubscription(params.name!, params.route!));
    if (!s) throw new AdminError('NOT_FOUND', `consumer "${params.name}" has not requested route "${params.route}"`);
    return s;
  });

  router.post('/api/consumers/{name}/subscriptions/{route}/revoke', { summary: 'Revoke a subscription (or reject a pending request)', responses: { 200: z.strictObject({ revoked: z.string() }), 401: errorBody, 404: errorBody, 503: errorBody } }, async ({ params }) => {
    known(params.name!);
    if (!(await stored(reg().revokeSubscription(params.name!, params.route!)))) throw new AdminError('NOT_FOUND', `consumer "${params.name}" has no subscription to "${params.route}" made through the API`);
    return { revoked: params.route! };
  });

  router.get(
    '/api/policies',
    { summary: 'Policy state: rate limiter (Redis up, fail-open/fail-closed counts), HMAC nonce cache, response cache', responses: { 200: z.looseObject({ rateLimit: z.looseObject({ redisUp: z.boolean().nullable() }) }), 401: errorBody } },
    () => ctx.gateway.policies.stats(),
  );
}
