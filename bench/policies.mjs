#!/usr/bin/env node
// The throughput cost of each policy: the same small GET through Causeway with one policy on,
// against the same route with none. Every variant runs as its own gateway, all started up front
// and measured in interleaved rounds (order rotated each round) so the machine's noise falls on
// all of them alike; the report is the median per variant. wrk on CPU 0, gateways and backend on
// CPU 1. HMAC is not measured: every signed request needs a fresh nonce, which plain wrk cannot
// make. JWTs are signed here (jose) and their keys served by a JWKS endpoint in this process: the
// gateway fetches them once, so the figure is the verification itself. Options: --duration 5
// --rounds 3 --connections 50 --only <substring> (run only the variants whose name has it, with none).
// --micro: instead, each policy's decision alone, in this process (µs per call, no sockets): the
// figure that stays readable on a busy machine, where the wrk table above drowns in noise.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { causewayMain, cleanup, firstLine, freePort, here, median, parseArgs, pinned, start, waitPort, wrk } from './lib.mjs';

const args = parseArgs();
if (args.micro) {
  await micro();
  process.exit(0);
}
const duration = Number(args.duration ?? 5);
const rounds = Number(args.rounds ?? 3);
const connections = Number(args.connections ?? 50);
const KEY = 'bench-key-0123456789abcdef';

// A JWKS endpoint with an RSA and an EC key, and a token from each (valid for the whole run).
const { SignJWT, exportJWK, generateKeyPair } = await import('jose');
const rsa = await generateKeyPair('RS256', { extractable: true });
const ec = await generateKeyPair('ES256', { extractable: true });
const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256' }] });
const jwksServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
await new Promise((r) => jwksServer.listen(0, '127.0.0.1', r));
const jwksUrl = `http://127.0.0.1:${jwksServer.address().port}/jwks.json`;
const sign = (key, alg, kid) => new SignJWT({ sub: 'bench', scope: 'orders:read' }).setProtectedHeader({ alg, kid }).setIssuer('https://id.bench/').setAudience('bench').setIssuedAt().setExpirationTime('2h').sign(key);
const rsaToken = await sign(rsa.privateKey, 'RS256', 'rsa');
const ecToken = await sign(ec.privateKey, 'ES256', 'ec');
const jwtTop = `jwt: { issuers: [{ issuer: "https://id.bench/", audience: bench, jwksUrl: "${jwksUrl}", algorithms: [RS256, ES256] }] }`;
// A realistic deny list: 200 ranges, none matching the loopback client.
const denyList = Array.from({ length: 200 }, (_, i) => `10.${i}.0.0/16`).join(', ');

const allVariants = [
  { name: 'none', route: '' },
  { name: 'auth: [key]', route: 'auth: [key]', headers: [`X-API-Key: ${KEY}`] },
  { name: 'auth + subscription', route: 'auth: [key], subscription: required', headers: [`X-API-Key: ${KEY}`] },
  { name: 'rateLimit (local, never hit)', route: 'rateLimit: { requests: 1000000000, per: 1s, by: ip }' },
  { name: 'cache (every call a HIT)', route: 'cache: { ttl: 1h }' },
  { name: 'cache (every call a MISS, stored)', route: 'cache: { ttl: 1h }', headers: ['Cache-Control: no-cache'] },
  { name: 'faults (header-gated, not sent)', route: 'faults: { abort: { status: 503 }, header: x-chaos }' },
  { name: 'auth: [jwt] RS256 + scopes', route: 'auth: [jwt], scopes: [orders:read]', top: jwtTop, headers: [`Authorization: Bearer ${rsaToken}`] },
  { name: 'auth: [jwt] ES256 + scopes', route: 'auth: [jwt], scopes: [orders:read]', top: jwtTop, headers: [`Authorization: Bearer ${ecToken}`] },
  { name: 'cors (allowed Origin, actual request)', route: 'cors: { origins: [https://app.example.com, "https://*.example.org"], credentials: true }', headers: ['Origin: https://app.example.com'] },
  { name: 'ipRules (allow + 200-range deny list)', route: `ipRules: { allow: [127.0.0.0/8], deny: [${denyList}] }` },
  { name: 'headers (2 request sets, 1 response remove)', route: 'headers: { request: { set: { x-consumer: "${consumer}", x-route: "${route}" } }, response: { remove: [x-powered-by] } }' },
  { name: 'split (50% to a second upstream)', route: 'split: { upstream: b2, percent: 50 }' },
];
const only = args.only;
const variants = only ? allVariants.filter((v) => v.name === 'none' || v.name.includes(only)) : allVariants;

