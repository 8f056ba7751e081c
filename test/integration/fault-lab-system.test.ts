/**
 * The fault lab's system rows: network faults made with iptables inside a network namespace the
 * test creates (DROP, REJECT with each ICMP type and with a reset, a local OUTPUT rule), and a
 * gateway out of file descriptors (a child process under `prlimit --nofile`). Each runs the
 * gateway in a process of its own (test/helpers/fault-probe.ts) and asserts what the client
 * received, the record, the side and the explanation. Needs root, ip, iptables and prlimit:
 * skipped with the reason printed when they are missing, failing under CI=true.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Explanation } from '../../src/diagnose/explain.js';
import type { CallRecord } from '../../src/observe/call-record.js';

const PROBE = join(process.cwd(), 'dist/test/helpers/fault-probe.js');
const NS = `cw-fault-lab-${process.pid}`;

interface ProbeResult {
  seen: { status: number; code: string | null; id: string };
  record: CallRecord;
  explanation: Omit<Explanation, 'call'> | null;
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

/** Why the system rows cannot run here, or null. */
function missing(): string | null {
  if (process.getuid?.() !== 0) return 'not root (network namespaces and iptables need it)';
  for (const [cmd, args] of [['ip', ['-V']], ['iptables', ['--version']], ['prlimit', ['--version']]] as const) {
    if (!run(cmd, [...args]).ok) return `${cmd} is not available`;
  }
  return null;
}

function probe(prefix: string[], args: string[]): ProbeResult {
  const r = spawnSync(prefix[0]!, [...prefix.slice(1), process.execPath, PROBE, ...args], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `probe failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ProbeResult;
}

interface Row {
  name: string;
  /** iptables arguments after -I/-D; {port} is the backend's port. */
  rule: string[];
  expect: { status: number; code: string; error: RegExp; side: string; said?: RegExp };
}

const lo = (chain: 'INPUT' | 'OUTPUT', ...target: string[]) => [chain, chain === 'INPUT' ? '-i' : '-o', 'lo', '-p', 'tcp', '--dport', '{port}', '-j', ...target];

const ROWS: Row[] = [
  { name: 'SYN dropped (a firewall DROP)', rule: lo('INPUT', 'DROP'), expect: { status: 504, code: 'UPSTREAM_CONNECT_TIMEOUT', error: /ETIMEDOUT/, side: 'network' } },
  { name: 'REJECT with a reset (looks like nothing listening)', rule: lo('INPUT', 'REJECT', '--reject-with', 'tcp-reset'), expect: { status: 502, code: 'UPSTREAM_CONNECTION_REFUSED', error: /ECONNREFUSED/, side: 'backend', said: /refused or filtered/ } },
  { name: 'REJECT with ICMP host-unreachable', rule: lo('INPUT', 'REJECT', '--reject-with', 'icmp-host-unreachable'), expect: { status: 502, code: 'UPSTREAM_HOST_UNREACHABLE', error: /EHOSTUNREACH/, side: 'network' } },
  { name: 'REJECT with ICMP net-unreachable', rule: lo('INPUT', 'REJECT', '--reject-with', 'icmp-net-unreachable'), expect: { status: 502, code: 'UPSTREAM_HOST_UNREACHABLE', error: /ENETUNREACH/, side: 'network' } },
  { name: 'REJECT with ICMP admin-prohibited', rule: lo('INPUT', 'REJECT', '--reject-with', 'icmp-admin-prohibited'), expect: { status: 502, code: 'UPSTREAM_HOST_UNREACHABLE', error: /EHOSTUNREACH/, side: 'network' } },
  { name: 'REJECT with ICMP port-unreachable', rule: lo('INPUT', 'REJECT', '--reject-with', 'icmp-port-unreachable'), expect: { status: 502, code: 'UPSTREAM_CONNECTION_REFUSED', error: /ECONNREFUSED/, side: 'backend' } },
  // Linux retransmits a SYN its own OUTPUT chain dropped: from the gateway it is a timeout like any DROP.
  { name: 'a local OUTPUT rule drops the SYN', rule: lo('OUTPUT', 'DROP'), expect: { status: 504, code: 'UPSTREAM_CONNECT_TIMEOUT', error: /ETIMEDOUT/, side: 'network' } },
  { name: 'a local OUTPUT rule rejects the SYN', rule: lo('OUTPUT', 'REJECT', '--reject-with', 'icmp-admin-prohibited'), expect: { status: 502, code: 'UPSTREAM_HOST_UNREACHABLE', error: /EHOSTUNREACH|EPERM|EACCES/, side: 'network' } },
];

function check(r: ProbeResult, want: Row['expect']): void {
  assert.equal(r.seen.status, want.status, 'status the client received');
  assert.equal(r.seen.code, want.code, 'X-Causeway-Error');
  assert.equal(r.record.status, want.status, 'record status');
  assert.equal(r.record.code, want.code, 'record code');
  const last = r.record.attempts[r.record.attempts.length - 1]!;
  assert.match(last.error ?? '', want.error, 'low-level error');
  assert.ok(r.explanation, 'explained');
  const k = r.explanation.classification!;
  assert.equal(k.side, want.side, 'side');
  assert.doesNotMatch(`${r.explanation.headline} ${k.cause}`, /\?/);
  if (want.said) assert.match(`${k.cause} ${k.lowLevel}`, want.said);
}

describe('fault lab: network faults and the gateway out of file descriptors', { timeout: 180_000 }, () => {
  const why = missing();
  if (why && process.env['CI'] === 'true') throw new Error(`the system rows of the fault lab cannot run under CI: ${why}`);
  if (why) console.log(`# fault lab system rows skipped: ${why}`);
  let nsReady = false;

  before(() => {
    if (why) return;
    const add = run('ip', ['netns', 'add', NS]);
    assert.ok(add.ok, add.out);
    nsReady = true;
    assert.ok(run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']).ok);
  });
  after(() => {
    if (nsReady) run('ip', ['netns', 'del', NS]);
  });

  for (const row of ROWS) {
    it(`${row.name} → ${row.expect.status} ${row.expect.code}, ${row.expect.side} side`, { skip: why ?? false }, () => {
      check(probe(['ip', 'netns', 'exec', NS], ['netns', JSON.stringify(row.rule)]), row.expect);
    });
  }

  it('the gateway out of file descriptors (prlimit --nofile) → 503 GATEWAY_RESOURCE_EXHAUSTED, gateway side', { skip: why ?? false }, () => {
    const r = probe(['prlimit', '--nofile=512:512'], ['emfile']);
    check(r, { status: 503, code: 'GATEWAY_RESOURCE_EXHAUSTED', error: /EMFILE/, side: 'gateway', said: /file descriptors/ });
    assert.equal(r.record.attempts[0]!.phase, 'connect');
  });
});
