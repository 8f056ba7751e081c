/**
 * Run as `node --expose-gc promotion-probe.js`: a gateway with its default pipeline (access log
 * and call log in files of a temporary directory, metrics) in front of a plain backend, all in
 * this process, loaded by 50 keep-alive connections. After a warm-up it forces a full GC (which
 * moves every young object still reachable into the old generation), then sends more requests
 * and prints, as one JSON line, how much the old generation grew per request.
 *
 * A gateway whose calls die young grows it by a few hundred bytes per request at most. One that
 * lets garbage in the old generation keep young objects alive (a long-lived Set taking and
 * dropping an entry per call did: V8 links each rehashed table to the next) promotes every
 * call's objects after that first full GC: kilobytes per request, and a slower gateway from then
 * on (bench/RESULTS.md, "Session 5: the sustained-load fall").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway.js';
import { runLoad } from './load.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const WARM = Number(process.env.WARM ?? 3000);
const MEASURED = Number(process.env.MEASURED ?? 6000);

const dir = mkdtempSync(join(tmpdir(), 'causeway-promotion-'));
const backend = http.createServer((_req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end('hello world\n');
});
await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
const bport = (backend.address() as { port: number }).port;
const yaml = `
log: { file: ${join(dir, 'access.log')} }
storage: { path: ${join(dir, 'calls.db')} }
upstreams:
  b: { targets: [{ url: "http://127.0.0.1:${bport}" }] }
routes:
  - { name: probe, match: { path: /* }, upstream: b }
`;
const gateway = new Gateway(parseConfig(yaml, 'probe.yaml', {}), { logger: pino({ level: 'silent' }) });
const addr = await gateway.listen(0, '127.0.0.1');
const url = `http://127.0.0.1:${addr.port}/`;

async function load(n: number): Promise<void> {
  const r = await runLoad({ url, total: n, concurrency: 50 });
  if (r.ok !== n) throw new Error(`${r.ok} of ${n} requests succeeded: ${JSON.stringify(r.byStatus)}`);
}

const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
await load(WARM);
gc();
const before = oldSpace();
await load(MEASURED);
const after = oldSpace();
await gateway.stop(1000);
await new Promise<void>((r) => backend.close(() => r()));
rmSync(dir, { recursive: true, force: true });
process.stdout.write(JSON.stringify({ requests: MEASURED, oldGrowthBytes: after - before, perRequest: (after - before) / MEASURED }) + '\n');