const tmp = mkdtempSync(join(tmpdir(), 'causeway-bench-policies-'));
const samples = new Map(variants.map((v) => [v.name, []]));
try {
  const backend = start(process.execPath, [join(here, 'backend.mjs')], { cpu: 1 });
  const upstream = `http://127.0.0.1:${Number(await firstLine(backend))}`;
  for (const v of variants) {
    v.port = await freePort();
    const cfg = join(tmp, `gw-${v.port}.yaml`);
    writeFileSync(cfg, `listen: { host: 127.0.0.1, port: ${v.port} }
admin: { host: 127.0.0.1, port: ${await freePort()} }
log: { access: false }
storage: { enabled: false }
consumers: [{ name: bench, keys: [${KEY}], subscriptions: [bench] }]
${v.top ?? ''}
upstreams:
  b: { targets: [{ url: "${upstream}" }] }
  b2: { targets: [{ url: "${upstream}" }] }
routes:
  - { name: bench, match: { path: /* }, upstream: b${v.route ? `, ${v.route}` : ''} }
`);
    start(process.execPath, [causewayMain, 'start', '-c', cfg], { cpu: 1 });
    await waitPort(v.port);
    await wrk(v.port, 2, connections, '/bench', v.headers); // warm-up: JIT, pools, the cache
  }
  for (let r = 0; r < rounds; r++) {
    const order = variants.map((_, i) => variants[(i + r) % variants.length]);
    for (const v of order) {
      const m = await wrk(v.port, duration, connections, '/bench', v.headers);
      samples.get(v.name).push(m.rps);
      console.error(`round ${r + 1}/${rounds}  ${v.name.padEnd(34)} ${m.rps.toFixed(0).padStart(8)} req/s  non-2xx ${m.non2xx}`);
    }
  }
} finally {
  jwksServer.close();
  cleanup();
  rmSync(tmp, { recursive: true, force: true });
}
const base = median(samples.get('none'));
console.log(`\nsmall GET, ${connections} connections, ${rounds} interleaved rounds × ${duration} s per variant, median; wrk on CPU 0, gateway + backend on CPU 1${pinned ? '' : ' (not pinned)'}\n`);
console.log('| policy | req/s (median) | vs none | req/s each round |');
console.log('|---|---:|---:|---|');
for (const v of variants) {
  const xs = samples.get(v.name);
  const m = median(xs);
  console.log(`| ${v.name} | ${m.toFixed(0)} | ${v.name === 'none' ? '—' : `${(((m - base) / base) * 100).toFixed(1)}%`} | ${xs.map((x) => x.toFixed(0)).join(' / ')} |`);
}

