/**
 * docs/configuration.md against the config schema, both ways: every key the schema accepts is
 * documented (itself or through a documented parent object), and every documented key exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configJsonSchema } from '../../src/config/schema.js';

type Node = Record<string, unknown> & { $ref?: string; type?: string; properties?: Record<string, Node>; additionalProperties?: Node | boolean; items?: Node; anyOf?: Node[]; oneOf?: Node[] };

/** Every leaf key path of the schema: `a.b`, `list[].c`, `map.<name>.d`. */
function schemaKeys(): Set<string> {
  const root = configJsonSchema() as Node;
  const defs = ((root.$defs ?? root.definitions ?? {}) as Record<string, Node>);
  const deref = (n: Node | undefined): Node | undefined => {
    while (n?.$ref) n = defs[n.$ref.split('/').pop()!];
    return n;
  };
  const out = new Set<string>();
  const walk = (raw: Node | undefined, path: string): void => {
    const n = deref(raw);
    if (!n) return;
    const objects = (n.anyOf ?? n.oneOf ?? []).map(deref).filter((a): a is Node => a?.type === 'object' && !!a.properties);
    if (objects.length) {
      for (const o of objects) walk(o, path);
      return;
    }
    if (n.type === 'object' && n.properties) {
      for (const [k, v] of Object.entries(n.properties)) walk(v, path ? `${path}.${k}` : k);
      return;
    }
    if (n.type === 'object' && typeof n.additionalProperties === 'object') return walk(n.additionalProperties, `${path}.<name>`);
    const item = deref(n.items);
    if (n.type === 'array' && item?.type === 'object' && item.properties) return walk(item, `${path}[]`);
    out.add(path);
  };
  walk(root, '');
  return out;
}

/** Every key named in the first column of a table, made absolute by the section it is in. */
function documentedKeys(): Map<string, number> {
  const lines = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8').split('\n');
  const out = new Map<string, number>();
  let section: string | null = null;
  lines.forEach((line, i) => {
    const h = /^## `([^`]+)`/.exec(line);
    if (h) section = h[1]!;
    else if (line.startsWith('## ')) section = null;
    if (!section || !line.startsWith('| `')) return;
    const cell = line.split('|')[1]!;
    let last = '';
    for (const [, token] of cell.matchAll(/`([^`]+)`/g)) {
      let key = token!;
      if (key.startsWith('.')) key = last.slice(0, last.lastIndexOf('.')) + key;
      last = key;
      const top = section.split(/[.[]/)[0]!;
      const abs = key === top || key.startsWith(`${top}.`) || key.startsWith(`${top}[`) ? key : `${section}.${key}`;
      out.set(abs, i + 1);
    }
  });
  return out;
}

const keys = schemaKeys();
const documented = documentedKeys();
const covers = (doc: string, key: string) => key === doc || key.startsWith(`${doc}.`) || key.startsWith(`${doc}[`);

test('the walk finds the schema and the document', () => {
  assert.ok(keys.size > 100, `${keys.size} schema keys`);
  assert.ok(documented.size > 50, `${documented.size} documented keys`);
});

test('every key of the schema is documented', () => {
  const missing = [...keys].filter((k) => ![...documented.keys()].some((d) => covers(d, k)));
  assert.deepEqual(missing, [], `keys the schema accepts and docs/configuration.md does not document:\n  ${missing.join('\n  ')}`);
});

test('every documented key is in the schema', () => {
  const unknown = [...documented].filter(([d]) => ![...keys].some((k) => covers(d, k))).map(([d, line]) => `${d} (line ${line})`);
  assert.deepEqual(unknown, [], `keys docs/configuration.md documents and the schema does not accept:\n  ${unknown.join('\n  ')}`);
});
