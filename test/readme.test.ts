/**
 * The README, followed the way a new user does: its Quick start (npm start, then the curl table),
 * its configs (lint-clean, as every example we ship), its install instructions (nothing that
 * fetches someone else's package).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { findingPath, lintConfig } from '../src/config/lint.js';
import { demoConfig } from '../src/demo/demo.js';

const README = readFileSync('README.md', 'utf8');

function get(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; cut: boolean }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, cut: false }));
        res.on('error', () => resolve({ status: res.statusCode!, headers: res.headers, body, cut: true }));
      })
      .on('error', reject);
  });
}

describe('README: configs we show are lint-clean', () => {
  const configs: Array<[string, string]> = [
    // A block that shows one section (listeners, say) is checked inside a config with no upstreams.
    ...[...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) => [`README.md yaml block ${i + 1}`, /^upstreams:/m.test(m[1]!) ? m[1]! : `${m[1]!}upstreams: {}\n`] as [string, string]),
    ...readdirSync('examples')
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => [`examples/${f}`, readFileSync(join('examples', f), 'utf8')] as [string, string]),
    ['the demo (causeway demo)', demoConfig(Object.fromEntries(['healthy', 'slow', 'flaky', 'closing', 'down', 'resetting', 'stalled-body', 'malformed'].map((n, i) => [n, `http://127.0.0.1:${9100 + i}`])), { host: '127.0.0.1', port: 8080 })],
  ];
  it('finds the configs', () => assert.ok(configs.length >= 3));
  for (const [name, text] of configs) {
    it(`${name}: valid, zero findings`, () => {
      const findings = lintConfig(parseConfig(text, name, {}));
      assert.deepEqual(findings.map((f) => `${f.severity}: ${findingPath(f)}: ${f.message}`), []);
    });
  }
});

describe('README: installing', () => {
  it('never runs the registry package named causeway (someone else\'s)', () => {
    for (const line of README.split('\n')) if (/^\s*npx causeway\b/.test(line) || /^\s*npm (i|install)( -g)? causeway\s*$/.test(line)) assert.fail(`README tells users to run: ${line}`);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; bin: Record<string, string> };
    assert.notEqual(pkg.name, 'causeway');
    assert.deepEqual(Object.keys(pkg.bin), ['causeway']);
    assert.ok(README.includes(`\`${pkg.name}\``), 'the README names the package');
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { name: string; packages: Record<string, { name?: string }> };
    assert.equal(lock.name, pkg.name);
    assert.equal(lock.packages['']!.name, pkg.name);
  });
});

describe('README: Quick start, walked', { timeout: 120_000 }, () => {
  let child: ChildProcess;
  let url = '';
  let adminUrl = '';
  let out = '';

  before(async () => {
    // `npm start` is this command; the walk gives it port 0 for both listeners (`npm start -- --port 0 --admin-port 0`).
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    const [node, script, ...args] = pkg.scripts['start']!.split(' ');
    assert.equal(node, 'node');
    child = spawn(process.execPath, [script!, ...args, '--port', '0', '--admin-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const end = Date.now() + 20_000;
    while (!/Ctrl-C stops/.test(out) && Date.now() < end && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    url = /gateway on (http:\/\/\S+?),/.exec(out)?.[1] ?? '';
    adminUrl = /Dashboard: (http:\/\/\S+?)\/ /.exec(out)?.[1] ?? '';
    assert.ok(url && adminUrl, `the demo printed its addresses:\n${out}`);
  });
  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  // The table under "Quick start": | `/path` | 200 or `504 CODE` ... | because |
  const rows = [...README.slice(README.indexOf('## Quick start')).matchAll(/^\| `(\/[^`]*)`( \(two at once\))? \| ([^|]+) \|/gm)].map((m) => ({
    path: m[1]!,
    twice: Boolean(m[2]),
    status: Number(/\d{3}/.exec(m[3]!)![0]),
    code: /`([A-Z_]+)`/.exec(m[3]!)?.[1] ?? null,
    cutBody: /body is cut/.test(m[3]!),
  }));

  it('the table lists the demo routes', () => assert.ok(rows.length >= 12, `${rows.length} rows`));

  it('every curl in the table gives the documented status and code', async () => {
    for (const row of rows) {
      if (row.twice) {
        const [first, second] = await Promise.all([get(url + row.path), new Promise((r) => setTimeout(r, 100)).then(() => get(url + row.path))]);
        assert.equal(first.status, 200, 'the first call holds the only connection');
        assert.equal(second.status, row.status, `${row.path}: ${second.body}`);
        assert.equal(second.headers['x-causeway-error'], row.code);
        continue;
      }
      const r = await get(url + row.path);
      assert.equal(r.status, row.status, `${row.path}: ${r.body}`);
      if (row.cutBody) {
        assert.ok(r.cut || r.body.length < 100, `${row.path}: the body is cut`);
        continue;
      }
      assert.equal(r.headers['x-causeway-error'] ?? null, row.code, row.path);
      if (row.code) {
        const body = JSON.parse(r.body) as { error: { code: string; hint: string } };
        assert.equal(body.error.code, row.code);
        assert.ok(body.error.hint.length > 20, `${row.path}: the demo exposes the hint`);
      }
      assert.ok(out.includes(`${url}${row.path}`), `the banner has a curl for ${row.path}`);
    }
  });

  it('the dashboard the banner names answers, and reads the call log', async () => {
    assert.match((await get(`${adminUrl}/`)).headers['content-type']!, /text\/html/);
    const calls = JSON.parse((await get(`${adminUrl}/api/calls?code=UPSTREAM_CONNECTION_REFUSED`)).body) as { calls: unknown[] };
    assert.ok(calls.calls.length >= 1);
  });
});
