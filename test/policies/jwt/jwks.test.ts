/**
 * The JWKS cache against a real loopback endpoint, with the clock injected: stale keys are
 * refetched in the background and stay in use when that fails, and a provider that stays down is
 * asked at most once a second, not once per call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { JwksSource } from '../../../src/policies/jwt/jwks.js';

test('a stale set is refetched in the background, kept when that fails, and a down provider is asked at most once a second', async () => {
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  let hits = 0;
  let up = true;
  const server = http.createServer((_req, res) => {
    hits++;
    if (up) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    else res.writeHead(503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    let clock = 1_000_000;
    const source = new JwksSource(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, 'https://id/', { timeout: 1000, cacheFor: 60_000, minRefreshInterval: 30_000 }, undefined, () => clock);
    const header = { alg: 'ES256', kid: 'k1' };
    const token = { payload: new Uint8Array(), signature: new Uint8Array() } as never;
    assert.ok(await source.getKey(header, token));
    assert.equal(hits, 1);
    up = false;
    clock += 61_000; // stale
    for (let i = 0; i < 20; i++) {
      assert.ok(await source.getKey(header, token), 'the keys there are stay in use');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(hits, 2, 'one background refetch, not one per call');
    clock += 1000;
    await source.getKey(header, token);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(hits, 3, 'tried again a second later');
    up = true;
    clock += 1000;
    await source.getKey(header, token);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(hits, 4);
    clock += 1000;
    await source.getKey(header, token);
    assert.equal(hits, 4, 'fresh again: no more fetches');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
