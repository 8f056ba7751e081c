#!/usr/bin/env node
// Writes schema/causeway.schema.json from the config schema the gateway validates with, so that
// editors check configs against the same rules. Run after `tsc` whenever src/config/schema.ts
// changes; test/config/schema.test.ts fails while the committed file is stale.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { configJsonSchema } = await import(new URL('../dist/src/config/schema.js', import.meta.url).href);
const out = join(root, 'schema', 'causeway.schema.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(configJsonSchema(), null, 2) + '\n');
console.log(`wrote ${out}`);
