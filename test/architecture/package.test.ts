/** package.json points only at files the build makes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

const root = new URL('../../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { main?: string; bin?: Record<string, string>; exports?: unknown };

test('main and bin name files that exist after the build', () => {
  const paths = [...(pkg.main ? [pkg.main] : []), ...Object.values(pkg.bin ?? {})];
  assert.ok(paths.length > 0);
  for (const p of paths) assert.ok(existsSync(new URL(p, root)), `${p} does not exist`);
});
