/**
 * The primary of `causeway start` with `workers: 2`, as a user runs it: startup failures, restarts
 * with backoff, SIGHUP and admin reloads applied by every worker, consumers created through the
 * lead's admin API known to every worker. (The scenarios of issue #7 are in
 * test/integration/workers.test.ts.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, byWorker, freePort, sleep, startCluster, type TestCluster } from '../helpers/cluster.js';
import { send, startBackend, type Backend } from '../helpers/wire.js';

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Sends `n` requests on fresh connections (so both workers get some) and returns which workers served them. */
async function served(c: TestCluster, prefix: string, n: number, headers: Record<string, string> = {}): Promise<{ statuses: number[]; workers: number[] }> {
  const from = c.access().length;
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await send(`${c.url}${prefix}${i}`, { headers })).status);
  const m = await until('the access-log lines', () => {
    const got = byWorker(c.access().slice(from), prefix);
    return [...got.values()].reduce((a, l) => a + l.length, 0) === n ? got : undefined;
  });
  return { statuses, workers: [...m.keys()].sort() };
}

test('a worker that cannot start stops the others, and start exits 1 with its reason', async () => {
  const blocker = net.createServer();
  const adminPort = await freePort();
  await new Promise<void>((r) => blocker.listen(adminPort, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'causeway-primary-'));
  try {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `listen: { host: 127.0.0.1, port: ${await freePort()} }\nadmin: { host: 127.0.0.1, port: ${adminPort} }\nworkers: 2\nstorage: { path: ${join(dir, 'c.db')} }\nlog: { file: ${join(dir, 'c.log')} }\nupstreams:\n  a: { targets: [{ url: "http://127.0.0.1:9" }] }\n`);
    const r = spawnSync(process.execPath, [BIN, 'start', '-c', file], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`causeway start: worker 1 could not start: the admin port 127\\.0\\.0\\.1:${adminPort} is in use; set admin\\.port in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const log = readFileSync(join(dir, 'c.log'), 'utf8');
    assert.doesNotMatch(log, /restarting/, 'a startup failure is not retried');
  } finally {
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('workers whose primary is killed finish their calls and exit by themselves (none is left behind)', async () => {
  const backend = await startBackend((_req, res) => setTimeout(() => res.end('late'), 300));
  // Standard output relayed through the primary: once it is gone, the workers' stdout is dead too.
  const c = await startCluster(`upstreams:\n  main: { targets: [{ url: ${backend.url} }] }\nroutes:\n  - { name: all, match: { path: /* }, upstream: main }\n`, { logFile: false });
  try {
    const pids = [...c.pids().values()];
    assert.equal(pids.length, 2);
    const agent = new http.Agent({ keepAlive: true });
    const inflight = Promise.all(Array.from({ length: 4 }, (_, i) => send(`${c.url}/x/${i}`, { agent }).then((r) => r.status, (e: Error) => e.message)));
    await until('the calls to reach the backend', () => (backend.seen.length >= 4 ? true : undefined));
    c.child.kill('SIGKILL');
    assert.deepEqual(await inflight, [200, 200, 200, 200], 'calls in flight still finish');
    agent.destroy();
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await until('every worker to exit', () => (pids.some(alive) ? undefined : true), 15_000);
  } finally {
    await c.cleanup();
    await backend.close();
  }
});

describe('a running cluster', () => {
  let backend: Backend;
  let c: TestCluster;
  const routes = (extra = '') => `upstreams:\n  main: { targets: [{ url: ${backend.url} }] }\nroutes:\n${extra}  - { name: all, match: { path: /all/* }, upstream: main }\n  - { name: keyed, match: { path: /keyed/* }, upstream: main, auth: [key] }\n`;

  before(async () => {
    backend = await startBackend((_req, res) => res.end('ok'));
    c = await startCluster(routes());
  });
  after(async () => {
    await c?.cleanup();
    await backend?.close();
  });

  test('SIGHUP: the file is validated once and every worker applies it', async () => {
    assert.deepEqual((await served(c, '/new/', 4)).statuses, [404, 404, 404, 404]);
    const text = readFileSync(c.file, 'utf8');
    writeFileSync(c.file, text.replace(/upstreams:\n[\s\S]*$/, routes('  - { name: new, match: { path: /new/* }, upstream: main }\n')));
    const errLen = c.stderr().length;
    c.child.kill('SIGHUP');
    await until('the reload line', () => (/SIGHUP: reloaded .* in 2 of 2 workers: 3 routes/.test(c.stderr().slice(errLen)) ? true : undefined));
    const after = await served(c, '/new/', 6);
    assert.deepEqual(after.statuses, [200, 200, 200, 200, 200, 200]);
    assert.deepEqual(after.workers, [1, 2], 'both workers route the new path');
    const events = (await send(`${c.adminUrl}/api/events?type=config.reloaded`)).json<{ events: Array<{ worker: number }> }>().events;
    assert.deepEqual(events.map((e) => e.worker).sort(), [1, 2], 'the lead shows the reload of each worker');
  });

  test('SIGHUP with an invalid file: reported, nothing changes in any worker, the lead records it', async () => {
    const good = readFileSync(c.file, 'utf8');
    writeFileSync(c.file, good.replace('upstream: main }\n  - { name: all', 'upstream: mian }\n  - { name: all'));
    const errLen = c.stderr().length;
    c.child.kill('SIGHUP');
    await until('the rejection', () => (/is invalid; the running config stays/.test(c.stderr().slice(errLen)) ? true : undefined));
    assert.match(c.stderr().slice(errLen), /no upstream named "mian" — did you mean "main"\?/);
    assert.deepEqual((await served(c, '/new/', 4)).statuses, [200, 200, 200, 200]);
    const failed = (await send(`${c.adminUrl}/api/events?type=config.reload-failed`)).json<{ events: unknown[] }>().events;
    assert.equal(failed.length, 1);
    writeFileSync(c.file, good);
  });

  test('POST /api/config/reload on the lead reloads every worker', async () => {
    writeFileSync(c.file, readFileSync(c.file, 'utf8').replace(/upstreams:\n[\s\S]*$/, routes('  - { name: newer, match: { path: /newer/* }, upstream: main }\n')));
    const t0 = Date.now();
    const r = await send(`${c.adminUrl}/api/config/reload`, { method: 'POST' });
    assert.equal(r.status, 200, r.text);
    await until('worker 2 to reload', async () => {
      const events = (await send(`${c.adminUrl}/api/events?type=config.reloaded`)).json<{ events: Array<{ worker: number; at: number }> }>().events;
      return events.some((e) => e.worker === 2 && e.at >= t0) ? true : undefined;
    });
    const got = await served(c, '/newer/', 6);
    assert.deepEqual(got.statuses, [200, 200, 200, 200, 200, 200]);
    assert.deepEqual(got.workers, [1, 2]);
    assert.deepEqual((await served(c, '/new/', 2)).statuses, [404, 404], 'the route the file no longer has is gone everywhere');
  });

  test('an API key issued through the lead\'s admin API works on every worker; revoked, on none', async () => {
    assert.equal((await send(`${c.adminUrl}/api/consumers`, { method: 'POST', body: JSON.stringify({ name: 'app' }), headers: { 'content-type': 'application/json' } })).status, 200);
    const issued = (await send(`${c.adminUrl}/api/consumers/app/keys`, { method: 'POST' })).json<{ id: string; key: string }>();
    const ok = await served(c, '/keyed/', 6, { 'x-api-key': issued.key });
    assert.deepEqual(ok.statuses, [200, 200, 200, 200, 200, 200]);
    assert.deepEqual(ok.workers, [1, 2]);
    assert.equal((await send(`${c.adminUrl}/api/consumers/app/credentials/${issued.id}/revoke`, { method: 'POST' })).status, 200);
    await sleep(100);
    assert.deepEqual((await served(c, '/keyed/', 4, { 'x-api-key': issued.key })).statuses, [401, 401, 401, 401]);
  });

  test('a worker that keeps dying right after it starts is restarted after a growing backoff', async () => {
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const lines = c.lines().length;
      const pid = await until('worker 2 to be up', () => c.pids().get(2));
      process.kill(pid, 'SIGKILL');
      const exit = await c.waitFor((l) => l.role === 'primary' && l.worker === 2 && typeof l.restartInMs === 'number', 20_000, lines);
      delays.push(exit.restartInMs as number);
      await c.waitFor((l) => l.role === 'primary' && l.worker === 2 && / ready/.test(String(l.msg)), 20_000, lines);
    }
    // The first kill may come long after the last start (then it restarts at once); after that each doubles.
    const quick = delays.slice(delays[0] === 0 ? 1 : 0);
    for (let i = 1; i < quick.length; i++) assert.equal(quick[i], quick[i - 1]! * 2, `backoff doubles: ${delays.join(', ')} ms`);
    assert.ok(quick[0]! >= 100);
    assert.deepEqual((await served(c, '/all/', 6)).workers, [1, 2], 'and both serve again');
  });
});
