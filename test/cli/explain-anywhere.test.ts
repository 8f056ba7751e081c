/**
 * `causeway explain` and `causeway doctor` as a user runs them, from a directory that is not the
 * project's: the demo's calls (an in-memory call log) and upstreams through the demo's admin API,
 * and a config whose relative storage.path is resolved against the config file's directory.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemo, type RunningDemo } from '../../src/demo/demo.js';
import { openCallStore } from '../../src/observe/store.js';
import { attempt, call } from '../helpers/calls.js';
import { getAsClient } from '../helpers/client-view.js';

const BIN = join(process.cwd(), 'dist/src/cli/main.js');

function cli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CAUSEWAY_CONFIG: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}


describe('explain from any directory', { timeout: 60_000 }, () => {
  let demo: RunningDemo;
  let dir: string;
  before(async () => {
    demo = await startDemo({ port: 0, adminPort: 0, host: '127.0.0.1', quiet: true });
    dir = mkdtempSync(join(tmpdir(), 'causeway-explain-anywhere-'));
  });
  after(async () => {
    await demo.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("explains the demo's calls through its admin API, the cut body as what the client saw", async () => {
    const stalled = await getAsClient(`${demo.url}/stalled/hello`);
    const down = await getAsClient(`${demo.url}/down/hello`);
    assert.equal(stalled.status, 200);
    await new Promise((r) => setTimeout(r, 400));

    const s = await cli(['explain', stalled.id, '--admin', demo.adminUrl], dir);
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stdout, new RegExp(`GET /stalled/hello → 200 sent, then cut after ${stalled.bytes} body bytes: UPSTREAM_BODY_TIMEOUT`));
    assert.match(s.stdout, /stalled for more than 1000 ms/);
    assert.doesNotMatch(s.stdout, /\?/);

    const d = await cli(['explain', down.id, '--admin', demo.adminUrl, '--json'], dir);
    assert.equal(d.status, 0, d.stderr);
    const e = JSON.parse(d.stdout);
    assert.equal(e.status, 502);
    assert.equal(e.classification.code, 'UPSTREAM_CONNECTION_REFUSED');
    assert.equal(e.classification.side, 'backend');
    assert.match(e.classification.lowLevel, /^ECONNREFUSED: .*refused or filtered/);

    // The admin API's own record agrees with explain: the status the client got, the failure as the code.
    const rec = (await (await fetch(`${demo.adminUrl}/api/calls/${stalled.id}`)).json()) as { call: { status: number; code: string; bytesOut: number } };
    assert.deepEqual([rec.call.status, rec.call.code, rec.call.bytesOut], [200, 'UPSTREAM_BODY_TIMEOUT', stalled.bytes]);
  });

  it("doctor judges the demo's upstreams from its running config, with no config file", async () => {
    const r = await cli(['doctor', 'failover', '--admin', demo.adminUrl, '--no-gateway', '--json'], dir);
    assert.equal(r.status, 1, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.targets.length, 2);
    assert.equal(rep.summary.down.length, 1);
    assert.equal(rep.side, 'backend', 'a stopped process on a reachable host is the backend side');
    assert.deepEqual(rep.targets.map((t: { verdict: string }) => t.verdict), ['down', 'ok']);
  });

  it('says where it looked when no gateway answers', async () => {
    const r = await cli(['explain', 'nope-nope-nope', '--admin', 'http://127.0.0.1:1'], dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /admin API at http:\/\/127\.0\.0\.1:1 did not answer .*--admin URL/);
  });

  it("finds the call log a config names relative to the config file's directory, not the working directory", async () => {
    const sub = join(dir, 'etc', 'causeway');
    mkdirSync(join(sub, 'data'), { recursive: true });
    writeFileSync(join(sub, 'causeway.yaml'), 'storage: { path: ./data/calls.db }\nadmin: { host: 127.0.0.1, port: 1 }\nupstreams: {}\nroutes: []\n');
    const store = openCallStore({ path: join(sub, 'data', 'calls.db') });
    const c = call({ code: 'UPSTREAM_CONNECT_TIMEOUT', status: 504, attempts: [attempt('100.9.8.7:80', 'UPSTREAM_CONNECT_TIMEOUT', { limitMs: 750 })] });
    store.record(c);
    store.flush();
    await store.close();
    const r = await cli(['explain', c.requestId, '-c', 'etc/causeway/causeway.yaml'], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /timeout connecting to orders within 750 ms/);
    // From another directory, with the config given by its absolute path, the same file is found.
    const elsewhere = await cli(['explain', c.requestId, '-c', join(sub, 'causeway.yaml')], tmpdir());
    assert.equal(elsewhere.status, 0, elsewhere.stderr);
  });
});
