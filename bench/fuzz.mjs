#!/usr/bin/env node
// The request fuzzer (test/integration/fuzz.test.ts) as a longer run: `node bench/fuzz.mjs [runs] [seed]`
// after `npx tsc -p tsconfig.json`. npm test runs the same property with 40 cases.
import { spawnSync } from 'node:child_process';

const runs = process.argv[2] ?? '2000';
const env = { ...process.env, CAUSEWAY_FUZZ_RUNS: runs };
if (process.argv[3] !== undefined) env.CAUSEWAY_FUZZ_SEED = process.argv[3];
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', 'dist/test/integration/fuzz.test.js'], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
