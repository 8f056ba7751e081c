/** The `causeway` command as a user runs it: a real child process, real files, real signals. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { startCli } from '../helpers/cli.js';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(process.cwd(), 'dist/src/cli/main.js');

function run(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
}

function tmpFile(name: string, text: string): { file: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'causeway-cli-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code))));
}

describe('causeway check', () => {
  test('a valid config exits 0 and says so', () => {
    const r = run(['check', '-c', 'examples/causeway.yaml']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /valid — 1 upstreams, 2 routes/);
  });

  test('an invalid config exits 1 with file:line:col, path and a suggestion', () => {
    const t = tmpFile('bad.yaml', 'upstreams:\n  a:\n    targets: [{ url: "http://127.0.0.1:9" }]\n    timeouts: { conect: 1s }\n');
    try {
      const r = run(['check', '-c', t.file]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`${t.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:17 upstreams\\.a\\.timeouts\\.conect: unknown key "conect" — did you mean "connect"\\?`));
    } finally {
      t.cleanup();
    }
  });

  test('--json prints machine-readable problems and lint findings', () => {
    const t = tmpFile('lint.yaml', 'upstreams:\n  a:\n    targets: [{ url: "https://127.0.0.1:80" }]\n    timeouts: { read: 40s, total: 30s }\nroutes:\n  - { name: r, match: { path: /x }, upstream: a }\n');
    try {
      const r = run(['check', '-c', t.file, '--json']);
      assert.equal(r.status, 0, 'warnings do not fail the check');
      const out = JSON.parse(r.stdout);
      assert.equal(out.valid, true);
      const paths = out.findings.map((f: { path: string }) => f.path);
      assert.ok(paths.includes('upstreams.a.targets[0].url'), 'https on port 80 is flagged');
      assert.ok(paths.includes('upstreams.a.timeouts.read'), 'read >= total is flagged');
      for (const f of out.findings) assert.ok(f.fix.length > 0);
    } finally {
      t.cleanup();
    }
  });

  test('a missing file is an error naming the file', () => {
    const r = run(['check', '-c', '/nonexistent/causeway.yaml', '--json']);
    assert.equal(r.status, 1);
    assert.match(JSON.parse(r.stdout).problems[0].message, /cannot read the config file \(ENOENT\)/);
  });
});

describe('causeway CLI basics', () => {
  test('--help lists the commands; an unknown command exits 2 with usage', () => {
    const help = run(['--help']);
    assert.equal(help.status, 0);
    for (const c of ['start', 'check', 'demo']) assert.match(help.stdout, new RegExp(`causeway ${c}`));
    for (const c of ['start', 'check', 'demo']) assert.equal(run([c, '--help']).status, 0);
    const bad = run(['frobnicate']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown command "frobnicate"/);
  });
});

describe('causeway start', () => {
  test('serves, and on SIGTERM lets the in-flight request finish before exiting 0', async () => {
    const backend = http.createServer((_req, res) => setTimeout(() => res.end('slow but fine'), 600));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const bport = (backend.address() as net.AddressInfo).port;
    const t = tmpFile('c.yaml', `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\nstorage: { path: ":memory:" }\nlog: { access: false }\nupstreams:\n  b: { targets: [{ url: "http://127.0.0.1:${bport}" }] }\nroutes:\n  - { name: all, match: { path: /* }, upstream: b }\n`);
    const gw = await startCli(t.file);
    try {
      const inflight = get(`${gw.url}/x`);
      await new Promise((r) => setTimeout(r, 150));
      const stopped = gw.stop();
      const res = await inflight;
      assert.equal(res.status, 200);
      assert.equal(res.body, 'slow but fine');
      assert.equal(await stopped, 0);
    } finally {
      gw.child.kill('SIGKILL');
      backend.close();
      t.cleanup();
    }
  });

  test('serves the admin API; SIGHUP reloads the file, and an invalid file is reported while the old config stays', async () => {
    const backend = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const bport = (backend.address() as net.AddressInfo).port;
    const head = `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\nstorage: { path: ":memory:" }\nlog: { access: false }\nupstreams:\n  b: { targets: [{ url: "http://127.0.0.1:${bport}" }] }\nroutes:\n  - { name: one, match: { path: /one/* }, upstream: b }\n`;
    const t = tmpFile('c.yaml', head);
    const gw = await startCli(t.file);
    const child = gw.child;
    try {
      const routes = async () => (JSON.parse((await get(`${gw.adminUrl}/api/routes`)).body) as { routes: Array<{ name: string }> }).routes.map((r) => r.name);
      assert.deepEqual(await routes(), ['one']);
      writeFileSync(t.file, head + '  - { name: two, match: { path: /two/* }, upstream: b }\n');
      child.kill('SIGHUP');
      for (let i = 0; i < 100 && (await routes()).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await routes(), ['one', 'two']);
      assert.equal((await get(`${gw.url}/two/x`)).status, 200);

      writeFileSync(t.file, head + '  - { name: three, match: { path: /three/* }, upstream: nope }\n');
      child.kill('SIGHUP');
      for (let i = 0; i < 100 && !gw.stderr().includes('invalid'); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(gw.stderr(), new RegExp(`${t.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:9:\\d+ routes\\[1\\]\\.upstream: no upstream named "nope"`));
      assert.deepEqual(await routes(), ['one', 'two'], 'the running config stays');
    } finally {
      child.kill('SIGKILL');
      backend.close();
      t.cleanup();
    }
  });

  test('creates the directory of log.file; a log.file that cannot be created stops the start with one line, in one process or several', async () => {
    const t = tmpFile('c.yaml', '');
    const dir = join(t.file, '..');
    const yaml = (logFile: string, workers = 1) =>
      `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\nworkers: ${workers}\nstorage: { path: ${join(dir, 'c.db')} }\nlog: { file: ${logFile} }\nupstreams:\n  b: { targets: [{ url: "http://127.0.0.1:9" }] }\n`;
    try {
      writeFileSync(t.file, yaml(join(dir, 'new', 'sub', 'access.log')));
      // The startup lines go to log.file too: the helper learns the ports there, not on stdout.
      const child = spawn(process.execPath, [BIN, 'start', '-c', t.file], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        const logged = join(dir, 'new', 'sub', 'access.log');
        for (let i = 0; i < 200 && !/admin API and dashboard/.test(existsSync(logged) ? readFileSync(logged, 'utf8') : ''); i++) await new Promise((r) => setTimeout(r, 50));
        child.kill('SIGTERM');
        assert.equal(await exited(child), 0);
        assert.match(readFileSync(logged, 'utf8'), /gateway listening on http:\/\/127\.0\.0\.1:\d+/);
      } finally {
        child.kill('SIGKILL');
      }
      // Under a regular file: no directory can be made there.
      for (const workers of [1, 2]) {
        writeFileSync(t.file, yaml(join(t.file, 'access.log'), workers));
        const r = run(['start', '-c', t.file]);
        assert.equal(r.status, 1, `workers ${workers}: ${r.stderr}`);
        assert.equal(r.stderr.trim(), `causeway start: cannot open the log file ${join(t.file, 'access.log')} (EEXIST: a part of its path is a file, not a directory); set log.file in ${t.file}`, `workers ${workers}`);
      }
    } finally {
      t.cleanup();
    }
  });
});
