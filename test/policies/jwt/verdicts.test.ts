/**
 * The verified-token memory: a token verified once is not checked again within VERDICT_TTL, but
 * never past its own `exp`, and a refused token is never remembered. The clock is injected (the
 * only mock the project allows) and drives jose's checks too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { JwtIssuers, VERDICT_TTL } from '../../../src/policies/jwt/index.js';

test('a remembered verdict ends at the token\'s exp; a refusal is never remembered', async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  let clock = Date.now();
  const issuers = new JwtIssuers(
    { issuers: [{ issuer: 'https://id/', audience: 'a', algorithms: ['ES256'], keys: [{ pem: await exportSPKI(publicKey) }], consumerClaim: 'sub', clockSkew: 0 }], jwks: { timeout: 1000, cacheFor: 60_000, minRefreshInterval: 1000 } },
    undefined,
    () => clock,
  );
  const exp = Math.floor(clock / 1000) + 5;
  const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://id/').setAudience('a').setExpirationTime(exp).sign(privateKey);
  assert.deepEqual(await issuers.verify(token), { consumer: 'alice', scopes: new Set(), issuer: 'https://id/' });
  clock += 2000;
  assert.equal('consumer' in (await issuers.verify(token)), true, 'still valid, from memory');
  clock = exp * 1000 + 1;
  const expired = await issuers.verify(token);
  assert.ok('code' in expired && expired.code === 'UNAUTHORIZED' && /the token expired/.test(expired.detail), JSON.stringify(expired));
  clock -= 2000;
  assert.ok('consumer' in (await issuers.verify(token)), 'the refusal was not remembered: checked again, valid at this time');
  assert.ok(VERDICT_TTL <= 60_000, 'a withdrawn key stops verifying remembered tokens within a minute');
});
