/**
 * `npm test` passes while the demo runs: scripts/run-tests.mjs holds the default ports (data
 * 8080, admin 9901) for the whole run, as a running `npm start` would, so a test whose gateway
 * or admin listener falls back to a default port fails on every machine. This checks that the
 * guard is in place, and that a listener left at a default port does fail under it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pino from 'pino';
import { AdminServer } from '../src/admin/server.js';
import { parseConfig } from '../src/config/load.js';
import { Gateway } from '../src/gateway.js';

const held = process.env['CAUSEWAY_TEST_DEFAULT_PORTS'];
const skip = held ? false : 'run through scripts/run-tests.mjs (npm test), which holds the default ports';

describe('the default ports are held while the tests run', { skip }, () => {
  const ports = (held ?? '').split(',').map(Number);

  it('names the config defaults', () => {
    const c = parseConfig('upstreams: {}\nadmin: {}\n', 'defaults.yaml', {});
    assert.ok(ports.includes(c.listen[0]!.port), `data port ${c.listen[0]!.port}`);
    assert.ok(ports.includes(c.admin!.port), `admin port ${c.admin!.port}`);
  });

  for (const port of ports) {
    it(`127.0.0.1:${port} is taken`, async () => {
      const s = net.createServer();
      const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
        s.once('error', resolve);
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(null)));
      });
      assert.equal(err?.code, 'EADDRINUSE');
    });
  }

  it('a gateway and an admin listener left at their config defaults cannot start', async () => {
    const config = parseConfig('upstreams: {}\nstorage: { path: ":memory:" }\n', 'defaults.yaml', {});
    const gateway = new Gateway(config, { logger: pino({ level: 'silent' }) });
    const admin = new AdminServer({ gateway }, parseConfig('upstreams: {}\nadmin: {}\n', 'defaults.yaml', {}).admin!);
    try {
      await assert.rejects(gateway.listen(), { code: 'EADDRINUSE' });
      await assert.rejects(admin.listen(), { code: 'EADDRINUSE' });
    } finally {
      await admin.close();
      await gateway.stop(0);
    }
  });
});
