import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configJsonSchema } from '../../src/config/schema.js';
import { parseConfig } from '../../src/config/load.js';

type Schema = Record<string, unknown>;

/** Keywords of JSON Schema draft 2020-12 (core, applicator, validation, meta-data, format). */
const KEYWORDS_2020_12 = new Set([
  '$schema', '$id', '$ref', '$defs', '$anchor', '$dynamicRef', '$dynamicAnchor', '$comment', '$vocabulary',
  'allOf', 'anyOf', 'oneOf', 'not', 'if', 'then', 'else', 'dependentSchemas', 'prefixItems', 'items', 'contains',
  'properties', 'patternProperties', 'additionalProperties', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties',
  'type', 'enum', 'const', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'maxContains', 'minContains',
  'maxProperties', 'minProperties', 'required', 'dependentRequired',
  'title', 'description', 'default', 'deprecated', 'readOnly', 'writeOnly', 'examples', 'format',
]);
const TYPES = new Set(['null', 'boolean', 'object', 'array', 'number', 'string', 'integer']);
const FORMATS = new Set([
  'date-time', 'date', 'time', 'duration', 'email', 'idn-email', 'hostname', 'idn-hostname', 'ipv4', 'ipv6',
  'uri', 'uri-reference', 'iri', 'iri-reference', 'uuid', 'uri-template', 'json-pointer', 'relative-json-pointer', 'regex',
]);

/** Every subschema with its JSON pointer (values of `default`, `enum` and `const` are data, not schemas). */
function subschemas(schema: Schema, pointer = '#'): Array<[string, Schema]> {
  const out: Array<[string, Schema]> = [[pointer, schema]];
  for (const key of ['properties', '$defs', 'patternProperties']) {
    const map = schema[key] as Record<string, Schema> | undefined;
    for (const [name, sub] of Object.entries(map ?? {})) out.push(...subschemas(sub, `${pointer}/${key}/${name}`));
  }
  for (const key of ['items', 'additionalProperties', 'propertyNames', 'not', 'contains', 'if', 'then', 'else']) {
    const sub = schema[key];
    if (sub && typeof sub === 'object') out.push(...subschemas(sub as Schema, `${pointer}/${key}`));
  }
  for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems']) {
    (schema[key] as Schema[] | undefined)?.forEach((sub, i) => out.push(...subschemas(sub, `${pointer}/${key}/${i}`)));
  }
  return out;
}

/**
 * A small validator for the keywords this schema uses; returns the JSON pointers of failures.
 * It refuses keywords it does not implement, so a schema change cannot make it silently lax.
 */
