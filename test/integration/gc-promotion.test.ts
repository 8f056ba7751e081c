/**
 * Calls die young, even after a full GC. A gateway that lets dead objects in the old generation
 * keep each new call alive promotes every call's objects once the first full GC has run, and
 * serves ~15% fewer requests from then on (bench/RESULTS.md, "Session 5: the sustained-load fall"). The
 * probe (test/helpers/promotion-probe.ts) runs a gateway under load in a child process started
 * with --expose-gc and reports the old generation's growth per request after a forced full GC:
 * ~0.6 KB with this fix (the in-process client and backend included), ~3.4 KB without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const probe = fileURLToPath(new URL('../helpers/promotion-probe.js', import.meta.url));

test('after a full GC, calls still die young: the old generation grows < 2 KB per request', async () => {
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--expose-gc', probe], { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );
  const r = JSON.parse(out.trim().split('\n').pop()!) as { requests: number; perRequest: number };
  assert.equal(r.requests, 6000);
  assert.ok(r.perRequest < 2048, `old generation grew ${Math.round(r.perRequest)} bytes per request after a full GC`);
});
