/**
 * Route matching: path patterns (exact `/a/b`, named parameters `/users/:id`, prefix `/api/*`),
 * methods and host (`api.example.com` or `*.example.com`). The most specific route wins:
 * a host-bound route over a host-less one, then exact over parameterised over prefix paths,
 * longer literal prefixes over shorter, method-bound over any-method; config order breaks ties.
 */

export interface RouteSpec {
  name: string;
  path: string;
  methods?: readonly string[] | undefined;
  host?: string | undefined;
}

export interface RouteMatch<T> {
  route: T;
  params: Record<string, string>;
}

export type RouteMiss = { kind: 'none' } | { kind: 'method'; allowed: string[]; route: string };

type Segment = { literal: string } | { param: string };

interface Compiled<T> {
  value: T;
  spec: RouteSpec;
  segments: Segment[];
  prefix: boolean;
  methods: Set<string> | null;
  host: { exact: string } | { suffix: string } | null;
  score: number[];
  order: number;
}

function compile<T>(value: T, spec: RouteSpec, order: number): Compiled<T> {
  let path = spec.path;
  let prefix = false;
  if (path.endsWith('/*')) {
    prefix = true;
    path = path.slice(0, -2);
  } else if (path === '*') {
    prefix = true;
    path = '';
  }
  const segments: Segment[] = path
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => (s.startsWith(':') ? { param: s.slice(1) } : { literal: s }));
  // Compared with normalizeHost's form: lower case, no trailing dot.
  const h = spec.host?.toLowerCase().replace(/\.$/, '');
  const host = h ? (h.startsWith('*.') ? { suffix: h.slice(1) } : { exact: h }) : null;
  const literals = segments.filter((s) => 'literal' in s).length;
  const score = [
    host ? ('exact' in host ? 2 : 1) : 0,
    prefix ? 0 : segments.some((s) => 'param' in s) ? 1 : 2,
    segments.length,
    literals,
    spec.methods?.length ? 1 : 0,
  ];
  return { value, spec, segments, prefix, methods: spec.methods?.length ? new Set(spec.methods) : null, host, score, order };
}

function compareScore(a: Compiled<unknown>, b: Compiled<unknown>): number {
  for (let i = 0; i < a.score.length; i++) if (a.score[i] !== b.score[i]) return b.score[i]! - a.score[i]!;
  return a.order - b.order;
}

export class Router<T> {
  private readonly routes: Compiled<T>[];

  constructor(entries: ReadonlyArray<{ spec: RouteSpec; value: T }>) {
    this.routes = entries.map((e, i) => compile(e.value, e.spec, i)).sort(compareScore);
  }

  /**
   * Finds the route for a request, or says why none matched. `path` excludes the query and is
   * normalised (src/routing/path.ts); `hostname` is normalizeHost's form ('' without a Host).
   */
  match(method: string, path: string, hostname: string): RouteMatch<T> | RouteMiss {
    const parts = path.split('/').filter((s) => s.length > 0);
    let methodMiss: Compiled<T> | null = null;
    // Every method some route takes at this path: the Allow header of a 405.
    const allowed = new Set<string>();
    for (const r of this.routes) {
      if (r.host && !hostMatches(r.host, hostname)) continue;
      const params = matchPath(r, parts);
      if (!params) continue;
      if (r.methods && !r.methods.has(method) && !(method === 'HEAD' && r.methods.has('GET'))) {
        methodMiss ??= r;
        for (const m of r.methods) allowed.add(m);
        if (r.methods.has('GET')) allowed.add('HEAD');
        continue;
      }
      return { route: r.value, params };
    }
    if (methodMiss) return { kind: 'method', allowed: [...allowed], route: methodMiss.spec.name };
    return { kind: 'none' };
  }
}

function matchPath(r: Compiled<unknown>, parts: string[]): Record<string, string> | null {
  const segs = r.segments;
  if (r.prefix ? parts.length < segs.length : parts.length !== segs.length) return null;
  let params: Record<string, string> | null = null;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if ('literal' in s) {
      if (s.literal !== parts[i]) return null;
    } else {
      params ??= {};
      params[s.param] = safeDecode(parts[i]!);
    }
  }
  return params ?? EMPTY;
}

const EMPTY: Record<string, string> = Object.freeze({}) as Record<string, string>;

function hostMatches(h: { exact: string } | { suffix: string }, hostname: string): boolean {
  return 'exact' in h ? h.exact === hostname : hostname.endsWith(h.suffix) && hostname.length > h.suffix.length;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Removes `prefix` from the start of `path` at a segment boundary; the result starts with '/'. */
export function stripPathPrefix(path: string, prefix: string): string {
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (!p) return path;
  if (path === p) return '/';
  if (path.startsWith(p) && path[p.length] === '/') return path.slice(p.length);
  return path;
}
