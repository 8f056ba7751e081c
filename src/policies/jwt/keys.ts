/**
 * An issuer's keys given in the config: PEM public keys or certificates (inline or a file),
 * JWKs, or an HMAC secret. Chosen per token by kid when both name one, and by key type.
 */
import { X509Certificate, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors, type JWTVerifyGetKey } from 'jose';
import type { JwtIssuerConfig } from '../../config/schema.js';

interface StaticKey {
  kid: string | undefined;
  key: KeyObject;
}

/** The key type each algorithm family needs. */
function keyTypeFor(alg: string): string {
  if (alg.startsWith('HS')) return 'secret';
  if (alg.startsWith('ES')) return 'ec';
  if (alg === 'EdDSA') return 'ed25519|ed448';
  return 'rsa|rsa-pss';
}

function pemKey(pem: string): KeyObject {
  const text = pem.includes('-----BEGIN') ? pem : readFileSync(pem, 'utf8');
  return text.includes('BEGIN CERTIFICATE') ? new X509Certificate(text).publicKey : createPublicKey(text);
}

/** The getKey of an issuer configured with `keys:` or `secret:`. Throws on a key it cannot read. */
export function staticKeys(cfg: JwtIssuerConfig): JWTVerifyGetKey {
  const keys: StaticKey[] = [];
  if (cfg.secret !== undefined) keys.push({ kid: undefined, key: createSecretKey(Buffer.from(cfg.secret, 'utf8')) });
  for (const k of cfg.keys ?? []) {
    if ('pem' in k) keys.push({ kid: k.kid, key: pemKey(k.pem) });
    else keys.push({ kid: typeof k.jwk['kid'] === 'string' ? k.jwk['kid'] : undefined, key: createPublicKey({ key: k.jwk as never, format: 'jwk' }) });
  }
  return (header) => {
    const want = keyTypeFor(header.alg ?? '');
    const match = keys.find((k) => (header.kid === undefined || k.kid === undefined || k.kid === header.kid) && want.split('|').includes(k.key.type === 'secret' ? 'secret' : (k.key.asymmetricKeyType ?? '')));
    if (!match) throw new errors.JWKSNoMatchingKey();
    return match.key;
  };
}
