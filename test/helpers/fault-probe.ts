/**
 * One fault-lab call in a process of its own, for faults that need one: run inside a network
 * namespace (`ip netns exec NS node fault-probe.js netns '<iptables args>'`, where iptables
 * rules on `lo` only touch that namespace) or under a low open-file limit
 * (`prlimit --nofile=N:N node fault-probe.js emfile`). It starts a backend and a gateway on
 * port 0, makes the call, and prints one JSON line: what the client received, the record and
 * the explanation.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { explainCall } from '../../src/diagnose/explain.js';
import { startGateway } from './gateway.js';

interface Seen {
  status: number;
  code: string | null;
  id: string;
}

function get(agent: http.Agent, url: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, code: (res.headers['x-causeway-error'] as string | undefined) ?? null, id: res.headers['x-request-id'] as string }));
      })
      .on('error', reject);
  });
}

async function main(): Promise<void> {
  const [mode, rule] = process.argv.slice(2);
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  // A second backend no connection was opened to yet (the emfile call needs a fresh connect).
  const fresh = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => fresh.listen(0, '127.0.0.1', r));
  const freshPort = (fresh.address() as AddressInfo).port;
  const gw = await startGateway(`log: { access: false }
upstreams:
  warm: { targets: [{ url: "http://127.0.0.1:${port}" }], retries: { attempts: 1 } }
  probe: { targets: [{ url: "http://127.0.0.1:${mode === 'emfile' ? freshPort : port}" }], retries: { attempts: 1 }, timeouts: { connect: 400ms, read: 1s, total: 3s } }
routes:
  - { name: warm, match: { path: /warm/* }, upstream: warm }
  - { name: probe, match: { path: /probe/* }, upstream: probe }
`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const held: number[] = [];
  let seen: Seen;
  let ruleArgs: string[] = [];
  try {
    if (mode === 'netns') {
      ruleArgs = JSON.parse(rule!.replaceAll('{port}', String(port))) as string[];
      execFileSync('iptables', ['-I', ...ruleArgs]);
      seen = await get(agent, `${gw.url}/probe/x`);
    } else if (mode === 'emfile') {
      // The client connection (and its accepted socket) exist before the descriptors run out.
      await get(agent, `${gw.url}/warm/x`);
      for (;;) {
        try {
          held.push(openSync('/dev/null', 'r'));
        } catch {
          break;
        }
      }
      seen = await get(agent, `${gw.url}/probe/x`);
    } else throw new Error(`unknown mode ${mode}`);
  } finally {
    for (const fd of held) closeSync(fd);
    if (ruleArgs.length) execFileSync('iptables', ['-D', ...ruleArgs]);
  }
  const record = await gw.record(seen.id);
  let explanation = await explainCall(gw.gateway.store!, seen.id);
  for (let n = 0; !explanation && n < 50; n++) {
    await new Promise((r) => setTimeout(r, 50));
    explanation = await explainCall(gw.gateway.store!, seen.id);
  }
  process.stdout.write(JSON.stringify({ seen, record, explanation: explanation ? { ...explanation, call: undefined } : null }) + '\n');
  agent.destroy();
  await gw.close();
  server.close();
  fresh.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
