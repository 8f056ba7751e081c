/**
 * A full disk under storage.path, for real: a tmpfs of 512 KB mounted for the test (root only),
 * filled to the last byte by a filler file while the gateway proxies. Proxying goes on (every
 * request answered 200), the operator is told (an error line, a storage.failed event,
 * causeway_call_log_up 0, dropped calls counted), and when the filler is removed the call log is
 * written again (storage.recovered, new calls queryable). A restart on the full disk starts too,
 * without the call log (it cannot create its WAL index), and says so.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { send, sleep, startBackend, until, type Backend } from '../helpers/wire.js';

const dir = mkdtempSync(join(tmpdir(), 'causeway-full-'));
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir]).status === 0;
const skip = mounted ? false : 'cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN); skipping the full-disk test';
if (skip) console.log(`# ${skip}`);

/** Writes zeros into `file` until the file system has no room left. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

describe('a full disk under storage.path', { skip }, () => {
  let backend: Backend;
  let gw: TestGateway;
  const yaml = (port: number) => `
log: { access: false }
storage: { path: ${dir}/calls.db }
upstreams: { main: { targets: [{ url: http://127.0.0.1:${port} }] } }
routes: [{ name: all, match: { path: /* }, upstream: main }]
`;
  before(async () => {
    backend = await startBackend((_req, res) => res.end('ok'));
    gw = await startGateway(yaml(backend.port));
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
    if (mounted) spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  const metric = async (name: string) => {
    const text = await gw.gateway.metrics.registry.metrics();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  };
  const burst = async (n: number, tag: string) => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) statuses.push((await send(`${gw.url}/${tag}/${i}/${'x'.repeat(300)}`)).status);
    return statuses;
  };

  test('proxying goes on, the failure is reported, and the log recovers when space returns', async () => {
    assert.deepEqual(await burst(5, 'before'), Array(5).fill(200));
    gw.gateway.store!.flush();
    assert.equal(await metric('causeway_call_log_up'), 1);
    fill(join(dir, 'filler'));
    // Enough calls to need new pages in the WAL: the writes fail with SQLITE_FULL.
    const during = await burst(600, 'during');
    assert.deepEqual([...new Set(during)], [200], 'every request was proxied while the disk was full');
    assert.ok(await until(() => gw.gateway.events.recent({ types: ['storage.failed'] }).length > 0, 5000), 'a storage.failed event');
    assert.match(gw.gateway.events.recent({ types: ['storage.failed'] })[0]!.reason, /SQLITE_FULL/);
    assert.equal(await metric('causeway_call_log_up'), 0);
    assert.ok((await metric('causeway_call_log_dropped_total')) > 0);
    unlinkSync(join(dir, 'filler'));
    const afterSpace = await burst(5, 'after');
    assert.deepEqual(afterSpace, Array(5).fill(200));
    assert.ok(await until(() => gw.gateway.events.recent({ types: ['storage.recovered'] }).length > 0, 5000), 'a storage.recovered event');
    assert.equal(await metric('causeway_call_log_up'), 1);
    gw.gateway.store!.flush();
    const logged = (await gw.gateway.store!.query({ limit: 1000 })).map((c) => c.path);
    assert.ok(logged.some((p) => p.startsWith('/after/')), 'calls after the recovery are in the call log');
  });

  test('a restart on a full disk starts, proxies and reports', async () => {
    await gw.close();
    fill(join(dir, 'filler'));
    gw = await startGateway(yaml(backend.port));
    const during = await burst(600, 'restart');
    assert.deepEqual([...new Set(during)], [200]);
    await sleep(300);
    // Opening needs room for the WAL index: without it, the gateway runs without the call log.
    assert.ok(await until(() => gw.gateway.events.recent({ types: ['storage.failed'] }).length > 0, 5000));
    unlinkSync(join(dir, 'filler'));
  });
});
