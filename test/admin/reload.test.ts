/** Live reload: Gateway.reload keeps what did not change, finishes what is in flight, and an invalid file changes nothing. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { startAdmin, type AdminFixture } from '../helpers/admin.js';
import { send, startBackend, until, type Backend } from '../helpers/wire.js';

function yaml(slow: string, fast: string, extra = { aRead: '5s', routes: '' }): string {
  return `listen: { host: 127.0.0.1, port: 0 }
log: { level: silent, access: false }
upstreams:
  a: { targets: [{ url: "${slow}" }], timeouts: { read: ${extra.aRead} } }
  b: { targets: [{ url: "${fast}" }] }
  gone: { targets: [{ url: "${fast}" }] }
routes:
  - { name: a, match: { path: /a/* }, upstream: a }
  - { name: b, match: { path: /b/* }, upstream: b }
  - { name: gone, match: { path: /gone/* }, upstream: gone }
${extra.routes}`;
}

describe('live reload', () => {
  /** A config as the file would give it, with the call log the fixture runs (in memory). */
  const parse = (text: string) => ({ ...parseConfig(text, 'gw.yaml', {}), storage: f.gateway.config.storage });
  let slow: Backend, fast: Backend, f: AdminFixture, dir: string, file: string;
  before(async () => {
    slow = await startBackend((_req, res) => setTimeout(() => res.end('slow ok'), 700));
    fast = await startBackend((_req, res) => res.end('fast ok'));
    dir = mkdtempSync(join(tmpdir(), 'causeway-reload-'));
    file = join(dir, 'gw.yaml');
    writeFileSync(file, yaml(slow.url, fast.url));
    f = await startAdmin(yaml(slow.url, fast.url), { configFile: file, store: false });
  });
  after(async () => {
    await f.close();
    await slow.close();
    await fast.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('keeps unchanged upstreams and their pools, lets in-flight calls finish, closes replaced ones after them', async () => {
    const keep = new http.Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal((await send(f.url + '/b/x', { agent: keep })).status, 200);
    const bBefore = f.gateway.upstreams.get('b')!;
    const aBefore = f.gateway.upstreams.get('a')!;
    assert.equal(bBefore.stats().targets[0]!.pool.connected, 1, 'b holds a keep-alive connection to its backend');
    const inflight = send(f.url + '/a/slow');
    await until(() => aBefore.activeRequests === 1);

    const next = parse(yaml(slow.url, fast.url, { aRead: '6s', routes: '  - { name: c, match: { path: /c/* }, upstream: b }' }).replace(/ {2}gone:.*\n/, '').replace(/ {2}- \{ name: gone.*\n/, ''));
    const summary = f.gateway.reload(next);
    assert.deepEqual(summary, { routes: 3, kept: ['b'], changed: ['a'], added: [], removed: ['gone'], restartRequired: [] });

    assert.strictEqual(f.gateway.upstreams.get('b'), bBefore, 'the unchanged upstream is the same live object');
    assert.notStrictEqual(f.gateway.upstreams.get('a'), aBefore);
    assert.equal(bBefore.stats().targets[0]!.pool.connected, 1, 'its pool was not reset');
    assert.equal((await send(f.url + '/c/x')).text, 'fast ok', 'the new route serves at once');
    assert.equal((await send(f.url + '/gone/x')).status, 404, 'the removed route is gone');

    const r = await inflight;
    assert.equal(r.status, 200, 'the call in flight on the replaced upstream finished');
    assert.equal(r.text, 'slow ok');
    assert.ok(await until(() => aBefore.stats().targets[0]!.pool.connected === 0, 5000), 'the replaced upstream closes its connections once idle');
    assert.equal((await send(f.url + '/a/again')).status, 200, 'the new upstream a serves');

    const [ev] = f.gateway.events.recent({ types: ['config.reloaded'] });
    assert.ok(ev);
    assert.match(ev.reason, /changed a; removed gone; 1 kept/);
    keep.destroy();
  });

  test('POST /api/config/reload: an invalid file is rejected with check-style errors and the running config stays', async () => {
    const before = f.gateway.config;
    writeFileSync(file, yaml(slow.url, fast.url).replace('upstream: b }', 'upstream: bb }').replace('timeouts: { read: 5s }', 'timeouts: { raed: 5s }'));
    const r = await f.call('/api/config/reload', { method: 'POST' });
    assert.equal(r.status, 422);
    const e = r.json<{ error: { code: string; message: string; details: Array<{ file: string; line: number; path: string; message: string }> } }>().error;
    assert.equal(e.code, 'INVALID_CONFIG');
    assert.match(e.message, /the running config stays/);
    assert.ok(e.message.includes(`${file}:4:`), e.message);
    assert.ok(e.details.some((d) => d.path === 'upstreams.a.timeouts.raed' && d.line === 4 && /did you mean "read"/.test(d.message)));
    assert.strictEqual(f.gateway.config, before, 'nothing was applied');
    assert.equal((await send(f.url + '/b/x')).status, 200);
    assert.equal(f.gateway.events.recent({ types: ['config.reload-failed'] }).length, 1);

    writeFileSync(file, yaml(slow.url, fast.url, { aRead: '5s', routes: '  - { name: d, match: { path: /d/* }, upstream: b }' }));
    const okr = await f.call('/api/config/reload', { method: 'POST' });
    assert.equal(okr.status, 200, okr.text);
    assert.equal(okr.json<{ summary: { routes: number } }>().summary.routes, 4);
    assert.equal((await send(f.url + '/d/x')).text, 'fast ok');
  });

  test('a reload that touches the listener reports the restart it needs', () => {
    const next = parse(yaml(slow.url, fast.url).replace('port: 0 }', 'port: 1 }'));
    assert.deepEqual(f.gateway.reload(next).restartRequired, ['listen']);
  });
});
