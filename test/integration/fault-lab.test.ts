/**
 * The fault lab: real backends on real sockets misbehaving at every phase — FIN and RST before,
 * during and after the request, mid-head and mid-body cuts, a head too large, truncated and
 * malformed chunked bodies, stalls, and TLS failures with certificates made here by openssl —
 * each asserted as one table row: what the client received (status, X-Causeway-Error, body
 * bytes), the call record (status, code, phase of the last attempt, low-level error), the side
 * at fault, and the explanation.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAsClient } from '../helpers/client-view.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { CERT_FILE, KEY_FILE } from '../helpers/backends.js';
import { explainCall, formatExplanation } from '../../src/diagnose/explain.js';
import { classify, type Phase } from '../../src/failures/classify.js';
import type { FailureCode, Side } from '../../src/failures/registry.js';

/** What a raw backend does once it has the request head (or at once, for `onAccept`). */
type Behaviour = (socket: Socket) => void;

interface Row {
  name: string;
  /** Raw TCP behaviour, or a TLS server option set. */
  backend: { raw: Behaviour; onAccept?: boolean } | { tls: 'self-signed' | 'private-ca' | 'wrong-name' | 'client-cert' } | { plainBehindHttps: true } | { tlsBehindHttp: true } | { refused: true };
  expect: { status: number; code: FailureCode; /** One phase, or those a race between accept and write allows. */ phase: Phase | Phase[]; side: Side; cut?: boolean; said?: RegExp };
}

const head200 = (extra: string) => `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${extra}\r\n`;

