/**
 * docs/configuration.md against the config schema, both ways: every key the schema accepts is
 * documented (itself or through a documented parent object), and every documented key exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configJsonSchema } from '../../src/config/schema.js';

type Node = Record<string, unknown> & { $ref?: string; type?: string; properties?: Record<string, Node>; additionalProperties?: Node | boolean; items?: Node; anyOf?: Node[]; oneOf?: Node[] };

/** Every leaf key path of the schema (`a.b`, `list[].c`, `map.<name>.d`) with its default, if any. */
function schemaKeys(): Map<string, unknown> {
  const root = configJsonSchema() as Node;
  const defs = ((root.$defs ?? root.definitions ?? {}) as Record<string, Node>);
  const deref = (n: Node | undefined): Node | undefined => {
    while (n?.$ref) n = defs[n.$ref.split('/').pop()!];
    return n;
  };
  const out = new Map<string, unknown>();
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
    if (!out.has(path) || n.default !== undefined) out.set(path, n.default);
  };
  walk(root, '');
  return out;
}

interface DocRow {
  line: number;
  /** The default column's value for this key, when the column lists one value per key. */
  default: string | undefined;
}

/** Every key named in the first column of a table, made absolute by the section it is in. */
function documentedKeys(): Map<string, DocRow> {
  const lines = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8').split('\n');
  const out = new Map<string, DocRow>();
  let section: string | null = null;
  lines.forEach((line, i) => {
    const h = /^## `([^`]+)`/.exec(line);
    if (h) section = h[1]!;
    else if (line.startsWith('## ')) section = null;
    if (!section || !line.startsWith('| `')) return;
    const cells = line.split(/(?<!\\)\|/);
    const cell = cells[1]!;
    const defaults = cells[2]!.split(' / ').map((d) => d.trim());
    let last = '';
    let n = 0;
    const tokens = [...cell.matchAll(/`([^`]+)`/g)];
    for (const [, token] of tokens) {
      let key = token!;
      if (key.startsWith('.')) key = last.slice(0, last.lastIndexOf('.')) + key;
      last = key;
      const top = section.split(/[.[]/)[0]!;
      const abs = key === top || key.startsWith(`${top}.`) || key.startsWith(`${top}[`) ? key : `${section}.${key}`;
      const d = defaults.length === tokens.length ? defaults[n] : undefined;
      n++;
      out.set(abs, { line: i + 1, default: d && /^`[^`]*`$/.test(d) ? d.slice(1, -1) : undefined });
    }
  });
  return out;
}

const keys = schemaKeys();
const documented = documentedKeys();
const covers = (doc: string, key: string) => key === doc || key.startsWith(`${doc}.`) || key.startsWith(`${doc}[`);

/** A schema default as the document writes it: strings bare, lists as `[a, b]`. */
const asWritten = (v: unknown): string => (Array.isArray(v) ? `[${v.map(asWritten).join(', ')}]` : String(v));

test('the walk finds the schema and the document', () => {
  assert.ok(keys.size > 100, `${keys.size} schema keys`);
  assert.ok(documented.size > 50, `${documented.size} documented keys`);
});

test('every key of the schema is documented', () => {
  const missing = [...keys.keys()].filter((k) => ![...documented.keys()].some((d) => covers(d, k)));
  assert.deepEqual(missing, [], `keys the schema accepts and docs/configuration.md does not document:\n  ${missing.join('\n  ')}`);
});

test('every documented key is in the schema', () => {
  const unknown = [...documented].filter(([d]) => ![...keys.keys()].some((k) => covers(d, k))).map(([d, row]) => `${d} (line ${row.line})`);
  assert.deepEqual(unknown, [], `keys docs/configuration.md documents and the schema does not accept:\n  ${unknown.join('\n  ')}`);
});

test('every default the document gives as a value is the schema default (defaults resolved later, as timeouts, are not in the schema)', () => {
  const wrong: string[] = [];
  let compared = 0;
  for (const [key, row] of documented) {
    const actual = keys.get(key);
    if (row.default === undefined || actual === undefined) continue;
    compared++;
    if (asWritten(actual) !== row.default) wrong.push(`${key} (line ${row.line}): documented ${row.default}, the schema says ${asWritten(actual)}`);
  }
  assert.ok(compared > 40, `${compared} defaults compared`);
  assert.deepEqual(wrong, [], wrong.join('\n'));
});
