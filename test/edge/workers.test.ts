/** Several listeners (plain HTTP/1.1 and TLS with HTTP/2) under `workers: 2`: every worker serves every listener. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, freePort } from '../helpers/cluster.js';
import { TestPki } from '../helpers/certs.js';
import { h2request } from '../helpers/h2.js';
import { echo, send, sleep, startBackend } from '../helpers/wire.js';

test('workers: 2 serve a plain and a TLS (h2) listener; SIGTERM stops them cleanly', async () => {
  const pki = new TestPki();
  const leaf = pki.leaf('gw', ['gw.test']);
  const backend = await startBackend(echo);
  const [plain, secure, admin] = [await freePort(), await freePort(), await freePort()];
  const file = join(pki.dir, 'c.yaml');
  writeFileSync(
    file,
    [
      'listen:',
      `  - { host: 127.0.0.1, port: ${plain} }`,
      `  - { host: 127.0.0.1, port: ${secure}, tls: { cert: ${leaf.cert}, key: ${leaf.key} } }`,
      `admin: { host: 127.0.0.1, port: ${admin} }`,
      'workers: 2',
      `storage: { path: ${join(pki.dir, 'c.db')} }`,
      `log: { file: ${join(pki.dir, 'c.log')} }`,
      `upstreams: { e: { targets: [{ url: "${backend.url}" }] } }`,
      'routes: [{ name: e, match: { path: /* }, upstream: e }]',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [BIN, 'start', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  try {
    let up = false;
    for (let i = 0; i < 200 && !up; i++) {
      up = await send(`http://127.0.0.1:${plain}/probe`).then((r) => r.status === 200, () => false);
      if (!up) await sleep(100);
    }
    assert.ok(up, `the plain listener never answered: ${err}`);
    for (let i = 0; i < 8; i++) {
      const r = await h2request(`https://127.0.0.1:${secure}`, { path: `/h2/${i}`, tls: { ca: pki.caPem(), servername: 'gw.test' } });
      assert.equal(r.status, 200);
      const h1 = await send(`http://127.0.0.1:${plain}/h1/${i}`);
      assert.equal(h1.status, 200);
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0, err);
    // Connections are dealt round-robin: both workers served both listeners' calls.
    const access = readFileSync(join(pki.dir, 'c.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"kind":"access"') && /"path":"\/h[12]\//.test(l))
      .map((l) => JSON.parse(l) as { worker?: number; path: string });
    assert.equal(access.length, 16);
    const by = (p: string) => new Set(access.filter((a) => a.path.startsWith(p)).map((a) => a.worker));
    assert.deepEqual([...by('/h2/')].sort(), [1, 2], 'h2 over TLS: both workers');
    assert.deepEqual([...by('/h1/')].sort(), [1, 2], 'plain HTTP/1.1: both workers');
  } finally {
    child.kill('SIGKILL');
    await backend.close();
    pki.close();
  }
});
