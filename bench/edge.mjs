#!/usr/bin/env node
// The edge bench: HTTPS throughput and p99 of Causeway and nginx, both terminating TLS with the
// same certificate in front of the same backend, over HTTP/1.1 and HTTP/2 (h2load), and the
// round trip of a WebSocket echo through Causeway against the backend directly (the ws library).
//
//   npm run build && node bench/edge.mjs [--seconds 8] [--connections 50] [--streams 10]
//
// The proxy (Causeway or nginx, one process / one worker) is pinned to CPU 0; h2load and the
// backend share CPU 1 (taskset, when there are two CPUs). Access logs are off on both proxies,
// and Causeway's call log too, so the figures compare the TLS, HTTP/2 and proxy work only.
// p99 comes from h2load's per-request log (--log-file), which h2load itself does not summarise.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { causewayMain, cleanup, firstLine, freePort, has, here, onCleanup, output, parseArgs, pinned, start, stop, waitPort } from './lib.mjs';

const args = parseArgs();
const seconds = Number(args.seconds ?? 8);
const connections = Number(args.connections ?? 50);
const streams = Number(args.streams ?? 10);
if (!has('h2load', ['--version'])) {
  console.error('edge bench: h2load (nghttp2-client) is needed');
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'causeway-edge-'));
onCleanup(() => rmSync(dir, { recursive: true, force: true }));
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));

const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });

/** h2load against `url`; HTTP/1.1 with `h1`. Returns req/s, p50 and p99 (ms), failures. */
async function load(url, h1) {
  const log = join(dir, `h2load-${Math.random().toString(36).slice(2)}.log`);
  const argv = [...(h1 ? ['--h1'] : ['-m', String(streams)]), '-c', String(connections), '-t', '1', '-D', String(seconds), '--warm-up-time=1', '--log-file', log, url];
  const child = start('h2load', argv, { cpu: 1, quiet: true });
  const { out } = await output(child);
  const rps = Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? NaN);
  const times = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => Number(l.split('\t')[2]) / 1000)
    .filter((n) => Number.isFinite(n))
    .sort((a, b) => a - b);
  const pct = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  return { rps: Math.round(rps), p50: +pct(0.5).toFixed(2), p99: +pct(0.99).toFixed(2), failed, requests: times.length };
}

const backend = start(process.execPath, [join(here, 'resilience-backend.mjs'), '0'], { cpu: 1 });
const backendPort = Number(await firstLine(backend));

async function runCauseway() {
  const port = await freePort();
  const file = join(dir, 'causeway.yaml');
  writeFileSync(
    file,
    `listen: { host: 127.0.0.1, port: ${port}, tls: { cert: ${cert}, key: ${key} } }
admin: { host: 127.0.0.1, port: ${await freePort()} }
log: { level: warn, access: false }
storage: { enabled: false }
upstreams:
  b: { targets: [{ url: "http://127.0.0.1:${backendPort}" }] }
routes:
  - { name: b, match: { path: /* }, upstream: b, websocket: true }
`,
  );
  const child = start(process.execPath, [causewayMain, 'start', '-c', file], { cpu: 0, quiet: true });
  await waitPort(port);
  return { child, port };
}

async function runNginx() {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 8000; }
http {
  client_body_temp_path ${dir}/nb; proxy_temp_path ${dir}/np; fastcgi_temp_path ${dir}/nf; uwsgi_temp_path ${dir}/nu; scgi_temp_path ${dir}/ns;
  access_log off;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  http2_max_concurrent_streams 128;
  upstream b { server 127.0.0.1:${backendPort}; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  const child = start('/usr/sbin/nginx', ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', conf], { cpu: 0, quiet: true });
  await waitPort(port);
  return { child, port };
}

/** Sequential WebSocket echoes: p50 and p99 round trip (ms). */
async function wsRtt(url, n = 3000) {
  const ws = new WebSocket(url, { rejectUnauthorized: false });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const times = [];
  const msg = 'x'.repeat(64);
  for (let i = 0; i < n + 200; i++) {
    const t = process.hrtime.bigint();
    ws.send(msg);
    await new Promise((r) => ws.once('message', r));
    if (i >= 200) times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ws.close();
  times.sort((a, b) => a - b);
  return { p50: +times[Math.floor(0.5 * n)].toFixed(3), p99: +times[Math.floor(0.99 * n)].toFixed(3) };
}

const results = { when: new Date().toISOString(), seconds, connections, streams, pinned, node: process.version, nginx: spawnSync('/usr/sbin/nginx', ['-v'], { encoding: 'utf8' }).stderr.trim(), rows: [] };
for (const [name, run] of [['causeway', runCauseway], ['nginx', runNginx]]) {
  const { child, port } = await run();
  for (const h1 of [true, false]) {
    const r = await load(`https://127.0.0.1:${port}/bench`, h1);
    results.rows.push({ proxy: name, protocol: h1 ? 'https http/1.1' : `https h2 (${streams} streams/conn)`, ...r });
    console.log(JSON.stringify(results.rows.at(-1)));
  }
  await stop(child);
}
// The same load generator on Causeway without TLS: what TLS itself costs in this run.
{
  const port = await freePort();
  const file = join(dir, 'plain.yaml');
  writeFileSync(file, `listen: { host: 127.0.0.1, port: ${port}, h2c: true }\nadmin: { host: 127.0.0.1, port: ${await freePort()} }\nlog: { level: warn, access: false }\nstorage: { enabled: false }\nupstreams: { b: { targets: [{ url: "http://127.0.0.1:${backendPort}" }] } }\nroutes: [{ name: b, match: { path: /* }, upstream: b }]\n`);
  const child = start(process.execPath, [causewayMain, 'start', '-c', file], { cpu: 0, quiet: true });
  await waitPort(port);
  for (const h1 of [true, false]) {
    const r = await load(`http://127.0.0.1:${port}/bench`, h1);
    results.rows.push({ proxy: 'causeway', protocol: h1 ? 'http/1.1 (cleartext)' : `h2c (${streams} streams/conn)`, ...r });
    console.log(JSON.stringify(results.rows.at(-1)));
  }
  await stop(child);
}

// WebSocket: an echo server, reached directly and through Causeway (TLS listener, plain backend).
const echo = http.createServer();
new WebSocketServer({ server: echo }).on('connection', (s) => s.on('message', (d) => s.send(d)));
await new Promise((r) => echo.listen(0, '127.0.0.1', r));
const echoPort = echo.address().port;
const direct = await wsRtt(`ws://127.0.0.1:${echoPort}/`);
const port = await freePort();
const file = join(dir, 'ws.yaml');
writeFileSync(file, `listen: { host: 127.0.0.1, port: ${port} }\nadmin: { host: 127.0.0.1, port: ${await freePort()} }\nlog: { level: warn, access: false }\nstorage: { enabled: false }\nupstreams: { e: { targets: [{ url: "http://127.0.0.1:${echoPort}" }] } }\nroutes: [{ name: e, match: { path: /* }, upstream: e, websocket: true }]\n`);
const gw = start(process.execPath, [causewayMain, 'start', '-c', file], { cpu: 0, quiet: true });
await waitPort(port);
const via = await wsRtt(`ws://127.0.0.1:${port}/`);
await stop(gw);
echo.close();
results.websocket = { direct, causeway: via, messages: 3000, size: 64 };
console.log(JSON.stringify({ websocket: results.websocket }));
writeFileSync(join(here, 'results', 'edge.json'), JSON.stringify(results, null, 2) + '\n');
await stop(backend);
await cleanup();
