/**
 * The one path policy. A request path is decoded and normalised once, before routing; routing,
 * every policy and the backend all see that one form, so no spelling of a path can be routed as
 * one thing and served as another. Whatever a backend might decode differently from the
 * gateway is refused (400) unless the route explicitly lets it through:
 *
 * - percent-escapes of unreserved characters (`%2e`, `%41`) are decoded, others kept in
 *   upper-case hex; `.` and `..` segments are resolved (RFC 3986 5.2.4, 6.2.2); `//` is merged;
 * - always refused: invalid escapes (`%zz`, `%4`), double encoding (`%25` + two hex digits),
 *   encoded control characters, raw backslashes and non-ASCII bytes, escaped bytes that are not
 *   valid UTF-8 (overlong forms such as `%c0%ae`), characters whose compatibility form is a
 *   separator or a dot (full-width `．` `／` `＼`), dot segments with path parameters (`..;x`)
 *   or trailing encoded blanks (`..%20`), and paths that climb above the root;
 * - refused unless the route allows them: escaped separators `%2F` `%5C` (`escapedSlashes`)
 *   and `;parameters` in a segment (`pathParameters`).
 */

/** What a route does with `%2F` and `%5C`, after Envoy's path_with_escaped_slashes_action. */
export const ESCAPED_SLASH_ACTIONS = ['reject', 'keep', 'decode'] as const;
export type EscapedSlashAction = (typeof ESCAPED_SLASH_ACTIONS)[number];
/** What a route does with `;parameters` in path segments (Tomcat, Jetty and Spring strip them). */
export const PATH_PARAMETER_ACTIONS = ['reject', 'keep'] as const;
export type PathParameterAction = (typeof PATH_PARAMETER_ACTIONS)[number];

export interface NormalPath {
  /** The path routing and policies see and the backend receives. */
  path: string;
  /** The path holds `%2F` or `%5C`. */
  escapedSlash: boolean;
  /** A segment holds `;` (path parameters). */
  parameters: boolean;
}

export type PathResult = NormalPath | { refused: string };

/** Anything that needs more than a look: escapes, dots, backslashes, parameters, doubled slashes, non-ASCII. */
const NEEDS_WORK = /[%.\\;]|\/\/|[^\x21-\x7e]/;
const HEX = /^[0-9a-fA-F]{2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isUnreserved(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

const hex2 = (b: number) => '%' + b.toString(16).toUpperCase().padStart(2, '0');

/** A decoded character that some backend's Unicode normalisation turns into path syntax. */
function lookalike(s: string): boolean {
  for (const ch of s) {
    if (ch.charCodeAt(0) < 0x80) continue;
    if (/[./\\;%?#:]/.test(ch.normalize('NFKC'))) return true;
  }
  return false;
}

/** Normalises a request path (without its query); `raw` starts with '/'. */
export function normalizeRequestPath(raw: string): PathResult {
  if (!NEEDS_WORK.test(raw)) return { path: raw, escapedSlash: false, parameters: false };
  let out = '';
  let escapedSlash = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x5c) return { refused: 'the path has a backslash (some backends read it as /)' };
    if (c <= 0x20 || c >= 0x7f) return { refused: 'the path has characters that must be percent-encoded' };
    if (c !== 0x25) {
      out += raw[i];
      continue;
    }
    const h = raw.slice(i + 1, i + 3);
    if (!HEX.test(h)) return { refused: 'the path has an invalid percent-encoding' };
    const b = parseInt(h, 16);
    i += 2;
    if (isUnreserved(b)) out += String.fromCharCode(b);
    else if (b < 0x20 || b === 0x7f) return { refused: 'the path has an encoded control character' };
    else if (b === 0x2f || b === 0x5c) {
      escapedSlash = true;
      out += hex2(b);
    } else if (b < 0x80) out += hex2(b);
    else {
      // A run of escaped non-ASCII bytes: it must be UTF-8 in its shortest form, and nothing a
      // backend's Unicode normalisation could turn into a dot or a separator.
      const bytes = [b];
      while (raw.charCodeAt(i + 1) === 0x25 && HEX.test(raw.slice(i + 2, i + 4))) {
        const next = parseInt(raw.slice(i + 2, i + 4), 16);
        if (next < 0x80) break;
        bytes.push(next);
        i += 3;
      }
      let text: string;
      try {
        text = utf8.decode(Uint8Array.from(bytes));
      } catch {
        return { refused: 'the path has escaped bytes that are not valid UTF-8 (an overlong or broken sequence)' };
      }
      if (lookalike(text)) return { refused: 'the path has a character some backends read as a dot or a separator (a full-width form)' };
      out += bytes.map(hex2).join('');
    }
  }
  // Checked on the result, so that `%25%32%65` (which becomes %252e) is caught as well as `%252e`.
  if (/%25[0-9A-F]{2}/i.test(out)) return { refused: 'the path is percent-encoded twice (%25 followed by an escape)' };
  return resolveSegments(out, escapedSlash);
}

/** Merges `//`, resolves dot segments, and looks at path parameters. */
function resolveSegments(path: string, escapedSlash: boolean): PathResult {
  const parts = path.split('/');
  const kept: string[] = [];
  let parameters = false;
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i]!;
    const last = i === parts.length - 1;
    if (seg.includes(';')) parameters = true;
    // An escaped ';' too: a backend that strips parameters after decoding reads `..%3B` as `..`.
    const bare = seg.split(/;|%3B/)[0];
    if (bare !== seg && (bare === '.' || bare === '..')) return { refused: 'the path has a dot segment with path parameters (..;), which some backends resolve as ..' };
    if (/^\.\.?(%20|%09)+$/i.test(seg)) return { refused: 'the path has a dot segment with trailing blanks, which some backends resolve as ..' };
    if (seg === '' && !last) continue;
    if (seg === '.' || seg === '..') {
      if (seg === '..') {
        if (kept.length === 0) return { refused: 'the path climbs above the root' };
        kept.pop();
      }
      if (last) kept.push('');
      continue;
    }
    kept.push(seg);
  }
  return { path: '/' + kept.join('/'), escapedSlash, parameters };
}

