// gRPC unary load: `--sessions` HTTP/2 connections, each with `--streams` calls in flight, for
// `--duration` seconds (bounded), against 127.0.0.1:`--port`. Raw node:http2 with a fixed
// EchoRequest frame (lighter than a gRPC library, so the load generator stays out of the way).
// Prints one JSON line: calls, errors, rps, p50/p90/p99 latency in ms.
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { parseArgs } from './lib.mjs';

const args = parseArgs();
const port = Number(args.port);
const duration = Number(args.duration ?? 5) * 1000;
const sessions = Number(args.sessions ?? 4);
const streams = Number(args.streams ?? 16);
const path = '/causeway.test.Echo/Unary';
// EchoRequest { text: "hello" }: field 1, length 5.
const msg = Buffer.from([0x0a, 5, ...Buffer.from('hello')]);
const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
const headers = { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' };

const latencies = [];
let errors = 0;
let running = true;
const t0 = performance.now();
const end = t0 + duration;

function loop(session, done) {
  if (!running || performance.now() >= end) return done();
  const start = performance.now();
  const req = session.request(headers);
  let status;
  req.on('response', (h) => (status = h['grpc-status'] ?? status));
  req.on('trailers', (t) => (status = t['grpc-status']));
  req.on('data', () => undefined);
  req.on('error', () => undefined);
  req.on('close', () => {
    if (status === '0') latencies.push(performance.now() - start);
    else errors++;
    loop(session, done);
  });
  req.end(frame);
}

const loops = [];
const open = [];
for (let s = 0; s < sessions; s++) {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  open.push(session);
  for (let i = 0; i < streams; i++) loops.push(new Promise((resolve) => loop(session, resolve)));
}
setTimeout(() => (running = false), duration).unref();
await Promise.all(loops);
for (const session of open) session.destroy();
const elapsed = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] * 100) / 100 : null);
console.log(JSON.stringify({ calls: latencies.length, errors, rps: Math.round(latencies.length / elapsed), p50: pct(50), p90: pct(90), p99: pct(99) }));
process.exit(0);
