/**
 * What `causeway check` says about the listeners' certificates: files that are missing, do not
 * parse or do not match their key (errors: the gateway would not start), certificates already
 * expired (errors) or expiring within 14 days (warnings), each with the name and the date.
 */
import type { Config } from '../config/schema.js';
import type { Finding } from '../config/lint.js';
import { CertSet, daysLeft } from './tls.js';

/** Certificates expiring sooner than this are warned about. */
export const EXPIRY_WARNING_DAYS = 14;

export function tlsFindings(config: Config, now = Date.now()): Finding[] {
  const out: Finding[] = [];
  config.listen.forEach((l, i) => {
    if (!l.tls) return;
    const path = `listen[${i}].tls`;
    let set: CertSet;
    try {
      set = new CertSet(l.tls);
    } catch (err) {
      out.push({ severity: 'error', path, message: (err as Error).message, fix: 'Point cert and key at the PEM files of one certificate and its private key (the leaf first in the cert file, then its chain).' });
      return;
    }
    for (const c of set.certs) {
      const days = daysLeft(c.notAfter, now);
      const name = c.names.join(', ') || c.subject;
      const date = c.notAfter.toISOString().slice(0, 10);
      if (days < 0) {
        out.push({ severity: 'error', path, message: `the certificate for ${name} (${c.file}) expired on ${date}: clients refuse it`, fix: 'Renew the certificate; the gateway picks up the new files by itself (or on SIGHUP).' });
      } else if (days < EXPIRY_WARNING_DAYS) {
        out.push({ severity: 'warning', path, message: `the certificate for ${name} (${c.file}) expires on ${date}, in ${Math.floor(days)} days`, fix: 'Renew it before then; the gateway picks up the new files by itself (or on SIGHUP).' });
      } else if (c.notBefore.getTime() > now) {
        out.push({ severity: 'warning', path, message: `the certificate for ${name} (${c.file}) is not valid before ${c.notBefore.toISOString().slice(0, 10)}`, fix: 'Check the clock of the machine that issued it, or wait.' });
      }
    }
  });
  return out;
}
