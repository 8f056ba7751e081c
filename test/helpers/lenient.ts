/** A model of the most lenient backends' path decoding, for bypass tests. */

/** How the most lenient backends read a path: what it resolves to for them. */
export function lenientResolve(raw: string): string {
  let p = raw
    .replace(/%c0%ae|%e0%80%ae|%f0%80%80%ae/gi, '.')
    .replace(/%c0%af|%e0%80%af/gi, '/')
    .replace(/%c1%9c/gi, '\\');
  for (let i = 0; i < 3; i++) {
    try {
      const d = decodeURIComponent(p);
      if (d === p) break;
      p = d;
    } catch {
      break;
    }
  }
  p = p.normalize('NFKC').replace(/\\/g, '/').replace(/\u2024/g, '.');
  const out: string[] = [];
  for (const rawSeg of p.split('/')) {
    const seg = rawSeg.split(';')[0]!.replace(/[ \t]+$/, '');
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}
