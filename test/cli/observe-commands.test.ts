/** explain, doctor and check as a user runs them: real processes, a real call log on disk, SIGTERM. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as B from '../helpers/backends.js';
import { openCallStore } from '../../src/observe/store.js';
import { call } from '../helpers/calls.js';
import { startCli } from '../helpers/cli.js';

const BIN = join(process.cwd(), 'dist/src/cli/main.js');
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });

/** Runs the CLI without blocking this process (whose backends must keep answering). */
function runAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function get(url: string): Promise<{ status: number; id: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, id: res.headers['x-request-id'] as string }));
      })
      .on('error', reject);
  });
}

describe('causeway start → explain, doctor, check', { timeout: 60_000 }, () => {
  let dir: string;
  let down: B.TestBackend;
  let good: B.TestBackend;
  let cfg: string;
  let db: string;
  const ids: string[] = [];
  let failedId = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'causeway-cli-observe-'));
    down = await B.refusing();
    good = await B.ok();
    db = join(dir, 'data', 'calls.db');
    cfg = join(dir, 'causeway.yaml');
    writeFileSync(
      cfg,
      `listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
log: { access: false }
storage: { path: ${db} }
upstreams:
  orders: { targets: [{ url: "${down.url}" }], retries: { attempts: 1 } }
  web: { targets: [{ url: "${good.url}" }] }
routes:
  - { name: orders, match: { path: /api/orders/* }, upstream: orders }
  - { name: web, match: { path: /* }, upstream: web }
`,
    );
    const gw = await startCli(cfg);
    for (let i = 0; i < 31; i++) ids.push((await get(`${gw.url}/hello`)).id);
    for (let i = 0; i < 3; i++) {
      const r = await get(`${gw.url}/api/orders/${i}`);
      ids.push(r.id);
      failedId = r.id;
    }
    // SIGTERM right after the last response: the queued batch must still reach the file.
    assert.equal(await gw.stop(), 0);
  });
  after(async () => {
    await down.close();
    await good.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM loses no call: every request id is in the call log', async () => {
    const store = openCallStore({ path: db, readonly: true });
    try {
      for (const id of ids) assert.ok(store.get(id), `${id} in the call log`);
    } finally {
      await store.close();
    }
  });

  it('explain prints the timeline, the classification, the fix and the context', () => {
    const r = run(['explain', failedId, '-c', cfg]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /→ 502 UPSTREAM_CONNECTION_REFUSED/);
    assert.match(r.stdout, /#1 127\.0\.0\.1:\d+: backend unavailable — UPSTREAM_CONNECTION_REFUSED in connect \(ECONNREFUSED\)/);
    assert.match(r.stdout, /connect +█+ [\d.]+ ms/);
    assert.match(r.stdout, /Fix: /);
    assert.match(r.stdout, new RegExp(`2 other calls to orders failed with UPSTREAM_CONNECTION_REFUSED in the 5 minutes around it; all on target 127\\.0\\.0\\.1:${down.port}\\.`));
    const j = run(['explain', failedId, '--db', db, '--json']);
    assert.equal(j.status, 0, j.stderr);
    const e = JSON.parse(j.stdout);
    assert.equal(e.classification.code, 'UPSTREAM_CONNECTION_REFUSED');
    assert.equal(e.context.sameFailure, 2);
  });

  it('explain of an unknown id exits 1 and says where it looked', () => {
    const r = run(['explain', 'nope-nope-nope', '-c', cfg]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no call nope-nope-nope in .*calls\.db/);
  });

  it('doctor probes the upstream of a config and, with the gateway down, judges from the direct probe', async () => {
    const r = await runAsync(['doctor', 'orders', '-c', cfg, '--json']);
    assert.equal(r.status, 1, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.targets[0].code, 'UPSTREAM_CONNECTION_REFUSED');
    assert.equal(rep.gateway.reachable, false);
    const text = await runAsync(['doctor', good.url]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /✓ tcp/);
    assert.match(text.stdout, /✓ http .*→ 200/);
  });

  it('check reads the call log for advice and exits 0 on warnings', () => {
    // Enrich the log with slow calls on web (read defaults to 15s).
    const store = openCallStore({ path: db });
    for (let i = 0; i < 60; i++) store.record(call({ route: 'web', upstream: 'web', time: Date.now() - 60_000, durationMs: i < 5 ? 16_000 : 50 }));
    store.flush();
    void store.close();
    const r = run(['check', '-c', cfg, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const f = out.findings.find((x: { path: string }) => x.path === 'upstreams.web.timeouts.read');
    assert.ok(f, r.stdout + r.stderr);
    assert.match(f.fix, /^raise read to 45s: p99 is 1[5-7]\.\ds/);
  });
});
