/**
 * The OpenAPI document served at /api/openapi.json against real responses: every documented
 * endpoint is called, and every response body is validated against the schema the document
 * gives for its path, method and status.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as backends from '../helpers/backends.js';
import { startAdmin, type AdminFixture } from '../helpers/admin.js';
import { assertDocumented, schemaOf, type OpenApiDoc } from '../helpers/openapi.js';
import { send } from '../helpers/wire.js';

const TOKEN = 'openapi-test-token';

/** The endpoints DESIGN.md lists, plus the document itself, the event log and the running config. Modules that add endpoints check them in their own tests with assertDocumented. */
const CORE = [
  'GET /api/openapi.json', 'GET /healthz', 'GET /api/routes', 'GET /api/upstreams', 'GET /api/consumers', 'GET /api/calls', 'GET /api/calls/{requestId}',
  'GET /api/stats', 'GET /api/alerts', 'GET /api/events', 'GET /api/config', 'POST /api/config/reload', 'GET /metrics',
];

describe('OpenAPI document', () => {
  let ok: backends.TestBackend, down: backends.TestBackend, f: AdminFixture, doc: OpenApiDoc, dir: string, file: string, yaml: string;
  const exercised = new Set<string>();

  /** Sends a request and checks the body against the document; returns the parsed body. */
  async function check(method: string, path: string, template: string, expectStatus: number, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }, body?: unknown): Promise<unknown> {
    const r = await send(f.adminUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    assert.equal(r.status, expectStatus, `${method} ${path}: ${r.text.slice(0, 300)}`);
    exercised.add(`${method} ${template}`);
    return assertDocumented(doc, method, template, r);
  }

  before(async () => {
    ok = await backends.ok();
    down = await backends.refusing();
    dir = mkdtempSync(join(tmpdir(), 'causeway-openapi-'));
    file = join(dir, 'gw.yaml');
    yaml = `listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }
log: { level: silent, access: false }
upstreams:
  ok:   { targets: [{ url: "${ok.url}" }] }
  down: { targets: [{ url: "${down.url}" }], retries: { attempts: 1 } }
routes:
  - { name: ok,   match: { path: /ok/* },   upstream: ok }
  - { name: down, match: { path: /down/* }, upstream: down }
`;
    writeFileSync(file, yaml);
    f = await startAdmin(yaml, {
      token: TOKEN,
      configFile: file,
    });
    for (const p of ['/ok/a', '/down/a', '/nowhere']) await send(f.url + p);
    await f.logged(3);
    doc = (await send(f.adminUrl + '/api/openapi.json', { headers: { authorization: `Bearer ${TOKEN}` } })).json<OpenApiDoc>();
  });
  after(async () => {
    await f.close();
    await ok.close();
    await down.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('is OpenAPI 3.1 with a bearer scheme', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(Object.keys(doc.paths).length >= 12);
    const routes = doc.paths['/api/routes']!['get']!.responses['200']!.content['application/json']!.schema;
    const schema = schemaOf(routes);
    assert.ok(!schema.safeParse({ routes: [{ name: 1 }] }).success, 'the schemas are strict enough to catch a wrong body');
    assert.ok(!schema.safeParse({ routes: [], extra: true }).success);
  });

  test('every real response matches its documented schema, and every endpoint is exercised', async () => {
    await check('GET', '/api/openapi.json', '/api/openapi.json', 200);
    await check('GET', '/healthz', '/healthz', 200, {});
    await check('GET', '/api/routes', '/api/routes', 200);
    await check('GET', '/api/routes', '/api/routes', 401, {});
    await check('GET', '/api/upstreams', '/api/upstreams', 200);
    await check('GET', '/api/consumers', '/api/consumers', 200);
    const calls = (await check('GET', '/api/calls?limit=10', '/api/calls', 200)) as { calls: Array<{ requestId: string }> };
    assert.ok(calls.calls.length >= 3);
    await check('GET', '/api/calls?status=x', '/api/calls', 400);
    await check('GET', `/api/calls/${calls.calls[0]!.requestId}`, '/api/calls/{requestId}', 200);
    await check('GET', '/api/calls/nope', '/api/calls/{requestId}', 404);
    const stats = (await check('GET', '/api/stats?since=5m&bucket=10s', '/api/stats', 200)) as { totals: { byCode: Record<string, number> } };
    assert.equal(stats.totals.byCode['UPSTREAM_CONNECTION_REFUSED'], 1);
    await check('GET', '/api/stats?bucket=1ms', '/api/stats', 400);
    await check('GET', '/api/alerts', '/api/alerts', 200);
    await check('GET', '/api/config', '/api/config', 200);
    await check('GET', '/metrics', '/metrics', 200);
    writeFileSync(file, yaml.replace('upstream: down }', 'upstream: dwon }'));
    await check('POST', '/api/config/reload', '/api/config/reload', 422);
    writeFileSync(file, yaml + '  - { name: more, match: { path: /more/* }, upstream: ok }\n');
    await check('POST', '/api/config/reload', '/api/config/reload', 200);
    await check('GET', '/api/events', '/api/events', 200);
    // Consumers (src/admin/consumers.ts).
    const auth = { authorization: `Bearer ${TOKEN}` };
    await check('POST', '/api/consumers', '/api/consumers', 200, auth, { name: 'shop' });
    await check('POST', '/api/consumers', '/api/consumers', 400, auth, { name: 'shop' });
    await check('GET', '/api/consumers/shop', '/api/consumers/{name}', 200);
    await check('GET', '/api/consumers/nobody', '/api/consumers/{name}', 404);
    const key = (await check('POST', '/api/consumers/shop/keys', '/api/consumers/{name}/keys', 200)) as { id: string };
    await check('POST', '/api/consumers/shop/hmac', '/api/consumers/{name}/hmac', 200);
    await check('POST', `/api/consumers/shop/credentials/${key.id}/rotate`, '/api/consumers/{name}/credentials/{id}/rotate', 200);
    await check('POST', `/api/consumers/shop/credentials/${key.id}/revoke`, '/api/consumers/{name}/credentials/{id}/revoke', 200);
    await check('POST', '/api/consumers/shop/subscriptions', '/api/consumers/{name}/subscriptions', 200, auth, { route: 'ok' });
    await check('POST', '/api/consumers/shop/subscriptions/ok/approve', '/api/consumers/{name}/subscriptions/{route}/approve', 200);
    await check('POST', '/api/consumers/shop/subscriptions/ok/revoke', '/api/consumers/{name}/subscriptions/{route}/revoke', 200);
    await check('GET', '/api/policies', '/api/policies', 200);

    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    assert.deepEqual(CORE.filter((e) => !documented.has(e)), [], 'every endpoint of the contract is documented');
    assert.deepEqual(CORE.filter((e) => !exercised.has(e)), [], 'every endpoint of the contract is checked against a real response');
  });
});
