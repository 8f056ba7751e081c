#!/usr/bin/env node
// Open-loop load generator for the resilience and soak benches: requests are scheduled at a fixed
// rate (or in bursts with idle gaps) whatever the system's latency, so every system faces the same
// offered load and the success rate has the same denominator. Latency is measured from the
// scheduled time. A request unanswered after --timeout ms is a client-visible failure.
//
//   node bench/loadgen.mjs --url http://127.0.0.1:8080/r --duration 20 --rate 1000
//   node bench/loadgen.mjs --url ... --duration 20 --burst 300 --gap 900..1100
//   [--connections 256] [--timeout 5000] [--abort-pct 0] [--abort-after 500] [--post-pct 0]
// --post-pct N sends N% of the requests as POST with a small JSON body (non-idempotent: a proxy
// may not repeat one that reached a backend). Failures are counted by kind, with the gateway's
// X-Causeway-Error code when the answer carries one.
// Prints one JSON line at the end: totals, failures by kind, p50/p99, and a per-second timeline
// ([issued, ok, p99 ms] by the second the requests were scheduled in).
// `--progress` prints a JSON line per second on stderr.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { parseArgs } from './lib.mjs';

const a = parseArgs();
const url = new URL(a.url);
const durationMs = Number(a.duration ?? 20) * 1000;
const rate = Number(a.rate ?? 1000);
const burst = a.burst ? Number(a.burst) : 0;
const [gapLo, gapHi] = String(a.gap ?? '1000..1000').split('..').map(Number);
const timeoutMs = Number(a.timeout ?? 5000);
const abortPct = Number(a['abort-pct'] ?? 0);
const abortAfter = Number(a['abort-after'] ?? 500);
const postPct = Number(a['post-pct'] ?? 0);
const POST_BODY = JSON.stringify({ order: 42, items: [1, 2, 3] });
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(a.connections ?? 256), keepAliveMsecs: 1000 });

const t0 = performance.now();
const lat = []; // every finished request (success or not), ms
const okLat = [];
const kinds = new Map();
const timeline = []; // per second of schedule: [issued, ok, p99 ms]
const secLat = []; // per second of schedule: latencies
let issued = 0;
let ok = 0;
let inflight = 0;
let aborted = 0;
const count = (k) => kinds.set(k, (kinds.get(k) ?? 0) + 1);

function fire() {
  const scheduled = performance.now();
  const sec = Math.floor((scheduled - t0) / 1000);
  (timeline[sec] ??= [0, 0])[0]++;
  issued++;
  inflight++;
  let done = false;
  const clientAborts = abortPct > 0 && Math.random() * 100 < abortPct;
  const finish = (kind) => {
    if (done) return;
    done = true;
    inflight--;
    clearTimeout(timer);
    const ms = performance.now() - scheduled;
    if (kind === 'aborted') return void aborted++; // the client walked away on purpose: not counted
    lat.push(ms);
    (secLat[sec] ??= []).push(ms);
    if (kind === 'ok') {
      ok++;
      okLat.push(ms);
      timeline[sec][1]++;
    } else count(kind);
  };
  const post = postPct > 0 && Math.random() * 100 < postPct;
  const opts = { host: url.hostname, port: url.port, path: url.pathname + url.search, agent, method: post ? 'POST' : 'GET' };
  if (post) opts.headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(POST_BODY) };
  const req = http.request(opts, (res) => {
    res.on('data', () => {});
    const code = res.headers['x-causeway-error'];
    const kind = res.statusCode >= 200 && res.statusCode < 400 ? 'ok' : `${post ? 'POST ' : ''}status ${res.statusCode}${code ? ` ${code}` : ''}`;
    res.on('end', () => finish(kind));
    res.on('error', (e) => finish(`body ${e.code ?? e.message}`));
  });
  req.on('error', (e) => finish(done ? '' : `${post ? 'POST ' : ''}error ${e.code ?? e.message}`));
  req.end(post ? POST_BODY : undefined);
  const timer = setTimeout(
    () => {
      finish(clientAborts ? 'aborted' : 'client timeout');
      req.destroy();
    },
    clientAborts ? abortAfter : timeoutMs,
  );
}

let lastProgress = 0;
function progress() {
  if (!a.progress) return;
  const s = Math.floor((performance.now() - t0) / 1000);
  if (s === lastProgress) return;
  lastProgress = s;
  process.stderr.write(JSON.stringify({ t: s, issued, ok, inflight }) + '\n');
}

await new Promise((resolve) => {
  if (burst) {
    const next = () => {
      if (performance.now() - t0 >= durationMs) return resolve();
      for (let i = 0; i < burst; i++) fire();
      progress();
      setTimeout(next, gapLo + Math.random() * (gapHi - gapLo));
    };
    next();
  } else {
    // 1 ms ticks, catching up to the schedule: timers are coarse, the schedule is not.
    let sent = 0;
    const iv = setInterval(() => {
      const now = performance.now() - t0;
      if (now >= durationMs) {
        clearInterval(iv);
        return resolve();
      }
      const due = Math.floor((now / 1000) * rate);
      for (; sent < due; sent++) fire();
      progress();
    }, 1);
  }
});
// Let the last requests finish (or time out).
const end = performance.now() + timeoutMs + 500;
while (inflight > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
agent.destroy();

const pct = (xs, p) => {
  if (!xs.length) return null;
  const s = Float64Array.from(xs).sort();
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(2));
};
const counted = issued - aborted;
console.log(
  JSON.stringify({
    issued: counted,
    ok,
    failed: counted - ok,
    successRate: counted ? ok / counted : null,
    failures: Object.fromEntries([...kinds].sort((x, y) => y[1] - x[1])),
    clientAborted: aborted,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    p99ok: pct(okLat, 99),
    max: pct(lat, 100),
    timeline: timeline.map((t, i) => [t[0], t[1], pct(secLat[i] ?? [], 99)]),
  }),
);
process.exit(0);
