/** `causeway check` on listener certificates: every way a certificate file can be wrong, as a table, and the CLI end to end. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { tlsFindings } from '../../src/edge/check.js';
import { TestPki, type Pair } from '../helpers/certs.js';

const BIN = join(process.cwd(), 'dist/src/cli/main.js');

describe('causeway check: listener certificates', () => {
  let pki: TestPki;
  let good: Pair;
  let other: Pair;
  let expired: Pair;
  let soon: Pair;
  let notPem: string;

  before(() => {
    pki = new TestPki();
    good = pki.leaf('good', ['api.test']);
    other = pki.leaf('other', ['other.test']);
    expired = pki.leaf('expired', ['old.test'], { fromDays: -30, toDays: -2 });
    soon = pki.leaf('soon', ['soon.test'], { toDays: 5 });
    notPem = join(pki.dir, 'not.pem');
    writeFileSync(notPem, 'hello\n');
  });
  after(() => pki.close());

  const yaml = (tls: string) => `listen:\n  - { port: 8080 }\n  - { port: 8443, tls: ${tls} }\nupstreams: { u: { targets: [{ url: "http://127.0.0.1:9" }] } }\n`;
  const findings = (tls: string) => tlsFindings(parseConfig(yaml(tls), 'c.yaml', {}));

  const cases: { name: string; tls: () => string; severity: 'error' | 'warning' | null; message?: RegExp }[] = [
    { name: 'a good certificate', tls: () => `{ cert: ${good.cert}, key: ${good.key} }`, severity: null },
    { name: 'a missing certificate file', tls: () => `{ cert: ${pki.dir}/nope.pem, key: ${good.key} }`, severity: 'error', message: /cannot read the certificate .*nope\.pem \(ENOENT\)/ },
    { name: 'a missing key file', tls: () => `{ cert: ${good.cert}, key: ${pki.dir}/nope.key }`, severity: 'error', message: /cannot read the key .*nope\.key \(ENOENT\)/ },
    { name: 'a certificate that is not PEM', tls: () => `{ cert: ${notPem}, key: ${good.key} }`, severity: 'error', message: /not\.pem is not a PEM certificate/ },
    { name: 'a key that is not PEM', tls: () => `{ cert: ${good.cert}, key: ${notPem} }`, severity: 'error', message: /not\.pem is not a PEM private key/ },
    { name: 'a key of another certificate', tls: () => `{ cert: ${good.cert}, key: ${other.key} }`, severity: 'error', message: /other\.key does not belong to the certificate .*good\.pem/ },
    { name: 'an SNI certificate with the wrong key', tls: () => `{ cert: ${good.cert}, key: ${good.key}, certificates: [{ cert: ${other.cert}, key: ${good.key} }] }`, severity: 'error', message: /does not belong to the certificate .*other\.pem/ },
    { name: 'a missing client CA', tls: () => `{ cert: ${good.cert}, key: ${good.key}, clientCa: ${pki.dir}/ca-nope.pem }`, severity: 'error', message: /cannot read the client CA/ },
    { name: 'an expired certificate', tls: () => `{ cert: ${expired.cert}, key: ${expired.key} }`, severity: 'error', message: /certificate for old\.test .* expired on \d{4}-\d\d-\d\d/ },
    { name: 'a certificate expiring within 14 days', tls: () => `{ cert: ${good.cert}, key: ${good.key}, certificates: [{ cert: ${soon.cert}, key: ${soon.key} }] }`, severity: 'warning', message: /certificate for soon\.test .* expires on \d{4}-\d\d-\d\d, in [45] days/ },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.severity ?? 'no finding'}`, () => {
      const f = findings(c.tls());
      if (c.severity === null) return assert.deepEqual(f, []);
      assert.equal(f.length, 1, JSON.stringify(f));
      assert.equal(f[0]!.severity, c.severity);
      assert.equal(f[0]!.path, 'listen[1].tls');
      assert.match(f[0]!.message, c.message!);
    });
  }

  test('the CLI: exit 1 with the error for a mismatched key, 0 with the warning for one expiring soon', () => {
    const file = join(pki.dir, 'c.yaml');
    writeFileSync(file, yaml(`{ cert: ${good.cert}, key: ${other.key} }`));
    const bad = spawnSync(process.execPath, [BIN, 'check', '-c', file], { encoding: 'utf8' });
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /error: listen\[1\]\.tls: the key .* does not belong/);
    writeFileSync(file, yaml(`{ cert: ${soon.cert}, key: ${soon.key} }`));
    const warn = spawnSync(process.execPath, [BIN, 'check', '-c', file], { encoding: 'utf8' });
    assert.equal(warn.status, 0, warn.stdout + warn.stderr);
    assert.match(warn.stdout, /warning: listen\[1\]\.tls: the certificate for soon\.test .* expires on/);
  });

  test('causeway start with a broken certificate stops with one line naming the file', () => {
    const file = join(pki.dir, 's.yaml');
    writeFileSync(file, `listen: { port: 0, tls: { cert: ${good.cert}, key: ${other.key} } }\nadmin: { port: 0 }\nstorage: { enabled: false }\nupstreams: { u: { targets: [{ url: "http://127.0.0.1:9" }] } }\n`);
    const r = spawnSync(process.execPath, [BIN, 'start', '-c', file], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr.trim(), /^causeway start: the key .*other\.key does not belong to the certificate .*good\.pem$/);
  });
});
