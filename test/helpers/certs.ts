/**
 * Certificates made by openssl for a test, in a temp dir: a CA, leaves signed by it (exact and
 * wildcard names, expired, expiring soon), and a client CA with a client certificate for mTLS.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pair {
  cert: string;
  key: string;
}

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'causeway-pki-'));
  readonly ca: Pair;

  constructor(name = 'Causeway Test CA') {
    this.ca = this.selfSigned('ca', name);
  }

  private openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }

  /** A self-signed CA. */
  selfSigned(file: string, cn: string): Pair {
    const p = { cert: join(this.dir, `${file}.pem`), key: join(this.dir, `${file}.key`) };
    this.openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p.key, '-out', p.cert, '-days', '30', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    return p;
  }

  /**
   * A leaf signed by `issuer` (the CA by default) for DNS `names`, valid from `fromDays` to
   * `toDays` relative to now (negative: in the past). `client` makes a client certificate.
   */
  leaf(file: string, names: string[], opts: { fromDays?: number; toDays?: number; issuer?: Pair; client?: boolean } = {}): Pair {
    const p = { cert: join(this.dir, `${file}.pem`), key: join(this.dir, `${file}.key`) };
    const csr = join(this.dir, `${file}.csr`);
    const ext = join(this.dir, `${file}.ext`);
    const issuer = opts.issuer ?? this.ca;
    this.openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p.key, '-out', csr, '-subj', `/CN=${names[0]}`);
    writeFileSync(ext, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}\n`);
    const stamp = (days: number) => {
      const d = new Date(Date.now() + days * 86_400_000);
      return d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
    };
    // `openssl x509 -not_before/-not_after` needs OpenSSL 3.4; `ca` takes explicit dates everywhere.
    const db = join(this.dir, `${file}.db`);
    writeFileSync(db, '');
    writeFileSync(join(this.dir, `${file}.cnf`), `[ca]\ndefault_ca=d\n[d]\ndatabase=${db}\nnew_certs_dir=${this.dir}\nserial=${join(this.dir, `${file}.srl`)}\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n`);
    writeFileSync(join(this.dir, `${file}.srl`), `${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0')}\n`);
    this.openssl('ca', '-batch', '-config', join(this.dir, `${file}.cnf`), '-cert', issuer.cert, '-keyfile', issuer.key, '-in', csr, '-out', p.cert, '-extfile', ext, '-startdate', stamp(opts.fromDays ?? -1), '-enddate', stamp(opts.toDays ?? 30), '-notext');
    return p;
  }

  read(p: Pair): { cert: Buffer; key: Buffer } {
    return { cert: readFileSync(p.cert), key: readFileSync(p.key) };
  }

  caPem(): Buffer {
    return readFileSync(this.ca.cert);
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
