/**
 * Reading a config file: YAML with line tracking, ${ENV} substitution on scalar values,
 * validation against the schema, and cross-reference checks. Every problem is reported with
 * the file, the line and the path in the document, plus a "did you mean" where one fits.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, Scalar, parseDocument, isMap, isSeq, isScalar, isPair, visit, type Node, type Document } from 'yaml';
import type { $ZodIssue } from 'zod/v4/core';
import { HEADER_VARIABLES, configJsonSchema, configSchema, type Config } from './schema.js';
import { didYouMean } from './suggest.js';
import { isLoopback } from '../admin/auth.js';

export type PathSegment = string | number;

export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted path in the document, e.g. `upstreams.orders.timeouts.read`. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** `file:line:col path: message` — the shape every config error is printed in. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column} ${p.path || '(document)'}: ${p.message}`;
}

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}

type Env = Record<string, string | undefined>;

/** Reads and validates a config file; throws ConfigError with every problem found. */
export function loadConfigFile(file: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError([{ file, line: 0, column: 0, path: '', message: `cannot read the config file (${e.code ?? e.message})` }]);
  }
  const config = parseConfig(text, file, env);
  // A file the config names lives next to it, whatever directory the gateway (or explain) runs from.
  const st = config.storage;
  if (st.enabled && st.path !== ':memory:' && !isAbsolute(st.path)) st.path = resolve(dirname(file), st.path);
  return config;
}

/** Validates config text; `file` is only used to label errors. */
export function parseConfig(text: string, file = '<config>', env: Env = process.env): Config {
  const lineCounter = new LineCounter();
  const refs: string[] = [];
  const doc = parseDocument(maskEnv(text, refs), { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    const pos = offset === undefined ? { line: 0, col: 0 } : lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  const problems: ConfigProblem[] = [];
  for (const e of doc.errors) problems.push({ file, ...at(e.pos[0]), path: '', message: `YAML syntax: ${unmaskEnv(e.message.split('\n')[0]!, refs)}` });
  if (problems.length) throw new ConfigError(problems);

  substituteEnv(doc, env, refs, (node, message) => problems.push({ file, ...at(node.range?.[0]), path: '', message }));
  if (problems.length) throw new ConfigError(problems);

  const raw = doc.toJS() ?? {};
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(...describeIssue(issue, doc, file, at));
    for (const p of routeReferences(raw)) {
      const path = formatPath(p.path);
      if (!problems.some((q) => q.path === path)) problems.push({ file, ...at(locate(doc, p.path)?.range?.[0]), path, message: p.message });
    }
    problems.sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ConfigError(problems);
  }
  const config = result.data;
  for (const p of crossCheck(config)) {
    const node = locate(doc, p.path);
    problems.push({ file, ...at(node?.range?.[0]), path: formatPath(p.path), message: p.message });
  }
  if (problems.length) throw new ConfigError(problems);
  WRITTEN.set(config, writtenPaths(raw));
  return config;
}

/** The paths each parsed config's document wrote (lint names a key the file has, or says it is a default). */
const WRITTEN = new WeakMap<Config, ReadonlySet<string>>();

function writtenPaths(raw: unknown): ReadonlySet<string> {
  const out = new Set<string>();
  const walk = (v: unknown, path: string) => {
    if (path) out.add(path);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
  };
  walk(raw, '');
  return out;
}

/** Whether the config's file wrote the key at `path` (`routes[1].timeouts.read`); undefined for a config not parsed from text. */
export function isWritten(config: Config, path: string): boolean | undefined {
  return WRITTEN.get(config)?.has(path);
}

const ENV_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const MASK_RE = /\uE000([\uE100-\uF0FF])([\uE100-\uF0FF])\uE001*/g;

/**
 * Hides each ${...} reference from the YAML parser behind private-use characters of the same
 * length: `{ port: ${PORT} }` then parses (the braces would end a plain scalar inside a flow
 * collection), and offsets, so lines and columns, stay exact. `refs` receives the originals.
 */
function maskEnv(text: string, refs: string[]): string {
  return text.replace(ENV_RE, (ref) => {
    const i = refs.push(ref) - 1;
    return '\uE000' + String.fromCharCode(0xe100 + (i >> 12), 0xe100 + (i & 0xfff)) + '\uE001'.repeat(ref.length - 3);
  });
}

function unmaskEnv(text: string, refs: readonly string[]): string {
  if (!text.includes('\uE000')) return text;
  return text.replace(MASK_RE, (m, hi: string, lo: string) => refs[((hi.charCodeAt(0) - 0xe100) << 12) | (lo.charCodeAt(0) - 0xe100)] ?? m);
}

/** Names of per-request variables (`headers:` values): they are left in place for the policy to fill. */
const REQUEST_VARIABLES: ReadonlySet<string> = new Set(HEADER_VARIABLES);

/**
 * Replaces ${NAME} and ${NAME:-default} inside scalar values. Substitution happens after
 * parsing, so a variable can never inject YAML structure, and lines stay exact. A plain
 * (unquoted) value that is a single reference takes the type its text has (`${PORT}` becomes
 * a number); a quoted one stays a string. The per-request variables (${consumer}, ...) are
 * not environment variables and stay as written.
 */
function substituteEnv(doc: Document, env: Env, refs: readonly string[], fail: (node: Node, message: string) => void): void {
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string') return;
      const original = unmaskEnv(node.value, refs);
      if (!original.includes('${')) return;
      const whole = node.type === Scalar.PLAIN && /^\$\{[^}]+\}$/.test(original);
      const replaced = original.replace(ENV_RE, (m, name: string, fallback: string | undefined) => {
        if (fallback === undefined && REQUEST_VARIABLES.has(name)) return m;
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (fallback !== undefined) return fallback;
        fail(node, `environment variable ${name} is not set (write \${${name}:-default} to give a default)`);
        return '';
      });
      node.value = whole ? coerceScalar(replaced) : replaced;
    },
  });
}

