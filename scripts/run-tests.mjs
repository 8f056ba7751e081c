#!/usr/bin/env node
// Runs the compiled test files with node's own test runner. Node 20's --test takes no globs,
// so the files are listed here; pass substrings to run a subset: `node scripts/run-tests.mjs router`.
//
// While the tests run, this process holds the default ports (data 8080, admin 9901, which the
// demo uses too) unless something already does: a test that leaves a listener at a default port
// fails here the way it would next to a running `npm start`, not only on a developer's machine.
// At the end it names every failed and cancelled test, and exits non-zero when there is one.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const DEFAULT_PORTS = [8080, 9901];

const root = 'dist/test';
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(root);
const filters = process.argv.slice(2);
const selected = filters.length ? files.filter((f) => filters.some((s) => f.includes(s))) : files;
if (!selected.length) {
  console.error('no test files matched');
  process.exit(1);
}

/** Listens on 127.0.0.1:port; resolves with the server, or null when the port is taken already. */
function hold(port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', (err) => (err.code === 'EADDRINUSE' ? resolve(null) : reject(err)));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
const held = (await Promise.all(DEFAULT_PORTS.map(hold))).filter(Boolean);

const dir = mkdtempSync(join(tmpdir(), 'causeway-test-run-'));
const failuresFile = join(dir, 'failures.jsonl');
const reporter = fileURLToPath(new URL('./failures-reporter.mjs', import.meta.url));
const child = spawn(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${reporter}`, `--test-reporter-destination=${failuresFile}`, ...selected],
  { stdio: 'inherit', env: { ...process.env, CAUSEWAY_TEST_DEFAULT_PORTS: DEFAULT_PORTS.join(',') } },
);
const status = await new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
for (const s of held) s.close();

let failures = [];
try {
  failures = readFileSync(failuresFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
} catch {
  /* no file: the runner itself failed before reporting */
}
rmSync(dir, { recursive: true, force: true });

const where = (f) => (f.file ? f.file.replace(`${process.cwd()}/`, '') : '?');
// A suite whose hook failed is reported as failed along with its cancelled tests; list leaves and hooks alike.
const failed = failures.filter((f) => f.kind === 'failed');
const cancelled = failures.filter((f) => f.kind === 'cancelled');
if (failed.length || cancelled.length) {
  console.log(`\n${failed.length} failed, ${cancelled.length} cancelled:`);
  for (const f of [...failed, ...cancelled]) console.log(`  ${f.kind === 'failed' ? '✖' : '⊘'} ${f.kind} ${where(f)} › ${f.name}${f.reason ? ` — ${f.reason}` : ''}`);
} else if (status !== 0) {
  console.log(`\nthe test runner exited with ${status} without naming a failed test`);
}
process.exit(failed.length || cancelled.length ? 1 : status);