function validate(schema: Schema, value: unknown, at = ''): string[] {
  const errors: string[] = [];
  const fail = (why: string) => errors.push(`${at || '/'}: ${why}`);
  for (const key of Object.keys(schema)) {
    if (!['$schema', '$id', 'title', 'description', 'default', 'type', 'enum', 'pattern', 'minLength', 'minimum', 'maximum', 'minItems', 'items', 'properties', 'required', 'additionalProperties', 'propertyNames', 'anyOf', 'format'].includes(key)) {
      throw new Error(`the test validator does not implement "${key}"`);
    }
  }
  const type = schema['type'] as string | undefined;
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  if (type) {
    const ok = type === 'integer' ? Number.isInteger(value) : type === 'number' ? typeof value === 'number' : type === kind;
    if (!ok) return [`${at || '/'}: expected ${type}, got ${kind}`];
  }
  const en = schema['enum'] as unknown[] | undefined;
  if (en && !en.includes(value)) fail(`not one of ${en.join(', ')}`);
  if (typeof value === 'string') {
    if (typeof schema['pattern'] === 'string' && !new RegExp(schema['pattern'], 'u').test(value)) fail(`does not match ${schema['pattern']}`);
    if (typeof schema['minLength'] === 'number' && value.length < schema['minLength']) fail('too short');
    if (schema['format'] === 'uri' && !URL.canParse(value)) fail('not a URI');
  }
  if (typeof value === 'number') {
    if (typeof schema['minimum'] === 'number' && value < schema['minimum']) fail('below minimum');
    if (typeof schema['maximum'] === 'number' && value > schema['maximum']) fail('above maximum');
  }
  if (Array.isArray(value)) {
    if (typeof schema['minItems'] === 'number' && value.length < schema['minItems']) fail('too few items');
    const items = schema['items'] as Schema | undefined;
    if (items) value.forEach((v, i) => errors.push(...validate(items, v, `${at}/${i}`)));
  }
  if (kind === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema['properties'] ?? {}) as Record<string, Schema>;
    for (const r of (schema['required'] as string[] | undefined) ?? []) if (!(r in obj)) fail(`missing ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errors.push(...validate(props[k], v, `${at}/${k}`));
      else if (schema['additionalProperties'] === false) fail(`unknown key ${k}`);
      else if (typeof schema['additionalProperties'] === 'object') errors.push(...validate(schema['additionalProperties'] as Schema, v, `${at}/${k}`));
      const names = schema['propertyNames'] as Schema | undefined;
      if (names) errors.push(...validate(names, k, `${at}/${k} (name)`));
    }
  }
  const any = schema['anyOf'] as Schema[] | undefined;
  if (any && !any.some((s) => validate(s, value, at).length === 0)) fail('matches none of anyOf');
  return errors;
}

const schema = configJsonSchema();

describe('configJsonSchema()', () => {
  test('declares draft 2020-12, an $id and a title', () => {
    assert.equal(schema['$schema'], 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(typeof schema['$id'], 'string');
    assert.ok(URL.canParse(schema['$id'] as string));
    assert.equal(typeof schema['title'], 'string');
    assert.equal(schema['type'], 'object');
  });

  test('is plain JSON (survives a JSON round trip unchanged)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(schema)), schema);
  });

  test('uses only draft 2020-12 keywords, types and formats, with well-formed values', () => {
    for (const [ptr, s] of subschemas(schema)) {
      for (const key of Object.keys(s)) assert.ok(KEYWORDS_2020_12.has(key), `${ptr}: "${key}" is not a JSON Schema keyword`);
      const types = s['type'] === undefined ? [] : Array.isArray(s['type']) ? s['type'] : [s['type']];
      for (const t of types) assert.ok(TYPES.has(t as string), `${ptr}: type "${String(t)}"`);
      if (s['format'] !== undefined) assert.ok(FORMATS.has(s['format'] as string), `${ptr}: format "${String(s['format'])}" is not a standard format`);
      if (s['pattern'] !== undefined) assert.doesNotThrow(() => new RegExp(s['pattern'] as string, 'u'), `${ptr}: pattern must be an ECMA-262 regex`);
      if (s['enum'] !== undefined) {
        const e = s['enum'] as unknown[];
        assert.ok(Array.isArray(e) && e.length > 0, `${ptr}: enum`);
        assert.equal(new Set(e).size, e.length, `${ptr}: enum values repeat`);
      }
      if (s['required'] !== undefined) {
        const props = Object.keys((s['properties'] ?? {}) as object);
        for (const r of s['required'] as string[]) assert.ok(props.includes(r), `${ptr}: required "${r}" is not a property`);
      }
      for (const key of ['minimum', 'maximum', 'minLength', 'minItems']) {
        if (s[key] !== undefined) assert.equal(typeof s[key], 'number', `${ptr}: ${key}`);
      }
      for (const key of ['anyOf', 'oneOf', 'allOf']) {
        if (s[key] !== undefined) assert.ok(Array.isArray(s[key]) && (s[key] as unknown[]).length > 0, `${ptr}: ${key}`);
      }
    }
  });

  test('closes every object: additionalProperties false, or a schema for maps of named entries', () => {
    let objects = 0;
    for (const [ptr, s] of subschemas(schema)) {
      if (s['type'] !== 'object') continue;
      objects++;
      if (s['properties']) {
        assert.equal(s['additionalProperties'], false, `${ptr} accepts unknown keys`);
      } else {
        // A map (upstreams): any name matching the pattern, each value checked by a closed schema.
        assert.equal(typeof s['additionalProperties'], 'object', `${ptr} is an open object`);
        assert.ok(s['propertyNames'], `${ptr}: map without a name pattern`);
      }
    }
    assert.ok(objects >= 10, `only ${objects} object schemas found`);
  });

  test('every default is valid against its own subschema', () => {
    let n = 0;
    for (const [ptr, s] of subschemas(schema)) {
      if (!('default' in s)) continue;
      n++;
      assert.deepEqual(validate(s, s['default']), [], `${ptr}: default ${JSON.stringify(s['default'])}`);
    }
    assert.ok(n > 10);
  });

  test('describes what users write: configs the loader accepts are valid, misspelt keys are not', () => {
    const yaml = [
      'listen: { host: 127.0.0.1, port: 8080 }',
      'admin: { host: 127.0.0.1, port: 9901, token: secret }',
      'server: { maxBodySize: 10MB, trustedProxies: [127.10.0.1] }',
      'errors: { expose: false }',
      'upstreams:',
      '  orders:',
      '    targets: [{ url: "http://127.0.0.1:9001", weight: 1 }]',
      '    balance: round-robin',
      '    timeouts: { connect: 1s, send: 5s, read: 10s, total: 15s }',
      '    pool: { maxConnections: 128, queueTimeout: 500ms, maxQueue: 1000, idleTimeout: 4s }',
      '    retries: { attempts: 2, on: [connect-failure, stale-connection, 503], backoff: 25ms..250ms, budget: 20% }',
      'routes:',
      '  - name: orders',
      '    match: { path: /api/orders/*, methods: [GET, POST], host: api.example.com }',
      '    upstream: orders',
      '    stripPrefix: /api',
      '    timeouts: { read: 30s }',
      '    retries: { attempts: 1 }',
    ].join('\n');
    assert.doesNotThrow(() => parseConfig(yaml, 'ok.yaml', {}));
    assert.deepEqual(validate(schema, parseYaml(yaml)), []);

    const misspelt = yaml.replace('connect: 1s', 'conect: 1s');
    assert.deepEqual(validate(schema, parseYaml(misspelt)), ['/upstreams/orders/timeouts: unknown key conect']);
    const badEnum = yaml.replace('balance: round-robin', 'balance: round-robbin');
    assert.equal(validate(schema, parseYaml(badEnum)).length, 1);
    const noUnit = yaml.replace('read: 30s', 'read: 30');
    assert.equal(validate(schema, parseYaml(noUnit)).length, 1);
  });
});

test('the committed schema/causeway.schema.json is configJsonSchema(), as scripts/gen-schema.mjs writes it', () => {
  const file = new URL('../../../schema/causeway.schema.json', import.meta.url);
  const text = readFileSync(file, 'utf8');
  const hint = 'schema/causeway.schema.json is stale: run `npx tsc -p . && node scripts/gen-schema.mjs`';
  assert.deepEqual(JSON.parse(text), schema, hint);
  assert.equal(text, JSON.stringify(schema, null, 2) + '\n', hint);
});
