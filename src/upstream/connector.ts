/**
 * Opening a connection to a target step by step — DNS, TCP, TLS — with the time of each step and
 * the step a failure happened in, all within one `connect` deadline. Used by the pool (before
 * undici is handed the socket) and by `causeway doctor`.
 */
import net from 'node:net';
import tls from 'node:tls';
import dns from 'node:dns';
import type { Target } from './target.js';

export type LookupFn = (hostname: string, cb: (err: NodeJS.ErrnoException | null, address?: string, family?: number) => void) => void;

export interface ConnectTimings {
  dns: number;
  connect: number;
  tls: number;
}

export interface ConnectFailure {
  /** `pool`: an HTTP/2 stream moved off a session whose SETTINGS allowed fewer streams found no other in time (h2-pool.ts). */
  phase: 'pool' | 'dns' | 'connect' | 'tls';
  errorCode: string;
  message: string;
  timeout: boolean;
}

export interface ConnectOptions {
  timeout: number;
  lookup?: LookupFn | undefined;
  tls?: { rejectUnauthorized: boolean; ca?: string | Buffer | undefined; servername?: string | undefined } | undefined;
}

export type ConnectCallback = (failure: ConnectFailure | null, socket: net.Socket | null, timings: ConnectTimings) => void;

const systemLookup: LookupFn = (hostname, cb) => dns.lookup(hostname, { all: false }, (err, address, family) => cb(err, address, family));

/** Opens a TCP (and TLS, for https targets) connection; calls back exactly once. */
export function openConnection(target: Target, opts: ConnectOptions, cb: ConnectCallback): void {
  const timings: ConnectTimings = { dns: 0, connect: 0, tls: 0 };
  let phase: 'dns' | 'connect' | 'tls' = target.literal ? 'connect' : 'dns';
  let socket: net.Socket | null = null;
  let done = false;
  let mark = performance.now();
  const finish = (failure: ConnectFailure | null, s: net.Socket | null) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (failure && socket) socket.destroy();
    cb(failure, s, timings);
  };
  const lap = () => {
    const now = performance.now();
    const d = now - mark;
    mark = now;
    return Math.round(d * 100) / 100;
  };
  const fail = (err: NodeJS.ErrnoException) => {
    timings[phase] = lap();
    finish({ phase, errorCode: err.code ?? err.name, message: err.message, timeout: false }, null);
  };
  const timer = setTimeout(() => {
    timings[phase] = lap();
    const what = phase === 'dns' ? 'DNS lookup' : phase === 'tls' ? 'TLS handshake' : 'TCP handshake';
    finish({ phase, errorCode: 'ETIMEDOUT', message: `${what} did not complete within ${opts.timeout} ms`, timeout: true }, null);
  }, opts.timeout);

  const startTcp = (address: string) => {
    phase = 'connect';
    socket = net.connect({ host: address, port: target.port, noDelay: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      timings.connect = lap();
      if (!target.tls) {
        socket!.removeListener('error', fail);
        finish(null, socket);
        return;
      }
      phase = 'tls';
      const servername = opts.tls?.servername ?? (target.literal ? undefined : target.hostname);
      const secure = tls.connect({
        socket: socket!,
        servername,
        ALPNProtocols: target.h2 ? ['h2'] : ['http/1.1'],
        rejectUnauthorized: opts.tls?.rejectUnauthorized ?? true,
        ca: opts.tls?.ca,
        // An IP-literal target is checked against the certificate's IP SANs.
        checkServerIdentity: (host, cert) => tls.checkServerIdentity(servername ?? target.hostname ?? host, cert),
      });
      socket!.removeListener('error', fail);
      socket = secure;
      secure.once('error', fail);
      secure.once('secureConnect', () => {
        timings.tls = lap();
        secure.removeListener('error', fail);
        if (target.h2 && secure.alpnProtocol !== 'h2') {
          // The handshake worked but the backend did not agree to HTTP/2: it serves HTTP/1.1 only.
          finish({ phase: 'tls', errorCode: 'CAUSEWAY_NO_ALPN_H2', message: 'the backend did not negotiate HTTP/2 (ALPN h2)', timeout: false }, null);
          return;
        }
        finish(null, secure);
      });
    });
  };

  if (target.literal) {
    startTcp(target.hostname);
    return;
  }
  (opts.lookup ?? systemLookup)(target.hostname, (err, address) => {
    if (done) return;
    if (err || !address) {
      fail(err ?? Object.assign(new Error(`no address for ${target.hostname}`), { code: 'ENOTFOUND' }));
      return;
    }
    timings.dns = lap();
    startTcp(address);
  });
}

/** Probe answers are kept a while: a backend that keeps closing is probed once, not per request. */
const PROBE_TTL_MS = 30_000;
const probeCache = new Map<string, { speaksTls: boolean; at: number }>();

/**
 * Does the peer answer a TLS ClientHello? Asked once a plain-HTTP exchange failed with no
 * response bytes, to tell a TLS port behind an http:// URL from a backend that closed.
 * A peer that stays silent for `timeout` is taken as not TLS (a TLS server answers at once).
 */
export function probeSpeaksTls(target: Target, timeout: number, lookup?: LookupFn): Promise<boolean> {
  const key = `${target.hostname}:${target.port}`;
  const hit = probeCache.get(key);
  const now = performance.now();
  if (hit && now - hit.at < PROBE_TTL_MS) return Promise.resolve(hit.speaksTls);
  return probeOnce(target, timeout, lookup).then((speaksTls) => {
    if (probeCache.size > 10_000) probeCache.clear();
    probeCache.set(key, { speaksTls, at: performance.now() });
    return speaksTls;
  });
}

function probeOnce(target: Target, timeout: number, lookup?: LookupFn): Promise<boolean> {
  return new Promise((resolve) => {
    openConnection({ ...target, tls: true }, { timeout, lookup, tls: { rejectUnauthorized: false } }, (failure, socket) => {
      socket?.destroy();
      if (!failure) return resolve(true);
      // A handshake that got as far as a certificate or alert means the peer speaks TLS.
      resolve(failure.phase === 'tls' && !failure.timeout && failure.errorCode.startsWith('ERR_SSL_') && !failure.errorCode.includes('WRONG_VERSION'));
    });
  });
}
