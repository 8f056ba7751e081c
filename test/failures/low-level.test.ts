/**
 * The table test generated from the enumeration: every error Node, the resolver, undici, llhttp
 * and OpenSSL can raise on the way to a backend is named by src/failures/low-level.ts, and
 * classify() turns each, in each phase, into the code, RFC 9209 type and side the data says.
 * The universes come from Node and undici themselves, so a new errno, DNS or undici code that
 * the data does not classify fails here.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import util from 'node:util';
import { classify } from '../../src/failures/classify.js';
import { ERROR_CLASSES, errorClass, lowLevelMeaning, lowLevelTable, type Phase } from '../../src/failures/low-level.js';
import { REGISTRY, failure } from '../../src/failures/registry.js';

const require = createRequire(import.meta.url);
const undiciDir = dirname(require.resolve('undici'));
const ATTEMPT_PHASES: Phase[] = ['dns', 'connect', 'tls', 'send', 'ttfb', 'body'];

/** Every name libuv and the kernel headers give an errno (what net/tls report as err.code). */
const ERRNO = [...new Set([...[...util.getSystemErrorMap().values()].map(([name]) => name), ...Object.keys(os.constants.errno)])];
/** The dns module's error constants (c-ares) and getaddrinfo's EAI_* (dns.lookup). */
const DNS = [...new Set([...Object.values(dns as unknown as Record<string, unknown>).filter((v): v is string => typeof v === 'string' && /^E[A-Z_]+$/.test(v)), ...ERRNO.filter((e) => e.startsWith('EAI_'))])];
/** undici's error codes, from its errors.js. */
const UNDICI = [...new Set([...readFileSync(join(undiciDir, 'lib/core/errors.js'), 'utf8').matchAll(/'(UND_ERR_[A-Z_]+)'/g)].map((m) => m[1]!))];
/** llhttp's error enum, as undici names parser errors (HPE_<name>). */
const LLHTTP = Object.keys((require(join(undiciDir, 'lib/llhttp/constants.js')) as { ERROR: Record<string, number> }).ERROR).map((k) => `HPE_${k}`);
/** The X509_V_ERR results Node names as err.code (src/crypto/crypto_common.cc, X509_ERROR_CODES). */
const X509 = [
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_CRL', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE', 'CRL_SIGNATURE_FAILURE', 'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID', 'CRL_HAS_EXPIRED', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD', 'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD', 'OUT_OF_MEM', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_CHAIN_TOO_LONG', 'CERT_REVOKED', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE',
  'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH',
];
/** The TLS codes the fault lab and Node's tls module raise by name. */
const TLS_NAMED = ['ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_HANDSHAKE_TIMEOUT', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'];

const UNIVERSES: Array<[string, string[], Phase]> = [
  ['errno (libuv, os.constants.errno)', ERRNO, 'connect'],
  ['dns (dns module constants, EAI_*)', DNS, 'dns'],
  ['undici (lib/core/errors.js)', UNDICI, 'ttfb'],
  ['llhttp (ERROR enum)', LLHTTP, 'ttfb'],
  ['X509 verification results', X509, 'tls'],
  ['TLS codes named by node and OpenSSL', TLS_NAMED, 'tls'],
];

describe('the enumeration covers every error Node can raise', () => {
  for (const [name, list, phase] of UNIVERSES) {
    test(`${name}: ${list.length} names, each classified`, () => {
      assert.ok(list.length > 5, 'the universe was read');
      const missing = list.filter((e) => !errorClass(e, phase));
      assert.deepEqual(missing, [], `add these to src/failures/low-level.ts: ${missing.join(' ')}`);
    });
  }
  test('every errno is named exactly (no errno is classified only by a prefix)', () => {
    const named = new Set(ERROR_CLASSES.flatMap((c) => Object.keys(c.errors)));
    assert.deepEqual(ERRNO.filter((e) => !named.has(e)), []);
  });
  test('no error is listed twice among the classes of one origin family', () => {
    for (const group of [['errno', 'undici', 'llhttp', 'openssl', 'x509', 'node'], ['dns']]) {
      const seen = new Map<string, string>();
      for (const c of ERROR_CLASSES.filter((k) => group.includes(k.origin))) {
        for (const e of Object.keys(c.errors)) {
          assert.ok(!seen.has(e), `${e} is in ${seen.get(e)} and ${c.id}`);
          seen.set(e, c.id);
        }
      }
    }
  });
});

// The generated table: one row per (error, phase).
describe('classify over the whole enumeration', () => {
  for (const c of ERROR_CLASSES) {
    test(`${c.id}: ${Object.keys(c.errors).length} errors × ${ATTEMPT_PHASES.length} phases`, () => {
      for (const error of Object.keys(c.errors)) {
        for (const phase of ATTEMPT_PHASES) {
          const cls = errorClass(error, phase)!;
          const got = classify({ phase, errorCode: error, tls: true });
          const expected = cls.codes[phase] ?? cls.codes.default;
          const where = `${error} in ${phase}`;
          if (phase === 'dns' && cls.side !== 'gateway') assert.equal(got.code, 'UPSTREAM_DNS_FAILURE', where);
          else {
            assert.equal(got.code, expected, where);
            assert.equal(got.side, cls.side, `${where}: side`);
            assert.equal(got.proxyStatus, cls.proxyStatus ?? failure(expected).proxyStatus, `${where}: Proxy-Status`);
          }
          assert.ok(REGISTRY.has(got.code), where);
          const msg = failure(got.code).message({ upstream: 'orders', detail: error });
          assert.ok(!/undefined|null|NaN|\?/.test(msg), `${where}: ${msg}`);
        }
        const m = lowLevelMeaning(error, 'connect')!;
        assert.ok(m.says.startsWith(`${error}: `) && m.says.length > error.length + 20, `${error}: says`);
      }
    });
  }

  test('families open-ended by prefix land in their class', () => {
    assert.equal(classify({ phase: 'tls', errorCode: 'ERR_TLS_CERT_SOMETHING_NEW', tls: true }).proxyStatus, 'tls_certificate_error');
    assert.equal(errorClass('ERR_SSL_SOME_FUTURE_REASON', 'tls')!.id, 'tls-handshake-failed');
    assert.equal(errorClass('HPE_CB_SOMETHING', 'ttfb')!.id, 'undici-gateway-bug');
  });

  test('the same name means what its phase says: ECONNREFUSED from the resolver is not the backend refusing', () => {
    assert.match(lowLevelMeaning('ECONNREFUSED', 'dns')!.says, /DNS servers/);
    assert.match(lowLevelMeaning('ECONNREFUSED', 'connect')!.says, /refused or filtered/);
  });

  test('every class has words: what it means and what to do, and codes the registry knows', () => {
    for (const c of ERROR_CLASSES) {
      assert.ok(c.means.length > 20 && c.remedy.length > 20, c.id);
      for (const code of Object.values(c.codes)) assert.ok(REGISTRY.has(code), `${c.id}: ${code}`);
    }
  });
});

describe('docs/errors.md "What the OS said → what Causeway says"', () => {
  test('holds the table made from the data (npm run errors-table rewrites it)', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const a = doc.indexOf('<!-- low-level table:');
    const b = doc.indexOf('<!-- end of the low-level table -->');
    assert.ok(a > 0 && b > a, 'the generated block is there');
    const block = doc.slice(doc.indexOf('\n', a) + 1, b).trim();
    assert.equal(block, lowLevelTable(), 'docs/errors.md is out of step with src/failures/low-level.ts: run npm run errors-table');
  });
});
