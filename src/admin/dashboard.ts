/**
 * The web dashboard's files, built by Vite into dist/web (`npm run build`), served as they are.
 * They hold no data: the page reads the admin API, so serving them needs no token.
 */
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Causeway</title>
<p>The dashboard is not built. Run <code>npm run build</code> (tsc, then vite build into dist/web).
The admin API works without it: <a href="/api/openapi.json">/api/openapi.json</a>.</p>`;

/** Answers GET / and the built assets; returns false when the path is not a dashboard file. */
export async function serveDashboard(pathname: string, res: ServerResponse): Promise<boolean> {
  const rel = pathname === '/' ? 'index.html' : pathname.slice(1);
  const file = resolve(ROOT, rel);
  if (!file.startsWith(ROOT.endsWith(sep) ? ROOT : ROOT + sep)) return false;
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    if (pathname !== '/') return false;
    res.writeHead(200, { 'content-type': TYPES['.html']!, 'cache-control': 'no-store' });
    res.end(NOT_BUILT);
    return true;
  }
  // Vite fingerprints asset names, so they can be cached for good; index.html must not be.
  const immutable = rel.startsWith('assets/');
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
  return true;
}
