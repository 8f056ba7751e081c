/**
 * TLS termination material: the certificates of a listener read from their PEM files, checked
 * (they parse, the key matches, the dates), turned into secure contexts once, and chosen per
 * connection by the name the client asks for (SNI): exact names first, then one-label
 * wildcards, then the default certificate. A reload builds a new set and swaps it in: open
 * connections keep the context they were made with.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { ListenTlsConfig } from '../config/schema.js';

/** One certificate as loaded: where it came from, whom it names, until when. */
export interface CertInfo {
  file: string;
  /** Subject alternative DNS names (the common name when there are none), lower case. */
  names: string[];
  subject: string;
  notAfter: Date;
  notBefore: Date;
}

/** A certificate file that cannot serve: missing, unparsable, or not matching its key. */
export class CertError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

interface Loaded {
  info: CertInfo;
  cert: Buffer;
  key: Buffer;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CertError(file, `cannot read the ${what} ${file} (${e.code ?? e.message})`);
  }
}

/** Reads and checks one certificate and its key. */
export function loadCert(certFile: string, keyFile: string): Loaded {
  const cert = readPem(certFile, 'certificate');
  const key = readPem(keyFile, 'key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new CertError(certFile, `${certFile} is not a PEM certificate (${(err as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new CertError(keyFile, `${keyFile} is not a PEM private key (${(err as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new CertError(keyFile, `the key ${keyFile} does not belong to the certificate ${certFile}`);
  return { info: certInfo(certFile, x509), cert, key };
}

function certInfo(file: string, x: X509Certificate): CertInfo {
  const san = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)?.[1];
  return { file, names: san.length ? san : cn ? [cn.toLowerCase()] : [], subject: x.subject.replace(/\n/g, ', '), notAfter: new Date(x.validTo), notBefore: new Date(x.validFrom) };
}

/** The server-wide TLS options of a listener that its secure contexts share. */
function contextOptions(cfg: ListenTlsConfig, clientCa: Buffer | undefined): tls.SecureContextOptions {
  return { minVersion: cfg.minVersion, ...(cfg.ciphers ? { ciphers: cfg.ciphers } : {}), ...(clientCa ? { ca: clientCa } : {}), honorCipherOrder: true };
}

/** The certificates of one listener, their contexts, and the SNI choice among them. */
export class CertSet {
  /** Every certificate, the default first. */
  readonly certs: CertInfo[];
  /** Options for the listener's default context (tls.Server#setSecureContext). */
  readonly defaultOptions: tls.SecureContextOptions;
  private readonly exact = new Map<string, tls.SecureContext>();
  private readonly wildcard = new Map<string, tls.SecureContext>();

  /** Reads every file of `cfg`; throws CertError on the first that cannot serve. */
  constructor(cfg: ListenTlsConfig) {
    const clientCa = cfg.clientCa ? readPem(cfg.clientCa, 'client CA') : undefined;
    if (clientCa) {
      try {
        new X509Certificate(clientCa);
      } catch (err) {
        throw new CertError(cfg.clientCa!, `${cfg.clientCa} is not a PEM certificate (${(err as Error).message})`);
      }
    }
    const base = contextOptions(cfg, clientCa);
    const main = loadCert(cfg.cert, cfg.key);
    this.defaultOptions = { ...base, cert: main.cert, key: main.key };
    this.certs = [main.info];
    // Later entries do not take a name an earlier one holds: the default wins, then list order.
    for (const pair of [{ cert: cfg.cert, key: cfg.key, loaded: main }, ...cfg.certificates.map((c) => ({ ...c, loaded: undefined }))]) {
      const l = pair.loaded ?? loadCert(pair.cert, pair.key);
      if (!pair.loaded) this.certs.push(l.info);
      const ctx = tls.createSecureContext({ ...base, cert: l.cert, key: l.key });
      for (const name of l.info.names) {
        const map = name.startsWith('*.') ? this.wildcard : this.exact;
        const k = name.startsWith('*.') ? name.slice(2) : name;
        if (!map.has(k)) map.set(k, ctx);
      }
    }
  }

  /** The context for a client's server name; undefined: the default certificate. */
  select(servername: string): tls.SecureContext | undefined {
    const name = servername.toLowerCase();
    const hit = this.exact.get(name);
    if (hit) return hit;
    const dot = name.indexOf('.');
    return dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined;
  }
}

/** Days from now to a date (negative once past). */
export function daysLeft(d: Date, now = Date.now()): number {
  return (d.getTime() - now) / 86_400_000;
}