export type PathDecision = { path: string } | { refused: string };

/**
 * What a route does with a path that holds escaped separators or parameters. `decode` turns
 * `%2F` and `%5C` into `/` and normalises again; the result must be matched by the same route
 * (`sameRoute`), or one route's policy would be applied to another route's path.
 */
export function applyRoutePathPolicy(
  n: NormalPath,
  route: { escapedSlashes: EscapedSlashAction; pathParameters: PathParameterAction; name: string },
  sameRoute: (path: string) => boolean,
): PathDecision {
  if (n.parameters && route.pathParameters === 'reject') {
    return { refused: `route ${route.name} does not accept path parameters (;) — set pathParameters: keep to pass them on` };
  }
  if (!n.escapedSlash || route.escapedSlashes === 'keep') return { path: n.path };
  if (route.escapedSlashes === 'reject') {
    return { refused: `the path has an escaped separator (%2F or %5C), which route ${route.name} refuses — set escapedSlashes: keep or decode to pass it on` };
  }
  const again = resolveSegments(n.path.replace(/%2F|%5C/g, '/'), false);
  if ('refused' in again) return again;
  if (!sameRoute(again.path)) return { refused: `the path with its escaped separators decoded is no longer route ${route.name}'s` };
  return { path: again.path };
}

/**
 * The host name a request is for, as routing compares it: lower case, without the port and
 * without the trailing dot of a fully qualified name. Null when the Host header is not a host
 * name or address at all.
 */
export function normalizeHost(host: string | undefined): string | null {
  if (host === undefined || host === '') return '';
  let name = host;
  if (name.startsWith('[')) {
    const end = name.indexOf(']');
    if (end === -1 || !/^(:\d{1,5})?$/.test(name.slice(end + 1))) return null;
    name = name.slice(0, end + 1);
    return /^\[[0-9a-fA-F:.]+\]$/.test(name) ? name.toLowerCase() : null;
  }
  const colon = name.indexOf(':');
  if (colon !== -1) {
    if (!/^\d{1,5}$/.test(name.slice(colon + 1))) return null;
    name = name.slice(0, colon);
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(name)) return null;
  return name.toLowerCase();
}