const ROWS: Row[] = [
  // Before the request is read.
  { name: 'FIN as soon as accepted', backend: { raw: (s) => s.end(), onAccept: true }, expect: { status: 502, code: 'UPSTREAM_CONNECTION_CLOSED', phase: ['send', 'ttfb'], side: 'backend' } },
  { name: 'RST as soon as accepted', backend: { raw: (s) => s.resetAndDestroy(), onAccept: true }, expect: { status: 502, code: 'UPSTREAM_CONNECTION_RESET', phase: ['connect', 'send', 'ttfb'], side: 'backend', said: /ECONNRESET/ } },
  // After the request, before any response byte.
  { name: 'FIN after the request', backend: { raw: (s) => s.end() }, expect: { status: 502, code: 'UPSTREAM_CONNECTION_CLOSED', phase: 'ttfb', side: 'backend' } },
  { name: 'RST after the request', backend: { raw: (s) => s.resetAndDestroy() }, expect: { status: 502, code: 'UPSTREAM_CONNECTION_RESET', phase: 'ttfb', side: 'backend' } },
  { name: 'no answer (stall before headers)', backend: { raw: () => undefined }, expect: { status: 504, code: 'UPSTREAM_RESPONSE_TIMEOUT', phase: 'ttfb', side: 'backend' } },
  // In the middle of the head.
  { name: 'FIN mid-head', backend: { raw: (s) => s.end('HTTP/1.1 200 OK\r\nContent-Le') }, expect: { status: 502, code: 'UPSTREAM_CONNECTION_CLOSED', phase: 'ttfb', side: 'backend' } },
  { name: 'RST mid-head', backend: { raw: (s) => s.write('HTTP/1.1 200 OK\r\nContent-Le', () => setTimeout(() => s.resetAndDestroy(), 20)) }, expect: { status: 502, code: 'UPSTREAM_CONNECTION_RESET', phase: 'ttfb', side: 'backend' } },
  { name: 'a head too large (200 KB header)', backend: { raw: (s) => s.end(head200(`X-Big: ${'a'.repeat(200_000)}\r\nContent-Length: 2\r\n`) + 'ok') }, expect: { status: 502, code: 'UPSTREAM_HEADERS_TOO_LARGE', phase: 'ttfb', side: 'backend', said: /too big a header|UND_ERR_HEADERS_OVERFLOW/ } },
  { name: 'not HTTP at all', backend: { raw: (s) => s.end('SSH-2.0-OpenSSH_9.6\r\n') }, expect: { status: 502, code: 'UPSTREAM_INVALID_RESPONSE', phase: 'ttfb', side: 'backend' } },
  { name: 'conflicting Content-Length headers', backend: { raw: (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok') }, expect: { status: 502, code: 'UPSTREAM_INVALID_RESPONSE', phase: 'ttfb', side: 'backend' } },
  // After the headers went out: the client keeps the 200 it received, the record says what failed.
  { name: 'FIN mid-body (Content-Length short)', backend: { raw: (s) => s.end(head200('Content-Length: 1000\r\n') + 'x'.repeat(100)) }, expect: { status: 200, code: 'UPSTREAM_CONNECTION_CLOSED', phase: 'body', side: 'backend', cut: true } },
  { name: 'RST mid-body', backend: { raw: (s) => s.write(head200('Content-Length: 1000\r\n') + 'x'.repeat(100), () => setTimeout(() => s.resetAndDestroy(), 50)) }, expect: { status: 200, code: 'UPSTREAM_CONNECTION_RESET', phase: 'body', side: 'backend', cut: true } },
  { name: 'body stalls past read', backend: { raw: (s) => s.write(head200('Content-Length: 1000\r\n') + 'x'.repeat(100)) }, expect: { status: 200, code: 'UPSTREAM_BODY_TIMEOUT', phase: 'body', side: 'backend', cut: true } },
  { name: 'truncated chunked body (FIN before the last chunk)', backend: { raw: (s) => s.write(head200('Transfer-Encoding: chunked\r\n') + '5\r\nhello\r\n', () => setTimeout(() => s.end(), 50)) }, expect: { status: 200, code: 'UPSTREAM_CONNECTION_CLOSED', phase: 'body', side: 'backend', cut: true } },
  { name: 'malformed chunk size', backend: { raw: (s) => s.write(head200('Transfer-Encoding: chunked\r\n') + '5\r\nhello\r\n', () => setTimeout(() => s.end('zz\r\nbad\r\n'), 50)) }, expect: { status: 200, code: 'UPSTREAM_INVALID_RESPONSE', phase: 'body', side: 'backend', cut: true } },
  // Connect.
  { name: 'nothing listens (refused or filtered)', backend: { refused: true }, expect: { status: 502, code: 'UPSTREAM_CONNECTION_REFUSED', phase: 'connect', side: 'backend', said: /refused or filtered/ } },
  // TLS, certificates made by openssl in this test.
  { name: 'TLS: self-signed certificate', backend: { tls: 'self-signed' }, expect: { status: 502, code: 'UPSTREAM_TLS_ERROR', phase: 'tls', side: 'backend', said: /SELF_SIGNED|UNABLE_TO_VERIFY/ } },
  { name: 'TLS: signed by a private CA the gateway does not trust', backend: { tls: 'private-ca' }, expect: { status: 502, code: 'UPSTREAM_TLS_ERROR', phase: 'tls', side: 'backend', said: /UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT)/ } },
  { name: 'TLS: certificate for another name', backend: { tls: 'wrong-name' }, expect: { status: 502, code: 'UPSTREAM_TLS_ERROR', phase: 'tls', side: 'backend', said: /ERR_TLS_CERT_ALTNAME_INVALID/ } },
  // TLS 1.3: the backend's alert comes after the client's handshake is done, while it waits for the response.
  { name: 'TLS: the backend demands a client certificate', backend: { tls: 'client-cert' }, expect: { status: 502, code: 'UPSTREAM_TLS_ERROR', phase: ['tls', 'ttfb'], side: 'gateway', said: /CERTIFICATE_REQUIRED|client certificate/ } },
  { name: 'https URL, plain HTTP port', backend: { plainBehindHttps: true }, expect: { status: 502, code: 'UPSTREAM_PROTOCOL_MISMATCH', phase: 'tls', side: 'gateway' } },
  { name: 'http URL, TLS port', backend: { tlsBehindHttp: true }, expect: { status: 502, code: 'UPSTREAM_PROTOCOL_MISMATCH', phase: 'ttfb', side: 'gateway' } },
];

/** Certificates for the TLS rows: a private CA and a leaf for 127.0.0.1 signed by it, a self-signed leaf. */
function makeCerts(dir: string): { ca: string; leafCert: string; leafKey: string; selfCert: string; selfKey: string } | null {
  const sh = (args: string[]) => spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (sh(['version']).status !== 0) return null;
  const steps = [
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Fault Lab CA'],
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=127.0.0.1'],
    ['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'san.cnf'],
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
  ];
  spawnSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1\\n" > san.cnf'], { cwd: dir });
  for (const s of steps) {
    const r = sh(s);
    if (r.status !== 0) throw new Error(`openssl ${s.join(' ')}: ${r.stderr}`);
  }
  const f = (n: string) => readFileSync(join(dir, n), 'utf8');
  return { ca: join(dir, 'ca.pem'), leafCert: f('leaf.pem'), leafKey: f('leaf.key'), selfCert: f('self.pem'), selfKey: f('self.key') };
}

interface Running {
  url: string;
  close(): Promise<void>;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
}

async function rawBackend(b: Behaviour, onAccept: boolean): Promise<Running> {
  const sockets = new Set<Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    if (onAccept) return b(s);
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      s.off('data', onData);
      b(s);
    };
    s.on('data', onData);
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))) };
}

async function httpsBackend(opts: https.ServerOptions): Promise<Running> {
  const server = https.createServer(opts, (_req, res) => res.end('ok'));
  server.on('tlsClientError', () => undefined);
  const port = await listen(server);
  return { url: `https://127.0.0.1:${port}`, close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

async function plainBackend(): Promise<Running> {
  const server = http.createServer((_req, res) => res.end('ok'));
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))) };
}