function coerceScalar(text: string): string | number | boolean {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  return text;
}

/** Finds the YAML node at a path; for a missing key, the deepest existing parent. */
function locate(doc: Document, path: readonly PathSegment[]): Node | undefined {
  let node: unknown = doc.contents;
  let found = node as Node | undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
      if (!pair) return found;
      found = (pair.value as Node) ?? (pair.key as Node);
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) return found;
      found = item;
      node = item;
    } else {
      return found;
    }
  }
  return found;
}

/** The key node of `key` inside the map at `path` (to point at a misspelt key itself). */
function locateKey(doc: Document, path: readonly PathSegment[], key: string): Node | undefined {
  const parent = locate(doc, path);
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
    if (pair) return pair.key as Node;
  }
  return parent;
}

let keyIndex: Map<string, string[]> | undefined;

/** Known keys of the object at a path, read from the JSON Schema (so there is one source). */
function knownKeysAt(path: readonly PathSegment[]): string[] {
  keyIndex ??= new Map();
  const cacheKey = path.map((s) => (typeof s === 'number' ? '#' : s)).join('\u0000');
  const cached = keyIndex.get(cacheKey);
  if (cached) return cached;
  let schema: Record<string, unknown> | undefined = configJsonSchema();
  for (const seg of path) {
    if (!schema) break;
    schema = stepSchema(schema, seg);
  }
  const keys = schema ? propertyNames(schema) : [];
  keyIndex.set(cacheKey, keys);
  return keys;
}

/** Property names of an object schema, or of every shape of a union. */
function propertyNames(schema: Record<string, unknown>): string[] {
  const props = schema['properties'] as Record<string, unknown> | undefined;
  if (props) return Object.keys(props);
  const alts = (schema['anyOf'] ?? schema['oneOf']) as Record<string, unknown>[] | undefined;
  return alts ? [...new Set(alts.flatMap(propertyNames))] : [];
}

function stepSchema(schema: Record<string, unknown>, seg: PathSegment): Record<string, unknown> | undefined {
  const props = schema['properties'] as Record<string, Record<string, unknown>> | undefined;
  if (typeof seg === 'string' && props?.[seg]) return props[seg];
  if (typeof seg === 'number' && schema['items']) return schema['items'] as Record<string, unknown>;
  const extra = schema['additionalProperties'];
  if (typeof seg === 'string' && extra && typeof extra === 'object') return extra as Record<string, unknown>;
  for (const alt of ['anyOf', 'oneOf', 'allOf']) {
    const list = schema[alt] as Record<string, unknown>[] | undefined;
    for (const s of list ?? []) {
      const next = stepSchema(s, seg);
      if (next) return next;
    }
  }
  return undefined;
}

type At = (offset: number | undefined) => { line: number; column: number };

function describeIssue(issue: $ZodIssue, doc: Document, file: string, at: At): ConfigProblem[] {
  const path = issue.path as PathSegment[];
  if (issue.code === 'invalid_union' && issue.errors.length) return describeUnion(issue.errors, path, doc, file, at);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(path);
    return issue.keys.map((key) => {
      const hint = didYouMean(key, known);
      const message = `unknown key "${key}"${hint ? ` — did you mean "${hint}"?` : known.length ? ` (known keys: ${known.join(', ')})` : ''}`;
      return { file, ...at(locateKey(doc, path, key)?.range?.[0]), path: formatPath([...path, key]), message };
    });
  }
  const node = locate(doc, path);
  let message = issue.message;
  if (issue.code === 'invalid_type' && node === locate(doc, path.slice(0, -1)) && path.length) {
    message = `missing required key "${String(path[path.length - 1])}"`;
  } else if (issue.code === 'invalid_value' && 'values' in issue) {
    const got = String(lookupValue(doc, path));
    const hint = didYouMean(got, issue.values.map(String));
    message = `"${got}" is not one of ${issue.values.map(String).join(', ')}${hint ? ` — did you mean "${hint}"?` : ''}`;
  }
  return [{ file, ...at(node?.range?.[0]), path: formatPath(path), message }];
}

/**
 * A value that must take one of several shapes (`fallback: { staleFor } | { response }`). A key
 * no shape knows is reported with a suggestion from all of them; otherwise the problems of the
 * shape that came closest (fewest problems) are reported.
 */