/** Per-call cost of each decision, µs, median of 5 timed batches after a warm-up batch. */
async function micro() {
  const dist = (p) => import(join(here, '..', 'dist', 'src', p));
  const { JwtIssuers } = await dist('policies/jwt/index.js');
  const { cors } = await dist('policies/cors/index.js');
  const { ipRules } = await dist('policies/ip-rules/index.js');
  const { headerRewrites } = await dist('policies/headers/index.js');
  const { toSplit } = await dist('policies/split/index.js');
  const { SignJWT, exportSPKI, generateKeyPair } = await import('jose');
  const time = async (n, fn) => {
    const runs = [];
    for (let r = 0; r < 6; r++) {
      const t = performance.now();
      for (let i = 0; i < n; i++) await fn(i);
      runs.push(((performance.now() - t) * 1000) / n);
    }
    return median(runs.slice(1));
  };
  const rows = [];
  for (const alg of ['RS256', 'ES256']) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const cfg = { issuers: [{ issuer: 'https://id/', audience: 'a', algorithms: [alg], keys: [{ pem: await exportSPKI(publicKey) }], consumerClaim: 'sub', clockSkew: 60_000 }], jwks: { timeout: 1000, cacheFor: 600_000, minRefreshInterval: 30_000 } };
    const N = 300;
    const tokens = await Promise.all(Array.from({ length: N * 6 }, (_, i) => new SignJWT({ sub: `u${i}`, scope: 'orders:read' }).setProtectedHeader({ alg }).setIssuer('https://id/').setAudience('a').setExpirationTime('1h').sign(privateKey)));
    const issuers = new JwtIssuers(cfg);
    let k = 0;
    rows.push([`jwt ${alg}: a token seen for the first time (signature checked)`, await time(N, () => issuers.verify(tokens[k++]))]);
    rows.push([`jwt ${alg}: the same token again (remembered verdict)`, await time(5000, () => issuers.verify(tokens[0]))]);
  }
  const c = cors({ origins: ['https://app.example.com', 'https://*.example.org'], headers: [], exposeHeaders: ['x-total'], credentials: true });
  const backendHeaders = ['content-type', 'application/json', 'content-length', '42', 'date', 'Tue, 08 Dec 2026 02:00:00 GMT', 'vary', 'Accept-Encoding'];
  rows.push(['cors: an allowed Origin, response headers added', await time(100_000, () => c.actual('https://shop.example.org', backendHeaders.slice()))]);
  rows.push(['cors: a preflight decision', await time(100_000, () => c.preflight({ origin: 'https://app.example.com', 'access-control-request-method': 'GET' }))]);
  const deny = Array.from({ length: 200 }, (_, i) => `10.${i}.0.0/16`);
  const ip = ipRules({ allow: ['127.0.0.0/8'], deny }, 'bench');
  rows.push(['ipRules: allow + 200-range deny list, an allowed address', await time(100_000, () => ip.check('127.0.0.1'))]);
  const ip1 = ipRules({ allow: [], deny: ['100.0.0.0/8'] }, 'bench');
  rows.push(['ipRules: one deny range, an allowed address', await time(100_000, () => ip1.check('127.0.0.1'))]);
  const h = headerRewrites({ request: { set: { 'x-consumer': '${consumer}', 'x-route': '${route}' }, add: {}, remove: [] }, response: { set: {}, add: {}, remove: ['x-powered-by'] } });
  const vars = { request_id: '0193a0b4-0000-7000-8000-000000000000', consumer: 'mobile-app', client_ip: '127.0.0.1', route: 'orders' };
  const reqHeaders = ['Host', 'api.example.com', 'User-Agent', 'curl/8', 'Accept', '*/*', 'X-API-Key', 'k', 'Content-Type', 'application/json'];
  rows.push(['headers: 2 request sets + 1 response remove', await time(100_000, () => {
    h.rewriteRequest(reqHeaders.slice(), vars);
    h.rewriteResponse(backendHeaders.slice(), vars);
  })]);
  rows.push(['split: 50%, random', await time(100_000, () => toSplit({ upstream: 'c', percent: 50 }, { headers: {}, consumer: null, clientIp: '127.0.0.1' }))]);
  rows.push(['split: 5%, sticky by consumer', await time(100_000, (i) => toSplit({ upstream: 'c', percent: 5, sticky: 'consumer' }, { headers: {}, consumer: `consumer-${i & 1023}`, clientIp: '127.0.0.1' }))]);
  console.log('\neach decision alone, in-process (no sockets), median of 5 batches after a warm-up\n');
  console.log('| decision | µs per call |');
  console.log('|---|---:|');
  for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(2)} |`);
}