describe('fault lab', { timeout: 120_000 }, () => {
  const running: Running[] = [];
  let gw: TestGateway;
  let dir: string;
  let certs: ReturnType<typeof makeCerts>;
  const names = ROWS.map((_, i) => `f${i}`);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'causeway-fault-lab-'));
    certs = makeCerts(dir);
    if (!certs) {
      if (process.env['CI'] === 'true') throw new Error('openssl is missing: the fault lab makes its certificates with it');
      console.log('# fault lab: openssl not found, TLS rows use the fixture certificate only');
    }
    const ups: string[] = [];
    for (const [i, row] of ROWS.entries()) {
      const b = row.backend;
      let url: string;
      let extra = '';
      if ('raw' in b) {
        const r = await rawBackend(b.raw, b.onAccept ?? false);
        running.push(r);
        url = r.url;
      } else if ('refused' in b) {
        const r = await plainBackend();
        url = r.url;
        await r.close();
      } else if ('plainBehindHttps' in b) {
        const r = await plainBackend();
        running.push(r);
        url = r.url.replace('http:', 'https:');
      } else if ('tlsBehindHttp' in b) {
        const r = await httpsBackend({ cert: readFileSync(CERT_FILE), key: readFileSync(KEY_FILE) });
        running.push(r);
        url = r.url.replace('https:', 'http:');
      } else {
        const c = certs ?? { ca: CERT_FILE, leafCert: readFileSync(CERT_FILE, 'utf8'), leafKey: readFileSync(KEY_FILE, 'utf8'), selfCert: readFileSync(CERT_FILE, 'utf8'), selfKey: readFileSync(KEY_FILE, 'utf8') };
        const opts: https.ServerOptions =
          b.tls === 'self-signed' ? { cert: c.selfCert, key: c.selfKey } : b.tls === 'client-cert' ? { cert: c.leafCert, key: c.leafKey, requestCert: true, rejectUnauthorized: true, ca: readFileSync(c.ca) } : { cert: c.leafCert, key: c.leafKey };
        const r = await httpsBackend(opts);
        running.push(r);
        url = r.url;
        if (b.tls === 'wrong-name') extra = `, tls: { ca: "${c.ca}", servername: wrong.example }`;
        if (b.tls === 'client-cert') extra = `, tls: { ca: "${c.ca}" }`;
      }
      ups.push(`  ${names[i]}: { targets: [{ url: "${url}" }], retries: { attempts: 1 }, timeouts: { connect: 1s, read: 600ms, total: 5s }${extra} }`);
    }
    gw = await startGateway(
      `log: { access: false }
upstreams:
${ups.join('\n')}
routes:
${names.map((n) => `  - { name: ${n}, match: { path: /${n}/* }, upstream: ${n} }`).join('\n')}
`,
    );
  });

  after(async () => {
    await gw?.close();
    for (const r of running) await r.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [i, row] of ROWS.entries()) {
    it(`${row.name} → ${row.expect.status} ${row.expect.code} in ${[row.expect.phase].flat().join('/')}, ${row.expect.side} side`, async () => {
      const want = row.expect;
      const got = await getAsClient(`${gw.url}/${names[i]}/x`);
      // What the client received.
      assert.equal(got.status, want.status, 'status the client received');
      if (want.cut) assert.equal(got.code, undefined, 'a cut response carries the backend headers, not X-Causeway-Error');
      else assert.equal(got.code, want.code, 'X-Causeway-Error');
      // The record agrees with the client, and names the failure.
      const rec = await gw.record(got.id);
      assert.equal(rec.status, want.status, 'record status = what the client received');
      assert.equal(rec.code, want.code, 'record code');
      const last = rec.attempts[rec.attempts.length - 1]!;
      assert.equal(last.outcome, want.code);
      assert.ok((Array.isArray(want.phase) ? want.phase : [want.phase]).includes(last.phase!), `phase ${last.phase}`);
      if (want.cut) assert.equal(rec.bytesOut, got.bytes, 'body bytes sent = body bytes received');
      // The side, from the record's low-level error.
      const side = last.error ? classify({ phase: last.phase!, errorCode: last.error, tls: false }).side : undefined;
      if (last.error && classify({ phase: last.phase!, errorCode: last.error, tls: false }).code === want.code) assert.equal(side, want.side, `side (low-level ${last.error})`);
      // The explanation: no unknown limits, the status the client saw, what the OS said.
      // The call log writes in batches within 200 ms.
      let e = await explainCall(gw.gateway.store!, got.id);
      for (let n = 0; !e && n < 50; n++) {
        await new Promise((r) => setTimeout(r, 50));
        e = await explainCall(gw.gateway.store!, got.id);
      }
      assert.ok(e, 'explained from the call log');
      const text = formatExplanation(e);
      assert.doesNotMatch(text, /\?/, text);
      assert.equal(e.classification?.side, want.side, 'explained side');
      if (want.cut) assert.match(e.headline, new RegExp(`→ 200 sent, then cut after ${got.bytes} body bytes: ${want.code}`));
      else assert.match(e.headline, new RegExp(`→ ${want.status} ${want.code}`));
      if (want.said) assert.match(`${e.classification?.cause} ${e.classification?.lowLevel}`, want.said);
    });
  }
});
