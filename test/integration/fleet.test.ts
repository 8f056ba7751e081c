/**
 * A fleet as users run it: a real PostgreSQL server, three `causeway start` processes on one
 * storage.url (every listener, admin included, on port 0), a real backend. Consumers made on one
 * node work on all; calls are explained from any node; a pushed config reaches every node and
 * rolls back; the database stopped mid-test and started again; a node killed mid-load.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { connect, migrate, type Sql } from '../../src/fleet/db.js';
import { BIN } from '../helpers/cluster.js';
import { startAdmin } from '../helpers/admin.js';
import { assertDocumented, type OpenApiDoc } from '../helpers/openapi.js';
import { postgresMissing, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { echo, send, startBackend, type Backend } from '../helpers/wire.js';

interface Node {
  name: string;
  file: string;
  child: ChildProcess;
  out: string[];
  url: string;
  admin: string;
  exited: Promise<number | null>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(25);
  }
}

const missing = postgresMissing();
const CHROMIUM = '/usr/bin/chromium';

describe('a fleet of three gateways on one PostgreSQL', { skip: missing ?? false, timeout: 180_000 }, () => {
  let pg: PostgresServer;
  let sql: Sql;
  let backend: Backend;
  let dir: string;
  const nodes: Node[] = [];

  const body = (extraRoutes = '') => `
upstreams:
  b: { targets: [{ url: ${backend.url} }] }
routes:
  - { name: keyed, match: { path: /k/* }, upstream: b, auth: [key] }
  - { name: open, match: { path: /o/* }, upstream: b }
${extraRoutes}`;

  const nodeFile = (name: string, rest: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `node: ${name}\nlisten: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\nstorage: { url: "${pg.url}" }\nlog: { level: info, access: false }\n${rest}`);
    return file;
  };

  async function startNode(name: string): Promise<Node> {
    const file = nodeFile(name, body());
    const child = spawn(process.execPath, [BIN, 'start', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: string[] = [];
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      out.push(...lines);
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // The log is buffered (pino): where a node listens is read from its heartbeat row instead.
    const ready = await eventually(`${name} to report (${err})`, async () => {
      const [row] = await sql<Array<{ listen: string | null; admin: string | null; pid: number }>>`SELECT listen, admin, pid FROM fleet_nodes WHERE node = ${name}`;
      return row?.listen && row.admin && row.pid === child.pid ? row : undefined;
    }, 30_000);
    return { name, file, child, out, url: `http://${ready.listen}`, admin: ready.admin!, exited };
  }

  const json = async <T>(url: string, opts: Parameters<typeof send>[1] = {}) => {
    const r = await send(url, { ...opts, headers: { 'content-type': 'application/json', ...opts.headers } });
    return { status: r.status, body: JSON.parse(r.text) as T };
  };
  const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });

  before(async () => {
    pg = await startPostgres();
    sql = connect(pg.url, { max: 1, connectTimeout: 2 });
    await migrate(sql);
    backend = await startBackend(echo);
    dir = mkdtempSync(join(tmpdir(), 'causeway-fleet-'));
    // All three at once: the migrations run once, under the advisory lock.
    nodes.push(...(await Promise.all(['gw-1', 'gw-2', 'gw-3'].map(startNode))));
  });

  after(async () => {
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => Promise.race([n.exited, sleep(10_000)])));
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
    await backend?.close();
    await sql?.end({ timeout: 1 });
    pg?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every node reports to the fleet: its config state, its heartbeat, its addresses', async () => {
    const fleet = await eventually('three nodes up', async () => {
      const r = await json<{ nodes: Array<{ node: string; up: boolean; state: string; admin: string }> }>(`${nodes[0]!.admin}/api/fleet`);
      return r.body.nodes.filter((n) => n.up).length === 3 ? r.body : undefined;
    });
    assert.deepEqual(fleet.nodes.map((n) => [n.node, n.state]), [['gw-1', 'local'], ['gw-2', 'local'], ['gw-3', 'local']]);
    assert.deepEqual(fleet.nodes.map((n) => n.admin), nodes.map((n) => n.admin));
  });

  it("the dashboard's Fleet page shows every node with its state, and links to the calls it served", { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, async () => {
    const profile = mkdtempSync(join(tmpdir(), 'causeway-chromium-'));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${nodes[2]!.admin}/#fleet`);
      await page.waitForSelector('tr[data-node="gw-3"]', { timeout: 15_000 });
      assert.deepEqual(await page.$$eval('tr[data-node]', (rows) => rows.map((r) => [r.getAttribute('data-node'), r.getAttribute('data-up')])), [['gw-1', 'true'], ['gw-2', 'true'], ['gw-3', 'true']]);
      assert.equal(await page.getAttribute('tr[data-node="gw-2"] a', 'href'), '#calls?node=gw-2');
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it('an API key made through one node works on every node within a second; revoked on another, it stops everywhere', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    assert.equal((await json(`${a.admin}/api/consumers`, { method: 'POST', body: JSON.stringify({ name: 'partner' }) })).status, 200);
    const issued = await json<{ id: string; key: string }>(`${a.admin}/api/consumers/partner/keys`, { method: 'POST' });
    assert.equal(issued.status, 200);
    // Every node polled at once: when did the key first work on each? (1 s is the contract; the
    // tolerance covers a machine shared with other test processes.)
    const t0 = Date.now();
    const took = await Promise.all(
      nodes.map(async (n) => {
        await eventually(`the key to work on ${n.name}`, async () => (await send(`${n.url}/k/1`, { headers: { 'x-api-key': issued.body.key } })).status === 200, 3000);
        return Date.now() - t0;
      }),
    );
    assert.ok(Math.max(...took) < 2000, `the key worked after ${took.join(', ')} ms`);
    assert.equal((await json<{ name: string }>(`${c.admin}/api/consumers/partner`)).body.name, 'partner');
    assert.equal((await json(`${b.admin}/api/consumers/partner/credentials/${issued.body.id}/revoke`, { method: 'POST' })).status, 200);
    for (const n of nodes) await eventually(`the revoked key to fail on ${n.name}`, async () => (await send(`${n.url}/k/1`, { headers: { 'x-api-key': issued.body.key } })).status === 401, 1000);
  });

  it('any node explains a call another served; /api/calls and /api/stats span the fleet, node= narrows them; causeway explain reads the fleet log', async () => {
    const ids = nodes.map((_, i) => `fleet-call-${i + 1}`);
    for (const [i, n] of nodes.entries()) assert.equal((await send(`${n.url}/o/x`, { headers: { 'x-request-id': ids[i]! } })).status, 200);
    const [a, , c] = nodes as [Node, Node, Node];
    const found = await eventually('gw-1 call on gw-3', async () => {
      const r = await json<{ call: { node: string; requestId: string } }>(`${c.admin}/api/calls/${ids[0]}`);
      return r.status === 200 ? r.body : undefined;
    });
    assert.equal(found.call.node, 'gw-1');
    await eventually('every node call', async () => (await json<{ calls: unknown[] }>(`${a.admin}/api/calls?route=open`)).body.calls.length >= 3);
    const onB = await json<{ calls: Array<{ node: string }> }>(`${a.admin}/api/calls?route=open&node=gw-2`);
    assert.ok(onB.body.calls.length >= 1 && onB.body.calls.every((x) => x.node === 'gw-2'));
    const all = await json<{ totals: { requests: number } }>(`${a.admin}/api/stats?since=5m&route=open`);
    const one = await json<{ totals: { requests: number } }>(`${a.admin}/api/stats?since=5m&route=open&node=gw-3`);
    assert.ok(all.body.totals.requests >= 3 && one.body.totals.requests >= 1 && one.body.totals.requests < all.body.totals.requests, JSON.stringify([all.body.totals, one.body.totals]));
    const explained = cli('explain', ids[1]!, '-c', nodes[0]!.file, '--json');
    assert.equal(explained.status, 0, explained.stderr);
    assert.equal((JSON.parse(explained.stdout) as { call: { node: string } }).call.node, 'gw-2');
  });

  it('config push: validated (an invalid one is never published), applied by every node, shown per node; rollback restores the previous version', async () => {
    const next = join(dir, 'next.yaml');
    writeFileSync(next, `storage: { url: "${pg.url}" }\n${body('  - { name: v2, match: { path: /v2/* }, upstream: b }')}`);
    const pushed = cli('config', 'push', '-c', next, '--note', 'add v2');
    assert.equal(pushed.status, 0, pushed.stderr);
    assert.match(pushed.stdout, /published .* as config version 1/);
    for (const n of nodes) await eventually(`/v2 on ${n.name}`, async () => (await send(`${n.url}/v2/a`)).status === 200, 2000);
    const fleet = await eventually('every node on version 1', async () => {
      const r = await json<{ nodes: Array<{ node: string; configVersion: number; state: string }> }>(`${nodes[1]!.admin}/api/fleet`);
      return r.body.nodes.every((n) => n.configVersion === 1 && n.state === 'applied') ? r.body : undefined;
    });
    assert.equal(fleet.nodes.length, 3);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `storage: { url: "${pg.url}" }\nupstreams: { b: { targets: [{ url: ${backend.url} }] } }\nroutes: [{ name: r, match: { path: /* }, upstream: nowhere }]\n`);
    const refused = cli('config', 'push', '-c', bad);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /nowhere[\s\S]*nothing was published/);
    const viaApi = await json<{ error: { code: string } }>(`${nodes[2]!.admin}/api/fleet/config`, { method: 'POST', body: JSON.stringify({ yaml: 'routes: [1]' }) });
    assert.equal(viaApi.status, 422);
    assert.equal(viaApi.body.error.code, 'INVALID_CONFIG');
    const history = cli('config', 'history', '-c', next, '--json');
    assert.deepEqual((JSON.parse(history.stdout) as Array<{ version: number }>).map((v) => v.version), [1]);

    // Version 2 drops /v2 (pushed through the admin API); rolling back to 1 brings it back as version 3.
    assert.equal((await json<{ version: number }>(`${nodes[0]!.admin}/api/fleet/config`, { method: 'POST', body: JSON.stringify({ yaml: body() }) })).body.version, 2);
    for (const n of nodes) await eventually(`/v2 gone on ${n.name}`, async () => (await send(`${n.url}/v2/a`)).status === 404, 2000);
    const rolled = cli('config', 'rollback', '1', '-c', next);
    assert.equal(rolled.status, 0, rolled.stderr);
    assert.match(rolled.stdout, /version 1 again as config version 3/);
    for (const n of nodes) await eventually(`/v2 back on ${n.name}`, async () => (await send(`${n.url}/v2/a`)).status === 200, 2000);
  });

  it('the fleet endpoints answer as the OpenAPI document says', async () => {
    const a = nodes[0]!.admin;
    const doc = (await send(`${a}/api/openapi.json`)).json<OpenApiDoc>();
    const check = async (method: string, template: string, path: string, status: number, body?: unknown) => {
      const r = await send(a + path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      return assertDocumented(doc, method, template, r);
    };
    await check('GET', '/api/fleet', '/api/fleet', 200);
    assert.match(((await check('GET', '/api/fleet/config/{version}', '/api/fleet/config/1', 200)) as { yaml: string }).yaml, /v2/);
    await check('GET', '/api/fleet/config/{version}', '/api/fleet/config/999', 404);
    await check('POST', '/api/fleet/config', '/api/fleet/config', 400, { note: 'no yaml' });
    await check('POST', '/api/fleet/config/rollback', '/api/fleet/config/rollback', 404, { version: 999 });
  });

  it('the database stopped: keys keep working, calls are served and held, admin writes fail with a clear 503; started again: the held calls are written, writes work', async () => {
    const [a, b] = nodes as [Node, Node];
    const key = (await json<{ key: string }>(`${a.admin}/api/consumers/partner/keys`, { method: 'POST' })).body.key;
    for (const n of nodes) await eventually(`key on ${n.name}`, async () => (await send(`${n.url}/k/1`, { headers: { 'x-api-key': key } })).status === 200, 1000);
    pg.stop();
    try {
      for (const n of nodes) {
        const r = await send(`${n.url}/k/during`, { headers: { 'x-api-key': key, 'x-request-id': `during-${n.name}` }, timeout: 2000 });
        assert.equal(r.status, 200, `${n.name} serves keys from its copy`);
      }
      const refused = await json<{ error: { code: string; message: string } }>(`${b.admin}/api/consumers/partner/keys`, { method: 'POST' });
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error.code, 'UNAVAILABLE');
      assert.match(refused.body.error.message, /fleet database.*nothing was changed/);
    } finally {
      pg.start();
    }
    const held = await eventually('the calls made during the outage', async () => {
      const r = await json<{ call: { node: string } }>(`${a.admin}/api/calls/during-gw-3`);
      return r.status === 200 ? r.body : undefined;
    }, 15_000);
    assert.equal(held.call.node, 'gw-3');
    await eventually('admin writes again', async () => (await json(`${b.admin}/api/consumers/partner/keys`, { method: 'POST' })).status === 200, 10_000);
  });

  it('a node killed mid-load: the others keep serving every call; the fleet shows it down', async () => {
    const victim = nodes[1]!;
    const live = [nodes[0]!, nodes[2]!];
    let served = 0;
    let failedOnLive = 0;
    const deadline = Date.now() + 3000;
    let killed = false;
    const worker = async (n: Node) => {
      while (Date.now() < deadline) {
        if (!killed && Date.now() > deadline - 2000) {
          killed = true;
          victim.child.kill('SIGKILL');
        }
        const r = await send(`${n.url}/o/load`, { timeout: 5000 }).catch(() => null);
        if (r?.status === 200) served++;
        else failedOnLive++;
      }
    };
    await Promise.all([...live, ...live].map(worker));
    assert.ok(killed);
    assert.equal(failedOnLive, 0);
    assert.ok(served > 20, `${served} calls served`);
    await victim.exited;
    const fleet = await eventually('gw-2 down in the fleet view', async () => {
      const r = await json<{ nodes: Array<{ node: string; up: boolean }> }>(`${nodes[0]!.admin}/api/fleet`);
      return r.body.nodes.find((n) => n.node === 'gw-2')?.up === false ? r.body : undefined;
    }, 12_000);
    assert.deepEqual(fleet.nodes.filter((n) => n.up).map((n) => n.node), ['gw-1', 'gw-3']);
    // What the live nodes served under load is in the fleet's log.
    await eventually('the load in the call log', async () => (await json<{ totals: { requests: number } }>(`${nodes[2]!.admin}/api/stats?since=5m&route=open`)).body.totals.requests >= served, 5000);
  });
});

describe('a gateway without storage.url', () => {
  it('is not a fleet: /api/fleet says so, publishing is refused with 409', async () => {
    const gw = await startAdmin(`upstreams: { b: { targets: [{ url: "http://127.0.0.1:1" }] } }\nroutes: [{ name: r, match: { path: /* }, upstream: b }]`);
    try {
      const doc = (await gw.call('/api/openapi.json')).json<OpenApiDoc>();
      const f = assertDocumented(doc, 'GET', '/api/fleet', await gw.call('/api/fleet')) as { fleet: boolean; nodes: unknown[]; state: string };
      assert.deepEqual([f.fleet, f.nodes, f.state], [false, [], 'local']);
      const r = await gw.call('/api/fleet/config', { method: 'POST', body: JSON.stringify({ yaml: 'upstreams: {}' }) });
      assert.equal(r.status, 409);
      assertDocumented(doc, 'POST', '/api/fleet/config', r);
      assert.equal((await gw.call('/api/calls?node=some-other-node')).json<{ calls: unknown[] }>().calls.length, 0);
    } finally {
      await gw.close();
    }
  });
});
