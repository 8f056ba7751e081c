/**
 * `workers: 2` end to end: `causeway start -c FILE` as a user runs it — a primary and two worker
 * processes on one port — against real backends. Which worker served a call is read from the
 * access log (`"worker": n` in every line); which process each worker is, from the primary's log.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { byWorker, sleep, startCluster, type LogLine, type TestCluster } from '../helpers/cluster.js';
import { send, startBackend, type Backend } from '../helpers/wire.js';

/** Resolves with the connect error code, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** The parent process id of `pid` (Linux /proc). */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const requestIds = (lines: LogLine[]) => new Set(lines.map((l) => l.requestId as string));

describe('workers: 2', () => {
  let good: Backend;
  let bad: Backend;
  let slow: Backend;
  let c: TestCluster;

  before(async () => {
    good = await startBackend((_req, res) => res.end('ok'));
    bad = await startBackend((_req, res) => {
      res.statusCode = 503;
      res.end('unavailable');
    });
    slow = await startBackend((_req, res) => {
      setTimeout(() => res.end('finally'), 1500);
    });
    c = await startCluster(`
upstreams:
  main: { targets: [{ url: ${good.url} }] }
  pair:
    targets: [{ url: ${bad.url} }, { url: ${good.url} }]
    retries: { attempts: 1 }
    healthCheck: { passive: { consecutiveFailures: 2, ejectFor: 60s } }
  slow: { targets: [{ url: ${slow.url} }], timeouts: { read: 10s } }
routes:
  - { name: limited, match: { path: /rl/* }, upstream: main, rateLimit: { requests: 10, per: 60s, by: route } }
  - { name: pair, match: { path: /pair/* }, upstream: pair }
  - { name: slow, match: { path: /slow/* }, upstream: slow }
  - { name: all, match: { path: /* }, upstream: main }
`);
  });

  after(async () => {
    await c?.cleanup();
    await Promise.all([good?.close(), bad?.close(), slow?.close()]);
  });

  test('both workers serve: two processes, children of the primary, take the connections in turn', async () => {
    const pids = c.pids();
    assert.deepEqual([...pids.keys()].sort(), [1, 2]);
    assert.notEqual(pids.get(1), pids.get(2));
    for (const pid of pids.values()) assert.equal(parentOf(pid), c.pid, 'every worker is a child of the primary');
    for (let i = 0; i < 20; i++) assert.equal((await send(`${c.url}/both/${i}`)).status, 200);
    const served = await until('20 access-log lines', () => {
      const m = byWorker(c.access(), '/both/');
      return (m.get(1)?.length ?? 0) + (m.get(2)?.length ?? 0) === 20 ? m : undefined;
    });
    assert.ok(served.get(1)!.length >= 5 && served.get(2)!.length >= 5, `both workers took connections: ${served.get(1)!.length} / ${served.get(2)!.length}`);
  });

  test('the admin API on the lead shows the calls of both workers; /metrics sums them', async () => {
    const mine = byWorker(c.access(), '/both/');
    // Each worker hands its calls to the log in batches (every 200 ms): wait for all 20.
    await until('the 20 calls in the call log', async () => {
      const calls = (await send(`${c.adminUrl}/api/calls?route=all&limit=1000`)).json<{ calls: Array<{ path: string }> }>().calls;
      return calls.filter((x) => x.path.startsWith('/both/')).length === 20 ? true : undefined;
    });
    for (const w of [1, 2]) {
      for (const id of requestIds(mine.get(w)!)) {
        const r = await send(`${c.adminUrl}/api/calls/${id}`);
        assert.equal(r.status, 200, `call ${id} served by worker ${w} is in the lead's call log`);
      }
    }
    const metrics = (await send(`${c.adminUrl}/metrics`)).text;
    assert.match(metrics, /^causeway_workers 2$/m);
    assert.match(metrics, /^causeway_requests_total\{route="all",upstream="main",status="200"\} 20$/m, 'the counters of both workers are summed');
    const ups = (await send(`${c.adminUrl}/api/upstreams`)).json<{ upstreams: Array<{ name: string; targets: Array<{ requests: number; pool: { maxConnections: number } }> }> }>().upstreams;
    const main = ups.find((u) => u.name === 'main')!.targets[0]!;
    assert.equal(main.requests, 20, '/api/upstreams sums the live counters of both workers');
    assert.equal(main.pool.maxConnections, 256, 'each worker has its own pool of 128');
  });

  test('a local rate limit holds in total across both workers (10 per minute means 10, not 10 per worker)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 5) {
      const batch = await Promise.all(Array.from({ length: 5 }, (_, j) => send(`${c.url}/rl/${i + j}`)));
      statuses.push(...batch.map((r) => r.status));
    }
    assert.equal(statuses.filter((s) => s === 200).length, 10, `statuses: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 20);
    const served = await until('30 access-log lines', () => {
      const m = byWorker(c.access(), '/rl/');
      return (m.get(1)?.length ?? 0) + (m.get(2)?.length ?? 0) === 30 ? m : undefined;
    });
    for (const w of [1, 2]) assert.ok(served.get(w)!.some((l) => l.status === 200) && served.get(w)!.some((l) => l.status === 429), `worker ${w} both admitted and refused calls`);
  });

  test('a target ejected by one worker is avoided by the other', async () => {
    let i = 0;
    const ejected = await until(
      'a target.ejected event on the lead',
      async () => {
        await send(`${c.url}/pair/${i++}`);
        const events = (await send(`${c.adminUrl}/api/events?type=target.ejected`)).json<{ events: Array<{ target: string; worker: number }> }>().events;
        return events[0];
      },
      20_000,
    );
    assert.equal(ejected.target, `127.0.0.1:${bad.port}`);
    assert.ok(ejected.worker === 1 || ejected.worker === 2, 'the event names the worker that ejected the target');
    await sleep(200);
    const seenByBad = bad.seen.length;
    const from = c.access().length;
    for (let k = 0; k < 20; k++) assert.equal((await send(`${c.url}/pair/after-${k}`)).status, 200, 'no call reaches the ejected target');
    assert.equal(bad.seen.length, seenByBad, 'the ejected target got no request from either worker');
    const served = await until('20 access-log lines', () => {
      const m = byWorker(c.access().slice(from), '/pair/after-');
      return (m.get(1)?.length ?? 0) + (m.get(2)?.length ?? 0) === 20 ? m : undefined;
    });
    const other = ejected.worker === 1 ? 2 : 1;
    assert.ok((served.get(other)?.length ?? 0) > 0, `worker ${other}, which did not eject the target, served calls too`);
    const ups = (await send(`${c.adminUrl}/api/upstreams`)).json<{ upstreams: Array<{ name: string; targets: Array<{ id: string; state: string }> }> }>().upstreams;
    assert.equal(ups.find((u) => u.name === 'pair')!.targets.find((t) => t.id === `127.0.0.1:${bad.port}`)!.state, 'ejected');
  });

  test('a killed worker is replaced under its number, and serves again', async () => {
    const before = c.pids().get(2)!;
    const lines = c.lines().length;
    process.kill(before, 'SIGKILL');
    const restarted = await c.waitFor((l) => l.role === 'primary' && l.worker === 2 && / ready/.test(String(l.msg)), 20_000, lines);
    assert.notEqual(restarted.pid, before);
    const exit = c.lines().slice(lines).find((l) => /exited with signal SIGKILL/.test(String(l.msg)));
    assert.ok(exit && exit.worker === 2 && typeof exit.restartInMs === 'number', 'the exit and the restart are logged');
    const from = c.access().length;
    for (let i = 0; i < 10; i++) assert.equal((await send(`${c.url}/again/${i}`)).status, 200);
    const served = await until('10 access-log lines', () => {
      const m = byWorker(c.access().slice(from), '/again/');
      return (m.get(1)?.length ?? 0) + (m.get(2)?.length ?? 0) === 10 ? m : undefined;
    });
    assert.ok((served.get(2)?.length ?? 0) > 0, 'the new worker 2 serves');
    // It started from the shared state: the target ejected earlier is still out for it.
    assert.ok(served.size === 2);
    const seenByBad = bad.seen.length;
    for (let k = 0; k < 10; k++) assert.equal((await send(`${c.url}/pair/restarted-${k}`)).status, 200);
    assert.equal(bad.seen.length, seenByBad, 'the restarted worker knows the ejection');
  });

  test('a killed lead comes back as the lead: the admin API returns with the events and state from before', async () => {
    const lead = c.pids().get(1)!;
    const lines = c.lines().length;
    process.kill(lead, 'SIGKILL');
    await c.waitFor((l) => l.role === 'primary' && l.worker === 1 && / ready/.test(String(l.msg)) && typeof l.admin === 'string', 20_000, lines);
    const events = (await send(`${c.adminUrl}/api/events?type=target.ejected`)).json<{ events: unknown[] }>().events;
    assert.ok(events.length >= 1, 'the new lead has the earlier events');
    const ups = (await send(`${c.adminUrl}/api/upstreams`)).json<{ upstreams: Array<{ name: string; targets: Array<{ id: string; state: string }> }> }>().upstreams;
    assert.equal(ups.find((u) => u.name === 'pair')!.targets.find((t) => t.id === `127.0.0.1:${bad.port}`)!.state, 'ejected', 'and the shared state');
  });

  test('SIGTERM drains the in-flight requests of every worker, then the primary exits 0', async () => {
    const seen = slow.seen.length;
    const from = c.access().length;
    const inflight = Array.from({ length: 4 }, (_, i) => send(`${c.url}/slow/${i}`, { timeout: 10_000 }));
    await until('4 requests at the slow backend', () => (slow.seen.length - seen >= 4 ? true : undefined));
    const t0 = Date.now();
    c.child.kill('SIGTERM');
    const replies = await Promise.all(inflight);
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200, 200],
    );
    assert.ok(replies.every((r) => r.text === 'finally'));
    assert.equal(await c.exited, 0);
    assert.ok(Date.now() - t0 < 8000, 'stopping ends once the calls are done, not at the shutdown timeout');
    assert.equal(await tryConnect(c.port), 'ECONNREFUSED');
    const served = byWorker(c.access().slice(from), '/slow/');
    assert.deepEqual([...served.keys()].sort(), [1, 2], 'both workers had calls in flight, and both finished them');
  });
});

describe('workers: auto', () => {
  test('resolves to one worker per CPU; access-log lines on standard output never interleave', async () => {
    const n = availableParallelism();
    const backend = await startBackend((_req, res) => res.end('x'.repeat(100)));
    const c = await startCluster(`upstreams:\n  main: { targets: [{ url: ${backend.url} }] }\nroutes:\n  - { name: all, match: { path: /* }, upstream: main }\n`, {
      workers: 'auto',
      logFile: false,
      readyMessage: n > 1 ? /workers serving on/ : /gateway listening/,
    });
    try {
      if (n > 1) {
        assert.equal(c.pids().size, n, `${n} workers for ${n} CPUs`);
        assert.match(String(c.lines().find((l) => l.role === 'primary')!.msg), new RegExp(`starting ${n} workers`));
      } else {
        assert.equal(c.pids().size, 0, 'one CPU: a single process, no cluster');
      }
      // Enough concurrent traffic that both workers write batches of hundreds of lines at once.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 40 });
      const total = 3000;
      let next = 0;
      await Promise.all(
        Array.from({ length: 40 }, async () => {
          while (next < total) {
            const i = next++;
            const r = await send(`${c.url}/burst/${i}?pad=${'p'.repeat(200)}`, { agent });
            assert.equal(r.status, 200);
          }
        }),
      );
      agent.destroy();
      const lines = await until('every access-log line', () => {
        const got = byWorker(c.access(), '/burst/');
        return [...got.values()].reduce((a, l) => a + l.length, 0) === total ? got : undefined;
      });
      if (n > 1) assert.equal(lines.size, n, 'every worker wrote to the one standard output');
      // c.access() parses every line: a torn or interleaved line would have thrown.
      assert.equal(new Set([...lines.values()].flat().map((l) => l.requestId)).size, total);
    } finally {
      await c.cleanup();
      await backend.close();
    }
  });
});