function describeUnion(branches: $ZodIssue[][], path: PathSegment[], doc: Document, file: string, at: At): ConfigProblem[] {
  const known = branches.map((b) => b.filter((i) => i.code === 'unrecognized_keys' && i.path.length === 0));
  const everywhere = known.every((k) => k.length > 0);
  if (everywhere) {
    const unknown = new Set(known.flatMap((k) => k.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys : []))));
    const candidates = knownKeysAt(path);
    return [...unknown].map((key) => {
      const hint = didYouMean(key, candidates);
      const message = `unknown key "${key}"${hint ? ` — did you mean "${hint}"?` : candidates.length ? ` (expected one of: ${candidates.join(', ')})` : ''}`;
      return { file, ...at(locateKey(doc, path, key)?.range?.[0]), path: formatPath([...path, key]), message };
    });
  }
  const best = branches.reduce((a, b) => (b.length < a.length ? b : a));
  return best.flatMap((i) => describeIssue({ ...i, path: [...path, ...i.path] } as $ZodIssue, doc, file, at));
}

function lookupValue(doc: Document, path: readonly PathSegment[]): unknown {
  const node = locate(doc, path);
  return isScalar(node) ? node.value : undefined;
}

/**
 * Routes' references to upstreams, and unique route names. Loose about shapes, so that a document
 * the schema rejects still gets these reported with its other problems, all at once.
 */
function routeReferences(raw: unknown): { path: PathSegment[]; message: string }[] {
  const out: { path: PathSegment[]; message: string }[] = [];
  const doc = (raw ?? {}) as { upstreams?: unknown; routes?: unknown };
  if (!Array.isArray(doc.routes) || !doc.upstreams || typeof doc.upstreams !== 'object') return out;
  const upstreamNames = Object.keys(doc.upstreams);
  const seen = new Map<string, number>();
  doc.routes.forEach((r: unknown, i) => {
    const { upstream, name } = (r ?? {}) as { upstream?: unknown; name?: unknown };
    if (typeof upstream === 'string' && !upstreamNames.includes(upstream)) {
      const hint = didYouMean(upstream, upstreamNames);
      out.push({
        path: ['routes', i, 'upstream'],
        message: `no upstream named "${upstream}"${hint ? ` — did you mean "${hint}"?` : upstreamNames.length ? ` (upstreams: ${upstreamNames.join(', ')})` : ''}`,
      });
    }
    if (typeof name !== 'string') return;
    const prev = seen.get(name);
    if (prev !== undefined) out.push({ path: ['routes', i, 'name'], message: `route name "${name}" is already used by routes[${prev}]` });
    else seen.set(name, i);
  });
  return out;
}

/** Checks that reach across the document: references and uniqueness. */
function crossCheck(config: Config): { path: PathSegment[]; message: string }[] {
  const out: { path: PathSegment[]; message: string }[] = [];
  if (config.admin && !config.admin.token && !isLoopback(config.admin.host)) {
    out.push({
      path: ['admin', 'host'],
      message: `the admin API on ${config.admin.host} would be reachable from other machines without a token — set admin.token (e.g. token: \${CAUSEWAY_ADMIN_TOKEN}) or bind admin.host to 127.0.0.1`,
    });
  }
  if (config.workers !== 1 && config.storage.enabled && config.storage.path === ':memory:') {
    out.push({
      path: ['storage', 'path'],
      message: `workers: ${config.workers} runs several processes, and an in-memory call log (:memory:) cannot be shared by them — give storage.path a file (e.g. ./data/causeway.db), set storage.enabled: false, or use workers: 1`,
    });
  }
  out.push(...routeReferences(config));
  config.routes.forEach((r, i) => out.push(...crossCheckPolicies(config, r, i)));
  return out;
}

/** The new route policies' references: jwt issuers, scopes, the split's upstream. */
function crossCheckPolicies(config: Config, r: Config['routes'][number], i: number): { path: PathSegment[]; message: string }[] {
  const out: { path: PathSegment[]; message: string }[] = [];
  const jwt = r.auth?.includes('jwt') ?? false;
  if (jwt && !config.jwt) out.push({ path: ['routes', i, 'auth'], message: 'auth: [jwt] needs issuers to trust — add jwt: { issuers: [{ issuer, audience, jwksUrl, algorithms }] } at the top level' });
  if (r.scopes && !jwt) out.push({ path: ['routes', i, 'scopes'], message: 'scopes are read from a JWT — add jwt to the route\'s auth' });
  if (r.split) {
    const names = Object.keys(config.upstreams);
    if (!config.upstreams[r.split.upstream]) {
      const hint = didYouMean(r.split.upstream, names);
      out.push({ path: ['routes', i, 'split', 'upstream'], message: `no upstream named "${r.split.upstream}"${hint ? ` — did you mean "${hint}"?` : ` (upstreams: ${names.join(', ')})`}` });
    } else if (r.split.upstream === r.upstream) {
      out.push({ path: ['routes', i, 'split', 'upstream'], message: `the split goes to ${r.upstream}, the route's own upstream — name a second upstream (the canary)` });
    }
  }
  return out;
}
