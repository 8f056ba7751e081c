/**
 * `causeway start` as a user meets it: the startup lines appear at once on a pipe, before any
 * access line; and every way a start can fail is one line on stderr naming the setting to change.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, runCli } from '../helpers/cli.js';

const UPSTREAMS = 'upstreams:\n  b: { targets: [{ url: "http://127.0.0.1:9" }] }\nroutes:\n  - { name: all, match: { path: /* }, upstream: b }\n';

describe('causeway start: the startup lines', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'causeway-start-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints where it listens, the dashboard, the config file and the call log at once, before any access line', async () => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\nstorage: { path: ${join(dir, 'data', 'calls.db')} }\n${UPSTREAMS}`);
    // stdout is a pipe, as under a terminal multiplexer, systemd or docker: nothing may wait for a fuller buffer.
    const child = spawn(process.execPath, [BIN, 'start', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      const started = Date.now();
      while (!out.includes('call log') && Date.now() - started < 15_000) await new Promise((r) => setTimeout(r, 20));
      const msgs = out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);
      assert.match(msgs[0]!, /^gateway listening on http:\/\/127\.0\.0\.1:\d+$/);
      assert.match(msgs[1]!, /^admin API and dashboard on http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal(msgs[2], `config ${file}`);
      assert.equal(msgs[3], `call log ${join(dir, 'data', 'calls.db')}`);
      const url = /gateway listening on (\S+)/.exec(msgs[0]!)![1]!;
      await new Promise<void>((resolve, reject) => http.get(`${url}/x`, (res) => res.resume().on('end', resolve)).on('error', reject));
      while (!out.includes('"kind":"access"') && Date.now() - started < 15_000) await new Promise((r) => setTimeout(r, 20));
      const kinds = out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { kind: string }).kind);
      assert.deepEqual(kinds.slice(0, 5), ['lifecycle', 'lifecycle', 'lifecycle', 'lifecycle', 'access']);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('causeway start with workers: the startup lines', () => {
  it('names the address, the dashboard, the config file and the call log once every worker is ready', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'causeway-start-workers-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\nworkers: 2\nstorage: { path: ${join(dir, 'calls.db')} }\n${UPSTREAMS}`);
    const child = spawn(process.execPath, [BIN, 'start', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      const started = Date.now();
      while (!out.includes('"msg":"call log') && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50));
      const msgs = out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);
      assert.ok(msgs.some((m) => /^admin API and dashboard on http:\/\/127\.0\.0\.1:\d+\/$/.test(m)), msgs.join('\n'));
      assert.ok(msgs.some((m) => /^2 workers serving on 127\.0\.0\.1:\d+$/.test(m)), msgs.join('\n'));
      assert.ok(msgs.includes(`config ${file}`), msgs.join('\n'));
      assert.ok(msgs.includes(`call log ${join(dir, 'calls.db')}`), msgs.join('\n'));
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('causeway start: every start failure is one line naming the setting', () => {
  let dir: string;
  let blocker: net.Server;
  let busy: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'causeway-start-fail-'));
    blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    busy = (blocker.address() as net.AddressInfo).port;
    writeFileSync(join(dir, 'a-file'), 'not a directory');
    mkdirSync(join(dir, 'a-dir'));
    mkdirSync(join(dir, 'locked'));
    chmodSync(join(dir, 'locked'), 0o500);
  });
  after(() => {
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ports = (data: number | string = 0, admin: number | string = 0) => `listen: { host: 127.0.0.1, port: ${data} }\nadmin: { host: 127.0.0.1, port: ${admin} }\n`;
  const table: Array<{ name: string; yaml: () => string; line: (file: string) => RegExp; nonRoot?: boolean }> = [
    { name: 'a busy data port', yaml: () => ports(busy) + 'storage: { path: ":memory:" }\n', line: (f) => new RegExp(`^the data port 127\\.0\\.0\\.1:${busy} is in use; set listen\\.port in ${re(f)}$`) },
    { name: 'a busy admin port', yaml: () => ports(0, busy) + 'storage: { path: ":memory:" }\n', line: (f) => new RegExp(`^the admin port 127\\.0\\.0\\.1:${busy} is in use; set admin\\.port in ${re(f)}$`) },
    {
      name: 'a busy data port with workers: 2',
      yaml: () => ports(busy) + `workers: 2\nstorage: { path: ${join(dir, 'w.db')} }\n`,
      line: (f) => new RegExp(`^worker \\d could not start: the data port 127\\.0\\.0\\.1:${busy} is in use; set listen\\.port in ${re(f)}$`),
    },
    {
      name: 'a TLS certificate that does not exist',
      yaml: () => `listen: { host: 127.0.0.1, port: 0, tls: { cert: ${join(dir, 'missing.pem')}, key: ${join(dir, 'missing.key')} } }\nadmin: { host: 127.0.0.1, port: 0 }\nstorage: { path: ":memory:" }\n`,
      line: (f) => new RegExp(`^cannot read the certificate ${re(join(dir, 'missing.pem'))} \\(ENOENT\\); set listen\\.tls\\.cert in ${re(f)}$`),
    },
    {
      name: 'the second of two listeners on a busy port',
      yaml: () => `listen:\n  - { host: 127.0.0.1, port: 0 }\n  - { host: 127.0.0.1, port: ${busy} }\nadmin: { host: 127.0.0.1, port: 0 }\nstorage: { path: ":memory:" }\n`,
      line: (f) => new RegExp(`^the data port 127\\.0\\.0\\.1:${busy} is in use; set listen\\[1\\]\\.port in ${re(f)}$`),
    },
    { name: 'log.file is a directory', yaml: () => ports() + `storage: { path: ":memory:" }\nlog: { file: ${join(dir, 'a-dir')} }\n`, line: (f) => new RegExp(`^cannot open the log file ${re(join(dir, 'a-dir'))} \\(EISDIR: it is a directory\\); set log\\.file in ${re(f)}$`) },
    { name: 'log.file in a directory this user cannot write', yaml: () => ports() + `storage: { path: ":memory:" }\nlog: { file: ${join(dir, 'locked', 'sub', 'x.log')} }\n`, line: (f) => new RegExp(`^cannot open the log file .* \\(EACCES: no permission to create or write it\\); set log\\.file in ${re(f)}$`), nonRoot: true },
    { name: 'log.file under a regular file', yaml: () => ports() + `storage: { path: ":memory:" }\nlog: { file: ${join(dir, 'a-file', 'x.log')} }\n`, line: (f) => new RegExp(`^cannot open the log file .* \\((EEXIST|ENOTDIR): .*\\); set log\\.file in ${re(f)}$`) },
  ];
  for (const c of table) {
    it(c.name, async () => {
      const file = join(dir, `${c.name.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(file, c.yaml() + UPSTREAMS);
      // Root writes anywhere: run as nobody so that a permission is what stops it.
      const asNobody = c.nonRoot && process.getuid?.() === 0;
      if (asNobody) chmodSync(dir, 0o755);
      const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'start', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'], ...(asNobody ? { uid: 65534, gid: 65534 } : {}) });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.once('close', (status) => resolve({ status, stderr }));
      });
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `one line, no stack:\n${r.stderr}`);
      assert.ok(lines[0]!.startsWith('causeway start: '), lines[0]);
      assert.match(lines[0]!.slice('causeway start: '.length), c.line(file));
    });
  }

  it('a config file that does not exist is one line naming it', () => {
    const r = runCli(['start', '-c', join(dir, 'nope.yaml')]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), `${join(dir, 'nope.yaml')}:0:0 (document): cannot read the config file (ENOENT)`);
  });
});

function re(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
